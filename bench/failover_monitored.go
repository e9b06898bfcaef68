package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/microdc/mdc/devstack"
	"github.com/microdc/mdc/events"
	"github.com/microdc/mdc/rto"
)

const (
	foMonKill     = "RTO, monitor-detected: kill -> verified"
	foMonRTO      = "  the workflow's RTO (first missed heartbeat -> verified)"
	foMonOverhead = "orchestration overhead = RTO - detection - raw"
)

// runFailoverMonitored is the failover nobody starts: the stack runs the
// monitors (uk, us and the witness) and the trigger as `mdc dev` does; uk
// is killed, the us monitor and the witness each miss the policy's
// heartbeats (1 s x 3) and vote site.down, and the trigger starts
// FailoverSite on their quorum. rto.Measure reads the votes from
// JetStream and the run from Temporal and breaks the RTO down by phase.
// The overhead pairs each run with the raw run of the same index.
func runFailoverMonitored(ctx context.Context, e *env, fs *Figures) error {
	raw := fs.get(foRaw, "s").Samples
	for i := range e.opts.Runs {
		b, sinceKill, window, err := failoverMonitoredOnce(ctx, e)
		if err != nil {
			return fmt.Errorf("monitored run %d: %w", i+1, err)
		}
		if i == 0 {
			t, g := atMost((window + 2*time.Second).Seconds())
			fs.target(foMonKill, "s", fmt.Sprintf("RTO <= detection window (%s) + 2 s, counted from the kill; phases from rto.Measure", window), t, g)
			fs.get(foMonRTO, "s")
			for _, p := range b.Phases() {
				fs.get("  phase "+p.Name, "s")
			}
			t, g = atMost(0.5)
			fs.target(foMonOverhead, "s", "detection: first missed heartbeat to the quorum's last vote (rto.Breakdown.Detection)", t, g)
		}
		fs.seconds(foMonKill, sinceKill)
		fs.seconds(foMonRTO, b.Total)
		for _, p := range b.Phases() {
			fs.seconds("  phase "+p.Name, p.Took)
		}
		if i < len(raw) {
			fs.add(foMonOverhead, "s", (b.Total-b.Detection).Seconds()-raw[i])
		}
		e.progress("failover: monitored run %d/%d: RTO %s (detection %s), kill -> verified %s", i+1, e.opts.Runs,
			b.Total.Round(time.Millisecond), b.Detection.Round(time.Millisecond), sinceKill.Round(time.Millisecond))
	}
	return nil
}

func failoverMonitoredOnce(ctx context.Context, e *env) (rto.Breakdown, time.Duration, time.Duration, error) {
	var b rto.Breakdown
	s, err := e.startStack(ctx, func(o *devstack.Options) { o.Monitors = true })
	if err != nil {
		return b, 0, 0, err
	}
	defer s.stop()
	pol := s.p.Failover
	interval := pol.DetectionInterval.Duration
	window := interval * time.Duration(pol.Misses)
	nc, err := nats.Connect(s.NATS.URL)
	if err != nil {
		return b, 0, 0, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return b, 0, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	// The monitors are watching once both sites' loads came in.
	for _, site := range []string{"uk", "us"} {
		if err := poll(ctx, time.Minute, 100*time.Millisecond, func() bool {
			st, err := js.Stream(ctx, events.Stream)
			if err != nil {
				return false
			}
			_, err = st.GetLastMsgForSubject(ctx, events.Subject(events.TypeNodeLoad, site))
			return err == nil
		}); err != nil {
			return b, 0, 0, fmt.Errorf("no node.load from the %s monitor: %w", site, err)
		}
	}
	if err := s.write(ctx, "uk"); err != nil {
		return b, 0, 0, err
	}
	// One heartbeat after the write, so the monitors sampled uk's GTID.
	time.Sleep(interval + 500*time.Millisecond)
	if err := s.Lab.KillSite(ctx, "uk"); err != nil {
		return b, 0, 0, err
	}
	killed := time.Now()
	const id = "failover-uk"
	if err := poll(ctx, time.Minute, 20*time.Millisecond, func() bool {
		_, err := s.Client.DescribeWorkflowExecution(ctx, id, "")
		return err == nil
	}); err != nil {
		return b, 0, 0, fmt.Errorf("the trigger never started %s: %w", id, err)
	}
	b, res, err := rto.Measure(ctx, s.Client, js, id, pol.ObserverQuorum)
	if err != nil {
		return b, 0, 0, err
	}
	if res.Verified.IsZero() {
		return b, 0, 0, fmt.Errorf("%s ended %s: %s", id, res.Status, res.Outcome)
	}
	return b, res.Verified.Sub(killed), window, nil
}
