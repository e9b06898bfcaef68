package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/microdc/mdc/devstack"
	"github.com/microdc/mdc/workflows"
)

// Figure names of the failover scenario, in table order.
const (
	foRTO      = "RTO, workflow started at the kill (no detection)"
	foStart    = "  kill -> first step (workflow start)"
	foRaw      = "raw: the same actions made directly"
	foOverhead = "orchestration overhead = RTO - raw"
)

// foSteps are the disaster failover's steps up to verification (RTO).
var foSteps = []string{"confirm", "anti-flap", "fence", "promote", "capacity", "switch LB", "switch DNS", "verify"}

// runFailover measures a disaster failover of uk to us, each run on a
// fresh lab: a write at uk, uk killed (every component at once), then
// FailoverSite (disaster) started at the kill, its RTO taken from the
// workflow's result (DetectedAt = the kill, to verification). Side by side,
// a second fresh lab takes the same actions made directly (rawSteps), and
// the difference is what orchestration costs.
func runFailover(ctx context.Context, e *env, fs *Figures) error {
	fs.target(foRTO, "s", "RTO <= detection window + 2 s: with the window excluded, <= 2 s", "<= 2", func(v float64) bool { return v <= 2 })
	fs.get(foStart, "s")
	for _, st := range foSteps {
		fs.get("  step "+st, "s")
	}
	fs.get(foRaw, "s")
	for _, st := range rawSteps {
		fs.get("  raw "+st, "s")
	}
	t, g := atMost(0.5)
	fs.target(foOverhead, "s", "", t, g)
	for i := range e.opts.Runs {
		wf, err := failoverByWorkflow(ctx, e)
		if err != nil {
			return fmt.Errorf("run %d, workflow: %w", i+1, err)
		}
		fs.seconds(foRTO, wf.RTO)
		if len(wf.Progress.Steps) > 0 {
			fs.seconds(foStart, wf.Progress.Steps[0].Started.Sub(wf.RTOFrom))
		}
		for _, st := range wf.Progress.Steps {
			fs.seconds("  step "+st.Name, st.Took)
		}
		raw, total, err := failoverRaw(ctx, e)
		if err != nil {
			return fmt.Errorf("run %d, raw: %w", i+1, err)
		}
		fs.seconds(foRaw, total)
		for _, st := range rawSteps {
			fs.seconds("  raw "+st, raw[st])
		}
		fs.seconds(foOverhead, wf.RTO-total)
		e.progress("failover: run %d/%d: RTO %s, raw %s", i+1, e.opts.Runs, wf.RTO.Round(time.Millisecond), total.Round(time.Millisecond))
	}
	// Steps after verification are outside the RTO.
	for _, name := range []string{"  step record", "  step publish"} {
		if f, ok := fs.byName[name]; ok {
			f.Note = "after verification: not part of the RTO"
		}
	}
	if err := runFailoverMonitored(ctx, e, fs); err != nil {
		return err
	}
	return runFailoverWorkerLost(ctx, e, fs)
}

// noTrigger leaves the trigger out of a stack whose failover the bench
// starts itself (no monitors run, so it would only idle).
func noTrigger(o *devstack.Options) { o.NoTrigger = true }

// failoverByWorkflow runs one disaster failover on a fresh lab.
func failoverByWorkflow(ctx context.Context, e *env) (workflows.FailoverSiteResult, error) {
	var res workflows.FailoverSiteResult
	s, err := e.startStack(ctx, noTrigger)
	if err != nil {
		return res, err
	}
	defer s.stop()
	// A write at uk just before the power cut: the replica's last applied
	// event is then recent, so the measured lag fits the max RPO.
	if err := s.write(ctx, "uk"); err != nil {
		return res, err
	}
	in, err := workflows.NewFailoverSiteInput(s.p, "uk", "us", workflows.ModeDisaster)
	if err != nil {
		return res, err
	}
	in.Reason, in.RequestedBy, in.DBAppUser = "bench: power cut", "mdc-bench", "mdc_app"
	in.Timeouts.Verify = 30 * time.Second
	if err := s.Lab.KillSite(ctx, "uk"); err != nil {
		return res, err
	}
	in.DetectedAt = time.Now()
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	run, err := s.Client.ExecuteWorkflow(wctx, workflows.FailoverStartOptions(in), workflows.FailoverSiteName, in)
	if err != nil {
		return res, err
	}
	if err := run.Get(wctx, &res); err != nil {
		return res, err
	}
	if res.Status != workflows.StatusFailedOver {
		return res, fmt.Errorf("failover ended %s: %s", res.Status, res.Outcome)
	}
	if prof, err := historyProfile(ctx, s.Client, workflows.FailoverWorkflowID(in)); err == nil {
		e.progress("failover: %s", prof)
	}
	return res, nil
}

// failoverRaw takes the same actions directly on a fresh lab.
func failoverRaw(ctx context.Context, e *env) (map[string]time.Duration, time.Duration, error) {
	s, err := e.startStack(ctx, noTrigger)
	if err != nil {
		return nil, 0, err
	}
	defer s.stop()
	if err := s.write(ctx, "uk"); err != nil {
		return nil, 0, err
	}
	r, err := newRawFailover(ctx, s, "uk", "us")
	if err != nil {
		return nil, 0, err
	}
	defer r.close()
	if err := s.Lab.KillSite(ctx, "uk"); err != nil {
		return nil, 0, err
	}
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return r.run(rctx)
}
