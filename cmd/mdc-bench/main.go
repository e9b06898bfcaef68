// Command mdc-bench runs mdc's scenario benchmark (package bench): it
// prints one table and writes the same figures as JSON. `make bench` runs
// it; `mdc-bench -list` names the scenarios.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/microdc/mdc/bench"
)

func main() {
	var (
		o         bench.Options
		scenarios string
		bases     string
		out       string
		list      bool
	)
	flag.IntVar(&o.Runs, "runs", 3, "runs per figure (each figure is the median, with min and max, of this many)")
	flag.StringVar(&scenarios, "scenarios", "", "comma-separated scenarios to run (default: all; see -list)")
	flag.StringVar(&bases, "bases", joinInts(bench.DefaultBases), "lab address plans to rotate through (site i of base b on 127.(b+i).0.0/16)")
	flag.StringVar(&o.MDC, "mdc", "bin/mdc", "the mdc binary whose footprint is measured")
	flag.StringVar(&o.Root, "root", ".", "the module's root (go test runs there)")
	flag.StringVar(&out, "out", "bench/results.json", "where the figures are written as JSON")
	flag.StringVar(&o.WorkDir, "workdir", "", "state and logs of the stacks (default: a temporary directory)")
	flag.BoolVar(&o.Keep, "keep", false, "keep the work directory (stack logs) after the run")
	flag.StringVar(&o.Label, "label", "", "what to call this machine in the results, e.g. \"2 shared cores\"")
	flag.BoolVar(&list, "list", false, "list the scenarios and exit")
	flag.Parse()
	if list {
		for _, s := range bench.Scenarios() {
			fmt.Printf("%-10s %s\n", s.Name, s.What)
		}
		return
	}
	if scenarios != "" {
		o.Scenarios = strings.Split(scenarios, ",")
	}
	for _, b := range strings.Split(bases, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(b))
		if err != nil || n < 1 || n > 250 {
			fail(fmt.Errorf("-bases: %q is not a lab base between 1 and 250", b))
		}
		o.Bases = append(o.Bases, n)
	}
	var err error
	if o.Root, err = filepath.Abs(o.Root); err != nil {
		fail(err)
	}
	if o.MDC, err = filepath.Abs(o.MDC); err != nil {
		fail(err)
	}
	o.Progress = os.Stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := bench.Run(ctx, o)
	if err != nil {
		fail(err)
	}
	res.PrintTable(os.Stdout)
	if err := res.WriteJSON(out); err != nil {
		fail(err)
	}
	fmt.Printf("\nfigures written to %s\n", out)
	if len(res.Failures) > 0 {
		os.Exit(1)
	}
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "mdc-bench:", err)
	os.Exit(2)
}
