package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// Options configure a bench run.
type Options struct {
	// Runs is how many times each scenario measures each figure.
	Runs int
	// Scenarios to run, by name; empty runs all of them in order.
	Scenarios []string
	// Bases are the lab address plans the scenarios' stacks rotate
	// through (lab.Plan.Base; each uses 127.base and 127.base+1), so that a
	// stack never starts on the addresses of the one just stopped.
	Bases []int
	// MDC is the mdc binary the footprint scenario starts.
	MDC string
	// Root is the module's root, where `go test` runs for the scenarios
	// that reuse a package's own benchmark or scenario test.
	Root string
	// WorkDir holds the stacks' state and logs; Keep leaves it in place.
	WorkDir string
	Keep    bool
	// Label describes the machine in the table and the JSON.
	Label string
	// Progress receives one line per step; nil is quiet.
	Progress io.Writer
}

// DefaultBases are lab plans no test package uses.
var DefaultBases = []int{135, 137, 139, 141, 143, 145}

// Scenario is one named scenario and the figures it measures.
type Scenario struct {
	Name string
	// What is a one-line description for -list.
	What string
	run  func(ctx context.Context, e *env, fs *Figures) error
}

// Scenarios lists every scenario in the order a full run takes them.
func Scenarios() []Scenario {
	return []Scenario{
		{"failover", "disaster failover in the lab: RTO by step, against the same actions made directly", runFailover},
		{"autoscale", "load crossing to the new node serving through HAProxy, minus the out window", runAutoscale},
		{"trigger", "events/s from JetStream into Temporal signals, against a direct client (triggers' own test)", runTrigger},
		{"provision", "ProvisionSite of 50 VMs against the same calls made in-process, and against lean govmomi calls", runProvision},
		{"snmp", "an SNMP round over 1,000 agents against a sequential poll, on loopback and at 1 and 5 ms RTT (activities/snmp's scenario test)", runSNMP},
		{"footprint", "idle RSS of `mdc dev` and of `mdc worker`", runFootprint},
		{"workflows", "lab run time of every workflow", runWorkflows},
	}
}

// env is what scenarios share: the options, the base rotation, progress.
type env struct {
	opts Options
	mu   sync.Mutex
	next int
}

func (e *env) nextBase() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	b := e.opts.Bases[e.next%len(e.opts.Bases)]
	e.next++
	return b
}

func (e *env) progress(format string, args ...any) {
	if e.opts.Progress != nil {
		fmt.Fprintf(e.opts.Progress, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
}

// Run runs the selected scenarios and returns their figures. A scenario
// that fails is reported in Results.Failures with the figures it measured
// so far; the others still run.
func Run(ctx context.Context, o Options) (*Results, error) {
	if o.Runs < 1 {
		return nil, fmt.Errorf("runs %d: measure each figure at least once", o.Runs)
	}
	if len(o.Bases) == 0 {
		o.Bases = DefaultBases
	}
	all := Scenarios()
	var known []string
	for _, s := range all {
		known = append(known, s.Name)
	}
	for _, name := range o.Scenarios {
		if !slices.Contains(known, name) {
			return nil, fmt.Errorf("unknown scenario %q: the scenarios are %s", name, strings.Join(known, ", "))
		}
	}
	if o.WorkDir == "" {
		dir, err := os.MkdirTemp("", "mdc-bench-")
		if err != nil {
			return nil, err
		}
		o.WorkDir = dir
	} else if err := os.MkdirAll(o.WorkDir, 0o755); err != nil {
		return nil, err
	}
	if !o.Keep {
		defer os.RemoveAll(o.WorkDir)
	}
	e := &env{opts: o}
	res := &Results{Started: time.Now().UTC(), Runs: o.Runs, Machine: thisMachine(o.Label)}
	for _, s := range all {
		if len(o.Scenarios) > 0 && !slices.Contains(o.Scenarios, s.Name) {
			continue
		}
		if ctx.Err() != nil {
			res.Failures = append(res.Failures, s.Name+": not run: "+ctx.Err().Error())
			continue
		}
		t0 := time.Now()
		e.progress("%s: %s", s.Name, s.What)
		fs := newFigures(s.Name)
		if err := s.run(ctx, e, fs); err != nil {
			res.Failures = append(res.Failures, fmt.Sprintf("%s: %v", s.Name, err))
			e.progress("%s: FAILED after %s: %v", s.Name, time.Since(t0).Round(time.Second), err)
		} else {
			e.progress("%s: done in %s", s.Name, time.Since(t0).Round(time.Second))
		}
		for _, f := range fs.list {
			f.summarise()
			res.Figures = append(res.Figures, f)
		}
	}
	res.Took = time.Since(res.Started).Round(time.Second).String()
	return res, nil
}
