package vsphere

import (
	"context"
	"fmt"
	"time"

	"github.com/vmware/govmomi/vim25"

	"github.com/microdc/mdc/apperrors"
)

// WaitForIPInput names the VM and how long to wait for its guest IP.
type WaitForIPInput struct {
	Site string
	Name string
	// Deadline is when to give up (a workflow computes it from
	// workflow.Now, so it is deterministic). It is required.
	Deadline time.Time
}

// WaitForIPResult is the IP the guest reports.
type WaitForIPResult struct {
	IP string
}

// ipPollEvery is how often WaitForIP reads the VM: VMware Tools report a
// new IP within seconds, and each poll costs a few round trips.
const ipPollEvery = 500 * time.Millisecond

// WaitForIP waits until the powered-on VM reports a guest IP and returns
// it, heartbeating while it waits. It fails with a retryable
// apperrors.Timeout at Deadline (or when ctx ends first), and with a
// Conflict when the VM is not powered on: vSphere keeps reporting the last
// IP of a powered-off VM, which must not be taken for a live one.
func (a *Activities) WaitForIP(ctx context.Context, in WaitForIPInput) (WaitForIPResult, error) {
	s, err := a.site(in.Site)
	if err != nil {
		return WaitForIPResult{}, err
	}
	if err := checkName("WaitForIP: Name", in.Name); err != nil {
		return WaitForIPResult{}, err
	}
	if in.Deadline.IsZero() {
		return WaitForIPResult{}, apperrors.BadInput("WaitForIP: Deadline is not set: give the time to stop waiting")
	}
	began := time.Now()
	for polls := 1; ; polls++ {
		var vm VM
		err := s.do(ctx, fmt.Sprintf("read the guest IP of VM %q", in.Name), func(c *vim25.Client) error {
			v, err := s.inventory(ctx, c)
			if err != nil {
				return err
			}
			r, err := v.vm(ctx, in.Name)
			vm = r.VM
			return err
		})
		switch {
		case err != nil && !(ctx.Err() != nil && apperrors.Is(err, apperrors.TypeUnavailable)):
			return WaitForIPResult{}, err
		case err == nil && vm.Template:
			return WaitForIPResult{}, apperrors.BadInput("%s: %q is a template, which never gets an IP", s.where(), in.Name)
		case err == nil && vm.PowerState != PoweredOn:
			return WaitForIPResult{}, apperrors.Conflict("%s: VM %q is %s, so it will not get an IP: power it on first", s.where(), in.Name, vm.PowerState)
		case err == nil && vm.IP != "":
			return WaitForIPResult{IP: vm.IP}, nil
		}
		heartbeat(ctx, fmt.Sprintf("waiting for the IP of %s: %d polls in %s", in.Name, polls, time.Since(began).Round(time.Second)))
		wait := time.Until(in.Deadline)
		if wait <= 0 || ctx.Err() != nil {
			return WaitForIPResult{}, apperrors.Timeout("%s: VM %q reported no guest IP by %s (waited %s, %d polls): check VMware Tools and the network in the guest",
				s.where(), in.Name, in.Deadline.UTC().Format(time.RFC3339), time.Since(began).Round(time.Millisecond), polls)
		}
		t := time.NewTimer(min(wait, ipPollEvery))
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}
