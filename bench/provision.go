package bench

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/microdc/mdc/workers"
	"github.com/microdc/mdc/workflows"
)

// provisionVMs is how many VMs the provision scenario creates, and
// provisionParallel how many clones run at once on both sides
// (ProvisionSite's default bound).
const (
	provisionVMs      = 50
	provisionParallel = 4
)

const (
	pvWorkflow    = "ProvisionSite, 50 new VMs"
	pvActivities  = "the same activity calls in-process, same concurrency"
	pvLean        = "lean govmomi (inventory resolved once), same concurrency"
	pvRatio       = "ratio ProvisionSite / same calls in-process"
	pvRatioLean   = "ratio ProvisionSite / lean govmomi"
	pvLeanNote    = "what the vsphere activities' per-call lookups cost on top of orchestration"
	pvRatioNote   = "what Temporal adds to the same calls"
	sideWorkflow  = "workflow"
	sideActivity  = "activities"
	sideLeanCalls = "lean"
)

// runProvision creates 50 web VMs at us, three times per run, each on a
// fresh lab and with at most 4 clones at once: by ProvisionSite; by the
// same activity calls made in this process without Temporal (CloneVM,
// PowerOn, WaitForIP, CheckHTTP, AddServer); and by lean govmomi calls
// that resolve the inventory once (linked clones from the golden
// snapshot, power-on, guest IP polls), with the same health GETs and
// HAProxy adds. Each new VM is a running web node of the lab, so "ready"
// means serving behind us's HAProxy on every side.
func runProvision(ctx context.Context, e *env, fs *Figures) error {
	fs.get(pvWorkflow, "s")
	fs.get(pvActivities, "s")
	fs.get(pvLean, "s")
	t, g := atMost(1.5)
	fs.target(pvRatio, "x", pvRatioNote, t, g)
	fs.note(pvRatioLean, "x", pvLeanNote)
	for i := range e.opts.Runs {
		took := map[string]time.Duration{}
		for _, side := range []string{sideWorkflow, sideActivity, sideLeanCalls} {
			d, err := provisionOnce(ctx, e, side)
			if err != nil {
				return fmt.Errorf("run %d, %s: %w", i+1, side, err)
			}
			took[side] = d
		}
		fs.seconds(pvWorkflow, took[sideWorkflow])
		fs.seconds(pvActivities, took[sideActivity])
		fs.seconds(pvLean, took[sideLeanCalls])
		fs.add(pvRatio, "x", took[sideWorkflow].Seconds()/took[sideActivity].Seconds())
		fs.add(pvRatioLean, "x", took[sideWorkflow].Seconds()/took[sideLeanCalls].Seconds())
		e.progress("provision: run %d/%d: ProvisionSite %s, same calls in-process %s, lean govmomi %s", i+1, e.opts.Runs,
			took[sideWorkflow].Round(time.Millisecond), took[sideActivity].Round(time.Millisecond), took[sideLeanCalls].Round(time.Millisecond))
	}
	return nil
}

// provisionInput asks for 50 more web VMs than us has (us-web-1 and
// us-web-2): us-web-3 .. us-web-52.
func provisionInput(s *stack) (workflows.ProvisionSiteInput, error) {
	p := *s.p
	p.Services = slices.Clone(s.p.Services)
	p.Services[0].Replicas.Min = provisionVMs + 2
	in, err := workflows.NewProvisionSiteInput(&p, "us")
	if err != nil {
		return in, err
	}
	in.IPDeadline, in.HealthDeadline = 2*time.Minute, 2*time.Minute
	in.MaxParallel = provisionParallel
	return in, nil
}

// provisionOnce creates the 50 VMs on a fresh lab the way side says.
func provisionOnce(ctx context.Context, e *env, side string) (time.Duration, error) {
	s, err := e.startStack(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer s.stop()
	in, err := provisionInput(s)
	if err != nil {
		return 0, err
	}
	svc := in.Services[0]
	names := svc.VMs[2:] // us-web-1 and us-web-2 exist
	if len(names) != provisionVMs {
		return 0, fmt.Errorf("%d VMs to create, want %d", len(names), provisionVMs)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	switch side {
	case sideWorkflow:
		return provisionByWorkflow(pctx, e, s, in)
	case sideActivity:
		t0 := time.Now()
		err := provisionByActivities(pctx, s, svc, names, in.MaxParallel)
		return time.Since(t0), err
	}
	d, err := newDirectProvisioner(ctx, s, "us")
	if err != nil {
		return 0, err
	}
	defer d.close()
	t0 := time.Now()
	if err := d.provision(pctx, svc, names, in.MaxParallel); err != nil {
		return 0, err
	}
	took := time.Since(t0)
	e.progress("provision: %s", d.profile(len(names)))
	return took, nil
}

func provisionByWorkflow(ctx context.Context, e *env, s *stack, in workflows.ProvisionSiteInput) (time.Duration, error) {
	t0 := time.Now()
	run, err := s.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "bench-provision-us", TaskQueue: workers.SharedQueue},
		workflows.ProvisionSiteName, in)
	if err != nil {
		return 0, err
	}
	var res workflows.ProvisionSiteResult
	if err := run.Get(ctx, &res); err != nil {
		return 0, err
	}
	took := time.Since(t0)
	if prof, err := historyProfile(ctx, s.Client, "bench-provision-us"); err == nil {
		e.progress("provision: %s", prof)
	}
	if len(res.Created) != provisionVMs {
		return 0, fmt.Errorf("ProvisionSite created %d VMs, want %d", len(res.Created), provisionVMs)
	}
	return took, nil
}
