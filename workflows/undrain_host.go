package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/microdc/mdc/activities/lb"
	"github.com/microdc/mdc/activities/vsphere"
	"github.com/microdc/mdc/apperrors"
)

// UndrainHostInput names the host to take out of maintenance and the
// balancer servers to put back in rotation.
type UndrainHostInput struct {
	Site string
	Host string
	// Servers are the servers to re-enable: DrainHost's result.Drained.
	// Empty means the servers of the VMs that are on Host now (DrainHost
	// moved the running ones away, so pass its Drained list when it did).
	Servers []string `json:",omitempty"`
}

// UndrainHostResult says what UndrainHost did.
type UndrainHostResult struct {
	// ExitedMaintenance is false when the host was not in maintenance.
	ExitedMaintenance bool
	// Enabled are the servers put back in rotation; Missing are listed
	// servers the balancer no longer has (scaled in meanwhile).
	Enabled  []string `json:",omitempty"`
	Missing  []string `json:",omitempty"`
	Progress Progress
}

// UndrainHostWorkflow takes a host out of maintenance and puts the web
// nodes DrainHost drained back in rotation. The VMs stay where DrainHost
// moved them; the balancer and vSphere placement spread new work. A second
// run finds the work done.
func UndrainHostWorkflow(ctx workflow.Context, in UndrainHostInput) (UndrainHostResult, error) {
	var res UndrainHostResult
	if in.Site == "" || in.Host == "" {
		return res, apperrors.BadInput("UndrainHost: site %q and host %q are both required", in.Site, in.Host)
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, AttrSite.ValueSet(in.Site)); err != nil {
		return res, err
	}
	p := &res.Progress
	exit := p.planned("exit maintenance", in.Host)
	enable := p.planned("enable servers", strings.Join(in.Servers, " "))
	if err := registerProgress(ctx, p); err != nil {
		return res, err
	}
	actx := withSite(ctx, in.Site)
	err := p.run(ctx, exit, func() (string, error) {
		var r vsphere.ExitMaintenanceResult
		err := workflow.ExecuteActivity(actx, vsphereOps.ExitMaintenance, vsphere.ExitMaintenanceInput{Site: in.Site, Host: in.Host}).Get(ctx, &r)
		if err != nil {
			return "", fmt.Errorf("take host %s of site %s out of maintenance: %w", in.Host, in.Site, err)
		}
		res.ExitedMaintenance = r.Changed
		if !r.Changed {
			return "was not in maintenance", nil
		}
		return "exited", nil
	})
	if err == nil {
		err = p.run(ctx, enable, func() (string, error) { return enableServers(ctx, in, &res) })
	}
	p.skipRest(ctx, "not reached: an earlier step failed")
	return res, err
}

// enableServers puts the listed (or the host's) drained servers back.
func enableServers(ctx workflow.Context, in UndrainHostInput, res *UndrainHostResult) (string, error) {
	actx := withSite(ctx, in.Site)
	var servers lb.ListServersResult
	if err := workflow.ExecuteActivity(actx, lbOps.ListServers, lb.ListServersInput{Site: in.Site}).Get(ctx, &servers); err != nil {
		return "", fmt.Errorf("list the balancer's servers at site %s: %w", in.Site, err)
	}
	names := in.Servers
	if len(names) == 0 {
		var vms vsphere.FindVMsResult
		if err := workflow.ExecuteActivity(actx, vsphereOps.FindVMs, vsphere.FindVMsInput{Site: in.Site}).Get(ctx, &vms); err != nil {
			return "", fmt.Errorf("list the VMs of site %s: %w", in.Site, err)
		}
		for _, vm := range vms.VMs {
			if vm.Host == in.Host {
				names = append(names, vm.Name)
			}
		}
	}
	state := map[string]string{}
	for _, s := range servers.Servers {
		state[s.Name] = s.State
	}
	already := 0
	for _, name := range names {
		st, ok := state[name]
		switch {
		case !ok:
			if len(in.Servers) > 0 {
				res.Missing = append(res.Missing, name)
			}
		case st == lb.StateDrain || st == lb.StateMaint:
			if err := workflow.ExecuteActivity(actx, lbOps.EnableServer, lb.EnableServerInput{Site: in.Site, Name: name}).Get(ctx, nil); err != nil {
				return "", fmt.Errorf("put %s back in site %s's balancer: %w", name, in.Site, err)
			}
			res.Enabled = append(res.Enabled, name)
		default:
			already++
		}
	}
	detail := fmt.Sprintf("enabled %d, %d already in rotation", len(res.Enabled), already)
	if len(res.Missing) > 0 {
		detail += ", not in the balancer: " + strings.Join(res.Missing, " ")
	}
	return detail, nil
}
