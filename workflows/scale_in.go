package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/microdc/mdc/activities/lb"
	"github.com/microdc/mdc/activities/vsphere"
	"github.com/microdc/mdc/apperrors"
)

// ScaleInInput names the extra copy to remove.
type ScaleInInput struct {
	Site    string
	Service string
	Name    string
	// DrainDeadline is how long current sessions may take to finish; 1m
	// when zero.
	DrainDeadline time.Duration `json:",omitempty"`
	Reason        string        `json:",omitempty"`
}

// ScaleInResult says what the removal did.
type ScaleInResult struct {
	Name string
	// Drain is what draining the copy in the load balancer took.
	Drain lb.DrainResult
	// Gone is true when the VM no longer existed (an earlier attempt got
	// that far); it was still taken out of the load balancer.
	Gone     bool
	Progress Progress
}

// ScaleInWorkflow removes one extra copy made by ScaleOut: it checks the VM
// is a copy (tagged mdc.scaled=true for this service and site: base nodes
// are refused), drains it in the load balancer, removes it there, powers
// it off and destroys it. A drain that passes its deadline puts the copy
// back in rotation and fails: a node still holding sessions is not cut off.
func ScaleInWorkflow(ctx workflow.Context, in ScaleInInput) (ScaleInResult, error) {
	s := &scaleIn{in: in, res: ScaleInResult{Name: in.Name}}
	if err := s.setup(ctx); err != nil {
		return s.res, err
	}
	err := s.run(ctx)
	s.res.Progress.skipRest(ctx, "not reached")
	return s.res, err
}

type scaleIn struct {
	in  ScaleInInput
	res ScaleInResult
}

func (s *scaleIn) setup(ctx workflow.Context) error {
	if s.in.DrainDeadline == 0 {
		s.in.DrainDeadline = lb.DefaultDrainDeadline
	}
	if s.in.Site == "" || s.in.Service == "" || s.in.Name == "" {
		return apperrors.BadInput("ScaleIn: site, service and name are required (got site %q, service %q, name %q)", s.in.Site, s.in.Service, s.in.Name)
	}
	p := &s.res.Progress
	for _, step := range []string{"check copy", "drain", "remove from LB", "power off", "destroy"} {
		p.planned(step, s.in.Name)
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, AttrSite.ValueSet(s.in.Site), AttrService.ValueSet(s.in.Service)); err != nil {
		return err
	}
	return registerProgress(ctx, p)
}

func (s *scaleIn) run(ctx workflow.Context) error {
	p, in := &s.res.Progress, s.in
	site := withSite(ctx, in.Site)
	vmOpts := workflow.WithActivityOptions(ctx, scaleVMTaskOptions(in.Site))
	steps := []func() (string, error){
		func() (string, error) { return s.check(ctx) },
		func() (string, error) { return s.drain(ctx) },
		func() (string, error) {
			err := workflow.ExecuteActivity(site, asLB.RemoveServer, lb.RemoveServerInput{Site: in.Site, Name: in.Name}).Get(ctx, nil)
			return "", err
		},
		func() (string, error) {
			if s.res.Gone {
				return "VM already gone", nil
			}
			return "", workflow.ExecuteActivity(vmOpts, asVSphere.PowerOff, vsphere.PowerInput{Site: in.Site, Name: in.Name}).Get(ctx, nil)
		},
		func() (string, error) {
			if s.res.Gone {
				return "VM already gone", nil
			}
			return "", workflow.ExecuteActivity(vmOpts, asVSphere.DestroyVM, vsphere.DestroyVMInput{Site: in.Site, Name: in.Name}).Get(ctx, nil)
		},
	}
	for i, step := range steps {
		if err := p.run(ctx, i, step); err != nil {
			return fmt.Errorf("scale in %s at %s: %s: %w", in.Name, in.Site, p.Steps[i].Name, err)
		}
	}
	return nil
}

// check refuses anything but an extra copy of this service at this site:
// base nodes are never scaled in, whoever asks.
func (s *scaleIn) check(ctx workflow.Context) (string, error) {
	in := s.in
	var r vsphere.FindVMsResult
	if err := workflow.ExecuteActivity(withSite(ctx, in.Site), asVSphere.FindVMs,
		vsphere.FindVMsInput{Site: in.Site, Names: []string{in.Name}}).Get(ctx, &r); err != nil {
		return "", err
	}
	if len(r.VMs) == 0 {
		s.res.Gone = true
		return "VM not found: only the load balancer is cleaned", nil
	}
	vm := r.VMs[0]
	var wrong []string
	for _, t := range [][2]string{{TagScaled, "true"}, {vsphere.TagService, in.Service}, {vsphere.TagSite, in.Site}} {
		if vm.Tags[t[0]] != t[1] {
			wrong = append(wrong, fmt.Sprintf("%s=%q (want %q)", t[0], vm.Tags[t[0]], t[1]))
		}
	}
	if vm.Template {
		wrong = append(wrong, "a template")
	}
	if len(wrong) > 0 {
		return "", apperrors.BadInput("refusing to scale in %s at %s: it is not an extra copy of %s made by ScaleOut (%s); base nodes are never scaled in",
			in.Name, in.Site, in.Service, strings.Join(wrong, ", "))
	}
	return fmt.Sprintf("extra copy on %s, %s", vm.Host, vm.PowerState), nil
}

// drain stops new sessions and waits for the current ones. A server the
// balancer does not know is already out. Past the deadline the copy is put
// back in rotation (it is healthy and still has users) and the scale-in
// fails; Autoscale tries again after in_cooldown if it is still idle.
func (s *scaleIn) drain(ctx workflow.Context) (string, error) {
	in := s.in
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, scaleDeadlineOptions(in.Site, in.DrainDeadline)), asLB.DrainServer,
		lb.DrainServerInput{Site: in.Site, Name: in.Name, Deadline: in.DrainDeadline}).Get(ctx, &s.res.Drain)
	switch {
	case err == nil:
		return fmt.Sprintf("drained in %s", s.res.Drain.Waited.Round(time.Millisecond)), nil
	case apperrors.Is(err, apperrors.TypeNotFound):
		return "not in the load balancer", nil
	case apperrors.Is(err, apperrors.TypeTimeout):
		rerr := workflow.ExecuteActivity(withSite(ctx, in.Site), asLB.EnableServer,
			lb.EnableServerInput{Site: in.Site, Name: in.Name}).Get(ctx, nil)
		if rerr != nil {
			return "", fmt.Errorf("drain passed its %s deadline (%w) and putting %s back in rotation failed too (it stays draining): %w",
				in.DrainDeadline, err, in.Name, rerr)
		}
		return "", fmt.Errorf("drain passed its %s deadline with sessions still open; %s is back in rotation and kept: %w", in.DrainDeadline, in.Name, err)
	}
	return "", err
}
