package workflows

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/microdc/mdc/activities/lb"
	"github.com/microdc/mdc/activities/vsphere"
	"github.com/microdc/mdc/apperrors"
)

// DrainHostInput names the host to empty and put into maintenance.
type DrainHostInput struct {
	Site string
	Host string
	// Deadline bounds the wait for each web node's sessions to end once it
	// is draining; lb.DefaultDrainDeadline (1m) when zero. A node whose
	// sessions outlive it is moved anyway: a live migration keeps them.
	Deadline time.Duration `json:",omitempty"`
	// Hosts are the site's hosts VMs may move to (the platform's placement
	// hosts); empty means every other host that runs a VM of the site.
	Hosts []string `json:",omitempty"`
}

// VMMove is one VM moved off the host.
type VMMove struct {
	VM   string
	From string
	To   string
}

// DrainHostResult says what DrainHost did. Give Drained to UndrainHost to
// put those servers back in rotation.
type DrainHostResult struct {
	// Drained are the balancer servers (web nodes) of the host that are
	// now out of rotation, including those a previous run drained.
	Drained []string `json:",omitempty"`
	// Moved are the powered-on VMs relocated to other hosts.
	Moved []VMMove `json:",omitempty"`
	// EnteredMaintenance is false when the host was in maintenance already.
	EnteredMaintenance bool
	Progress           Progress
}

// DrainHostWorkflow empties a host for maintenance: it drains the host's web
// nodes from the site's balancer (they stay drained until UndrainHost),
// moves every powered-on VM to the least-loaded other host of the site, and
// puts the host into maintenance mode. A VM that cannot be moved fails the
// run before maintenance mode is entered. A second run finds the work done.
func DrainHostWorkflow(ctx workflow.Context, in DrainHostInput) (DrainHostResult, error) {
	d := &drain{in: in}
	if err := d.setup(ctx); err != nil {
		return d.res, err
	}
	err := d.run(ctx)
	d.res.Progress.skipRest(ctx, "not reached: an earlier step failed")
	return d.res, err
}

type drain struct {
	in  DrainHostInput
	res DrainHostResult
	// onHost are the host's powered-on VMs (templates cannot run).
	onHost []vsphere.VM
	// load counts powered-on VMs per candidate host; moves add to it.
	load    map[string]int
	targets []string
	servers map[string]lb.ServerStatus
}

func (d *drain) setup(ctx workflow.Context) error {
	if d.in.Site == "" || d.in.Host == "" {
		return apperrors.BadInput("DrainHost: site %q and host %q are both required", d.in.Site, d.in.Host)
	}
	if d.in.Deadline < 0 {
		return apperrors.BadInput("DrainHost %s: deadline %s must not be negative", d.in.Host, d.in.Deadline)
	}
	if d.in.Deadline == 0 {
		d.in.Deadline = lb.DefaultDrainDeadline
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, AttrSite.ValueSet(d.in.Site)); err != nil {
		return err
	}
	d.res.Progress.planned("inventory", d.in.Site+"/"+d.in.Host)
	return registerProgress(ctx, &d.res.Progress)
}

func (d *drain) run(ctx workflow.Context) error {
	p := &d.res.Progress
	if err := p.run(ctx, 0, func() (string, error) { return d.inventory(ctx) }); err != nil {
		return err
	}
	site := d.in.Site
	var drains, moves []int
	for _, vm := range d.onHost {
		if s, ok := d.servers[vm.Name]; ok {
			if s.State == lb.StateDrain || s.State == lb.StateMaint {
				d.res.Drained = append(d.res.Drained, vm.Name)
			} else {
				drains = append(drains, p.planned("drain", vm.Name))
			}
		}
	}
	for _, vm := range d.onHost {
		moves = append(moves, p.planned("relocate", vm.Name))
	}
	maint := p.planned("enter maintenance", d.in.Host)
	for _, i := range drains {
		name := p.Steps[i].Target
		if err := p.run(ctx, i, func() (string, error) { return d.drainServer(ctx, name) }); err != nil {
			return err
		}
	}
	for n, i := range moves {
		vm := d.onHost[n]
		if err := p.run(ctx, i, func() (string, error) { return d.relocate(ctx, vm) }); err != nil {
			return err
		}
	}
	return p.run(ctx, maint, func() (string, error) {
		var r vsphere.EnterMaintenanceResult
		err := workflow.ExecuteActivity(withSite(ctx, site), vsphereOps.EnterMaintenance,
			vsphere.EnterMaintenanceInput{Site: site, Host: d.in.Host}).Get(ctx, &r)
		if err != nil {
			return "", fmt.Errorf("put host %s of site %s into maintenance: %w", d.in.Host, site, err)
		}
		d.res.EnteredMaintenance = r.Changed
		if !r.Changed {
			return "already in maintenance", nil
		}
		return "entered", nil
	})
}

