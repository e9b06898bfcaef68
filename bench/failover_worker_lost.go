package bench

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/worker"

	"github.com/microdc/mdc/activities/events"
	"github.com/microdc/mdc/activities/temporalops"
	"github.com/microdc/mdc/devstack"
	"github.com/microdc/mdc/workers"
	"github.com/microdc/mdc/workflows"
)

const (
	foLostRTO   = "RTO, uk's worker lost with the site (started at the kill)"
	foLostFence = "  its fence step"
)

// runFailoverWorkerLost is the failover of a real power cut, where the
// failed site's worker (it runs next to the site's systems) dies with it:
// the stack's workers run in this process as `mdc dev` runs them, and uk's
// stops at the kill. Every activity FailoverSite routes to uk then waits
// for a worker that never comes, until its schedule-to-start timeout; the
// figure shows whether the recovery waits for them.
func runFailoverWorkerLost(ctx context.Context, e *env, fs *Figures) error {
	fs.note(foLostRTO, "s", "uk's worker stops at the kill: what FailoverSite routes to uk's queue waits out its 10 s schedule-to-start timeout, in the background since the dead-site fence (10.3 s before it)")
	fs.get(foLostFence, "s")
	for i := range e.opts.Runs {
		res, err := failoverWorkerLostOnce(ctx, e)
		if err != nil {
			return fmt.Errorf("worker-lost run %d: %w", i+1, err)
		}
		fs.seconds(foLostRTO, res.RTO)
		for _, st := range res.Progress.Steps {
			if st.Name == "fence" {
				fs.seconds(foLostFence, st.Took)
			}
		}
		e.progress("failover: worker-lost run %d/%d: RTO %s", i+1, e.opts.Runs, res.RTO.Round(time.Millisecond))
	}
	return nil
}

func failoverWorkerLostOnce(ctx context.Context, e *env) (workflows.FailoverSiteResult, error) {
	var res workflows.FailoverSiteResult
	s, err := e.startStack(ctx, func(o *devstack.Options) { o.NoTrigger, o.NoWorkers = true, true })
	if err != nil {
		return res, err
	}
	defer s.stop()
	ev, err := events.New(ctx, events.Options{URL: s.NATS.URL})
	if err != nil {
		return res, err
	}
	defer events.Close(ev)
	running := map[string]worker.Worker{"shared": workers.NewShared(s.Client, workers.SharedQueue)}
	for _, site := range s.p.SiteNames() {
		deps, err := workers.BuildDeps(s.p, s.Lab.Lookup, []string{site})
		if err != nil {
			return res, err
		}
		deps.Events, deps.TemporalOps = ev, temporalops.New(s.Client)
		running[site] = workers.NewSite(s.Client, site, deps)
	}
	defer func() {
		for _, w := range running {
			w.Stop()
		}
	}()
	for _, w := range running {
		if err := w.Start(); err != nil {
			return res, err
		}
	}
	if err := s.write(ctx, "uk"); err != nil {
		return res, err
	}
	in, err := workflows.NewFailoverSiteInput(s.p, "uk", "us", workflows.ModeDisaster)
	if err != nil {
		return res, err
	}
	in.Reason, in.RequestedBy, in.DBAppUser = "bench: power cut, worker lost", "mdc-bench", "mdc_app"
	in.Timeouts.Verify = 30 * time.Second
	if err := s.Lab.KillSite(ctx, "uk"); err != nil {
		return res, err
	}
	in.DetectedAt = time.Now()
	running["uk"].Stop()
	delete(running, "uk")
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
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
	return res, nil
}
