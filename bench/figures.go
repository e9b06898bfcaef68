package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Figure is one measured quantity: its samples over the runs, summarised
// as median, min and max, and the target it is held to, if any.
type Figure struct {
	// Scenario is the scenario that measured it; Name says what it is.
	Scenario string `json:"scenario"`
	Name     string `json:"name"`
	// Unit of the samples: "s", "ms", "MB", "x" (a ratio), "/s".
	Unit    string    `json:"unit"`
	Samples []float64 `json:"samples"`
	Median  float64   `json:"median"`
	Min     float64   `json:"min"`
	Max     float64   `json:"max"`
	// Target is the figure's goal, e.g. "<= 0.5"; Met says whether the
	// median meets it (nil without a target).
	Target string `json:"target,omitempty"`
	Met    *bool  `json:"met,omitempty"`
	// Note says how it was measured, or what limits it.
	Note string `json:"note,omitempty"`

	// goal checks Target against the median.
	goal func(float64) bool
}

// add records one sample.
func (f *Figure) add(v float64) { f.Samples = append(f.Samples, v) }

// summarise computes median, min and max and checks the target.
func (f *Figure) summarise() {
	if len(f.Samples) == 0 {
		return // n = 0: the table shows "-"
	}
	s := slices.Clone(f.Samples)
	slices.Sort(s)
	f.Min, f.Max = s[0], s[len(s)-1]
	if n := len(s); n%2 == 1 {
		f.Median = s[n/2]
	} else {
		f.Median = (s[n/2-1] + s[n/2]) / 2
	}
	if f.goal != nil {
		met := f.goal(f.Median)
		f.Met = &met
	}
}

// atMost and atLeast build a target.
func atMost(limit float64) (string, func(float64) bool) {
	return "<= " + trimFloat(limit), func(v float64) bool { return v <= limit }
}

func atLeast(limit float64) (string, func(float64) bool) {
	return ">= " + trimFloat(limit), func(v float64) bool { return v >= limit }
}

func trimFloat(v float64) string {
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), ".")
}

// Figures collects a scenario's figures in the order they are first named.
type Figures struct {
	scenario string
	list     []*Figure
	byName   map[string]*Figure
}

func newFigures(scenario string) *Figures {
	return &Figures{scenario: scenario, byName: map[string]*Figure{}}
}

// get returns the figure called name, creating it with unit.
func (fs *Figures) get(name, unit string) *Figure {
	if f, ok := fs.byName[name]; ok {
		return f
	}
	f := &Figure{Scenario: fs.scenario, Name: name, Unit: unit}
	fs.byName[name] = f
	fs.list = append(fs.list, f)
	return f
}

// add records a sample of the figure called name.
func (fs *Figures) add(name, unit string, v float64) { fs.get(name, unit).add(v) }

// seconds records a duration in seconds.
func (fs *Figures) seconds(name string, d time.Duration) { fs.add(name, "s", d.Seconds()) }

// target sets a figure's target (the target helpers above build one).
func (fs *Figures) target(name, unit, note string, target string, goal func(float64) bool) {
	f := fs.get(name, unit)
	f.Target, f.goal, f.Note = target, goal, note
}

// note sets a figure's note.
func (fs *Figures) note(name, unit, note string) { fs.get(name, unit).Note = note }

// Results is what a bench run produced: written as JSON, printed as a table.
type Results struct {
	Started  time.Time `json:"started"`
	Took     string    `json:"took"`
	Runs     int       `json:"runs"`
	Machine  Machine   `json:"machine"`
	Figures  []*Figure `json:"figures"`
	Failures []string  `json:"failures,omitempty"`
}

// Machine describes where the figures were measured.
type Machine struct {
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go"`
	OS        string `json:"os"`
	CPUModel  string `json:"cpu_model,omitempty"`
	// Label is what the person running the bench says about the machine
	// (e.g. "2 shared cores").
	Label string `json:"label,omitempty"`
}

func thisMachine(label string) Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH, Label: label}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// WriteJSON writes the results to path.
func (r *Results) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// PrintTable writes the one table: every figure with median, min, max,
// runs, target and whether the median meets it.
func (r *Results) PrintTable(w io.Writer) {
	nameW := len("figure")
	for _, f := range r.Figures {
		nameW = max(nameW, len(f.Scenario)+2+len(f.Name))
	}
	fmt.Fprintf(w, "mdc bench: %d runs per figure, %d CPUs (%s), %s; took %s\n\n", r.Runs, r.Machine.CPUs, r.Machine.Label, r.Machine.GoVersion, r.Took)
	fmt.Fprintf(w, "%-*s %10s %10s %10s %4s  %-6s %-10s %s\n", nameW, "figure", "median", "min", "max", "n", "unit", "target", "")
	fmt.Fprintln(w, strings.Repeat("-", nameW+66))
	last := ""
	for _, f := range r.Figures {
		if f.Scenario != last && last != "" {
			fmt.Fprintln(w)
		}
		last = f.Scenario
		met := ""
		if f.Met != nil {
			met = "met"
			if !*f.Met {
				met = "MISSED"
			}
		}
		med, lo, hi := num(f.Median), num(f.Min), num(f.Max)
		if len(f.Samples) == 0 {
			med, lo, hi = "-", "-", "-"
		}
		fmt.Fprintf(w, "%-*s %10s %10s %10s %4d  %-6s %-10s %s\n", nameW, f.Scenario+": "+f.Name, med, lo, hi, len(f.Samples), f.Unit, f.Target, met)
	}
	for _, f := range r.Figures {
		if f.Note != "" {
			fmt.Fprintf(w, "\n  %s: %s: %s", f.Scenario, f.Name, f.Note)
		}
	}
	fmt.Fprintln(w)
	for _, fail := range r.Failures {
		fmt.Fprintf(w, "\nFAILED: %s", fail)
	}
	if len(r.Failures) > 0 {
		fmt.Fprintln(w)
	}
}

func num(v float64) string {
	switch {
	case math.Abs(v) >= 1000:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}
