package vsphere

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/microdc/mdc/apperrors"
)

// FenceSiteInput says which site to fence and what to spare.
type FenceSiteInput struct {
	Site string
	// Exclude names VMs to leave running (templates are never touched).
	Exclude []string
	// Tags, when set, fences only the VMs carrying all of them; by default
	// every VM of the site's folder is fenced.
	Tags map[string]string
}

// FenceSiteResult says what happened to each VM of the site.
type FenceSiteResult struct {
	// PoweredOff were running and are now off.
	PoweredOff []string
	// AlreadyOff were off before the call.
	AlreadyOff []string
	// UnreachableVMs could not be powered off (their host is down, or the
	// vCenter went away mid-way); Errors says why, by VM name.
	UnreachableVMs []string
	Errors         map[string]string `json:",omitempty"`
	// Unreachable is true when the site's vCenter itself did not answer, so
	// nothing could be listed or fenced; Reason says what failed.
	Unreachable bool
	Reason      string `json:",omitempty"`
}

// FenceSite powers off every powered-on VM of the site (except Exclude and
// templates) so that a failed site cannot keep serving or writing after a
// failover. Fencing a site whose vCenter is down is an expected case in a
// disaster failover, so it is a result (Unreachable=true), not an error:
// the workflow records it and carries on (the site's VMs are then fenced
// by the failure itself, or by the network). Bad credentials are still an
// error: the vCenter is up and the VMs may still run.
func (a *Activities) FenceSite(ctx context.Context, in FenceSiteInput) (FenceSiteResult, error) {
	s, err := a.site(in.Site)
	if err != nil {
		return FenceSiteResult{}, err
	}
	for _, n := range in.Exclude {
		if err := checkName("FenceSite: a name in Exclude", n); err != nil {
			return FenceSiteResult{}, err
		}
	}
	if err := checkTags("FenceSite: Tags", in.Tags); err != nil {
		return FenceSiteResult{}, err
	}
	var res FenceSiteResult
	err = s.do(ctx, "fence the site", func(c *vim25.Client) error {
		v, err := s.inventory(ctx, c)
		if err != nil {
			return err
		}
		vms, err := v.siteVMs(ctx)
		if err != nil {
			return err
		}
		res = v.fence(ctx, vms, in)
		return nil
	})
	if apperrors.Is(err, apperrors.TypeUnavailable) {
		return FenceSiteResult{Unreachable: true, Reason: err.Error()}, nil
	}
	return res, err
}

// fence powers off the selected VMs: it starts every power-off task first,
// so vCenter runs them in parallel, then waits for each.
func (v *inv) fence(ctx context.Context, vms []vmRec, in FenceSiteInput) FenceSiteResult {
	res := FenceSiteResult{PoweredOff: []string{}, AlreadyOff: []string{}, UnreachableVMs: []string{}}
	failed := func(name string, err error) {
		if res.Errors == nil {
			res.Errors = map[string]string{}
		}
		res.UnreachableVMs = append(res.UnreachableVMs, name)
		res.Errors[name] = v.s.classify(ctx, "power off VM "+name, err).Error()
	}
	type started struct {
		name string
		task *object.Task
	}
	var tasks []started
	for _, vm := range vms {
		switch {
		case vm.Template || slices.Contains(in.Exclude, vm.Name) || !hasTags(vm.Tags, in.Tags):
			continue
		case vm.PowerState == PoweredOff:
			res.AlreadyOff = append(res.AlreadyOff, vm.Name)
			continue
		}
		t, err := vm.object(v).PowerOff(ctx)
		if err != nil {
			failed(vm.Name, err)
			continue
		}
		tasks = append(tasks, started{vm.Name, t})
	}
	began := time.Now()
	var done atomic.Int32 // read by the heartbeat goroutine
	stop := keepBeating(ctx, func() string {
		return fmt.Sprintf("fencing %s: %d of %d power-offs done after %s", v.s.name, done.Load(), len(tasks), time.Since(began).Round(time.Second))
	})
	defer stop()
	for _, t := range tasks {
		_, err := t.task.WaitForResult(ctx)
		done.Add(1)
		switch {
		case err == nil:
			res.PoweredOff = append(res.PoweredOff, t.name)
		case fault.Is(err, &types.InvalidPowerState{}):
			res.AlreadyOff = append(res.AlreadyOff, t.name) // powered off meanwhile
		default:
			failed(t.name, err)
		}
	}
	slices.Sort(res.AlreadyOff)
	return res
}
