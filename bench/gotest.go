package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"time"
)

// The trigger and SNMP scenarios reuse the measurements their packages
// keep next to the code (a scenario test and a testing.B benchmark), run
// with `go test` in the module root, so there is one implementation of
// each and the bench only collects its figures.

// goTest runs `go test args...` in the module root and returns its output.
func (e *env) goTest(ctx context.Context, timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", append([]string{"test"}, args...)...)
	cmd.Dir = e.opts.Root
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("go test %v: %w\n%s", args, err, tail(out.String(), 2000))
	}
	return out.String(), nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// throughputLine is what triggers' TestThroughputVsDirectClient logs.
var throughputLine = regexp.MustCompile(`signals/s: direct client ([0-9.]+), via JetStream trigger ([0-9.]+), ratio ([0-9.]+)`)

// runTrigger runs the trigger package's throughput test Runs times: each
// run starts embedded Temporal and NATS, sends 1,500 Autoscale load
// signals from a direct Temporal client, then publishes 1,500 node.load
// events and times the trigger draining them into the same signals.
func runTrigger(ctx context.Context, e *env, fs *Figures) error {
	const direct, via, ratio = "direct Temporal client, signals", "JetStream -> trigger -> signals", "ratio trigger / direct"
	fs.get(direct, "/s")
	fs.get(via, "/s")
	t, g := atLeast(0.9)
	fs.target(ratio, "x", "triggers.TestThroughputVsDirectClient: 1,500 signals each way, the trigger's default concurrency on both sides", t, g)
	out, err := e.goTest(ctx, 20*time.Minute, "-run", "^TestThroughputVsDirectClient$", "-count", strconv.Itoa(e.opts.Runs), "-v", "./triggers/")
	for _, m := range throughputLine.FindAllStringSubmatch(out, -1) {
		d, _ := strconv.ParseFloat(m[1], 64)
		v, _ := strconv.ParseFloat(m[2], 64)
		fs.add(direct, "/s", d)
		fs.add(via, "/s", v)
		fs.add(ratio, "x", v/d)
	}
	if err != nil {
		return err
	}
	if n := len(fs.get(ratio, "x").Samples); n != e.opts.Runs {
		return fmt.Errorf("found %d throughput lines in the test's output, want %d (has the log line changed?)\n%s", n, e.opts.Runs, tail(out, 2000))
	}
	e.progress("trigger: %d runs", e.opts.Runs)
	return nil
}

// pollRow is a row of activities/snmp's TestPollScenarios table: the
// setting, then the concurrent and sequential round times.
var pollRow = regexp.MustCompile(`(?m)^\s*(loopback, in-process agents|\S+ RTT \(relay\))\s+(\S+)\s+(\S+)\s+[0-9.]+x\s*$`)

// runSNMP runs activities/snmp's TestPollScenarios Runs times (one round
// per row each time): a round over 1,000 agents with the poller's defaults
// against a sequential poll of the same agents, on bare loopback and
// behind relays that add 1 ms and 5 ms of round-trip time.
func runSNMP(ctx context.Context, e *env, fs *Figures) error {
	out, err := e.goTest(ctx, 15*time.Minute, "-run", "^TestPollScenarios$", "-count", strconv.Itoa(e.opts.Runs), "-v",
		"./activities/snmp/", "-args", "-snmp.rounds=1")
	if err != nil {
		return err
	}
	rows := pollRow.FindAllStringSubmatch(out, -1)
	if len(rows) != 3*e.opts.Runs {
		return fmt.Errorf("found %d rows of TestPollScenarios' table, want %d (has its format changed?)\n%s", len(rows), 3*e.opts.Runs, tail(out, 2000))
	}
	for _, r := range rows {
		conc, err1 := time.ParseDuration(r[2])
		seq, err2 := time.ParseDuration(r[3])
		if err := errors.Join(err1, err2); err != nil {
			return fmt.Errorf("row %q: %w", r[0], err)
		}
		fs.add("1,000 agents, "+r[1]+": concurrent round", "ms", float64(conc)/1e6)
		fs.add("1,000 agents, "+r[1]+": sequential poll", "ms", float64(seq)/1e6)
		fs.add("1,000 agents, "+r[1]+": speed-up", "x", float64(seq)/float64(conc))
	}
	e.progress("snmp: %d runs", e.opts.Runs)
	return nil
}