// inventory finds the host's powered-on VMs, the load of the other hosts
// and the balancer's servers.
func (d *drain) inventory(ctx workflow.Context) (string, error) {
	site := d.in.Site
	actx := withSite(ctx, site)
	vmF := workflow.ExecuteActivity(actx, vsphereOps.FindVMs, vsphere.FindVMsInput{Site: site})
	lbF := workflow.ExecuteActivity(actx, lbOps.ListServers, lb.ListServersInput{Site: site})
	var vms vsphere.FindVMsResult
	if err := vmF.Get(ctx, &vms); err != nil {
		return "", fmt.Errorf("list the VMs of site %s: %w", site, err)
	}
	var servers lb.ListServersResult
	if err := lbF.Get(ctx, &servers); err != nil {
		return "", fmt.Errorf("list the balancer's servers at site %s: %w", site, err)
	}
	d.servers = map[string]lb.ServerStatus{}
	for _, s := range servers.Servers {
		d.servers[s.Name] = s
	}
	d.load = map[string]int{}
	d.targets = nil
	for _, h := range d.in.Hosts {
		if h != d.in.Host && !slices.Contains(d.targets, h) {
			d.targets = append(d.targets, h)
		}
	}
	seen := len(d.in.Hosts) == 0
	for _, vm := range vms.VMs {
		if seen && vm.Host != "" && vm.Host != d.in.Host && !slices.Contains(d.targets, vm.Host) {
			d.targets = append(d.targets, vm.Host)
		}
		if vm.PowerState != vsphere.PoweredOn {
			continue
		}
		if vm.Host == d.in.Host {
			d.onHost = append(d.onHost, vm)
		} else {
			d.load[vm.Host]++
		}
	}
	slices.Sort(d.targets)
	if len(d.onHost) > 0 && len(d.targets) == 0 {
		return "", apperrors.Rejected("site %s has no host other than %s to move its %d running VMs to: add a host, or power the VMs off first",
			site, d.in.Host, len(d.onHost))
	}
	names := make([]string, len(d.onHost))
	for i, vm := range d.onHost {
		names[i] = vm.Name
	}
	return fmt.Sprintf("%d running VMs on %s [%s]; other hosts: %s", len(d.onHost), d.in.Host, strings.Join(names, " "), strings.Join(d.targets, " ")), nil
}

func (d *drain) drainServer(ctx workflow.Context, name string) (string, error) {
	site := d.in.Site
	var r lb.DrainServerResult
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, drainOptions(site, d.in.Deadline)), lbOps.DrainServer,
		lb.DrainServerInput{Site: site, Name: name, Deadline: d.in.Deadline}).Get(ctx, &r)
	d.res.Drained = append(d.res.Drained, name)
	switch {
	case err == nil:
		return fmt.Sprintf("drained in %s", r.Waited), nil
	case apperrors.Is(err, apperrors.TypeTimeout):
		// The server is draining and takes no new sessions; the ones left
		// survive a live migration.
		return fmt.Sprintf("sessions still open after %s; moving it anyway", d.in.Deadline), nil
	default:
		return "", fmt.Errorf("drain %s from site %s's balancer: %w", name, site, err)
	}
}

// relocate moves vm to the least-loaded other host (the first by name on a tie).
func (d *drain) relocate(ctx workflow.Context, vm vsphere.VM) (string, error) {
	site := d.in.Site
	to := leastUsed(d.targets, d.load)
	var r vsphere.RelocateVMResult
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, vmTaskOptions(site, relocateTimeout)), vsphereOps.RelocateVM,
		vsphere.RelocateVMInput{Site: site, Name: vm.Name, Host: to}).Get(ctx, &r)
	if err != nil {
		return "", fmt.Errorf("move VM %s from host %s to %s at site %s: %w; host %s was NOT put into maintenance: "+
			"fix or power off the VM and run DrainHost again (or UndrainHost to put drained servers back)",
			vm.Name, d.in.Host, to, site, err, d.in.Host)
	}
	d.load[to]++
	d.res.Moved = append(d.res.Moved, VMMove{VM: vm.Name, From: d.in.Host, To: to})
	return "to " + to, nil
}
