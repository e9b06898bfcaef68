package vcenter

import (
	"context"
	"fmt"
	"net"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// SetGuestIP makes vSphere report ip as the VM's guest IP (guest.ipAddress,
// summary.guest.ipAddress and the first guest.net entry), as VMware Tools
// would, so that object.VirtualMachine.WaitForIP returns it. It reconfigures
// the VM with ExtraConfig "SET.guest.ipAddress", which vcsim applies to the
// VM's properties instead of storing. Setting the IP the VM already reports
// does nothing.
func (v *VCenter) SetGuestIP(ctx context.Context, vmName, ip string) error {
	if net.ParseIP(ip) == nil {
		return fmt.Errorf("vcenter %s: SetGuestIP %q: %q is not an IP address", v.o.Site, vmName, ip)
	}
	return v.withSession(ctx, func(c *govmomi.Client) error {
		finder := find.NewFinder(c.Client, false)
		dc, err := finder.Datacenter(ctx, v.topo.datacenter)
		if err != nil {
			return fmt.Errorf("vcenter %s: find datacenter %s: %w", v.o.Site, v.topo.datacenter, err)
		}
		finder.SetDatacenter(dc)
		vm, err := finder.VirtualMachine(ctx, vmName)
		if err != nil {
			return fmt.Errorf("vcenter %s: SetGuestIP: find VM %q: %w", v.o.Site, vmName, err)
		}
		var cur mo.VirtualMachine
		if err := vm.Properties(ctx, vm.Reference(), []string{"guest.ipAddress"}, &cur); err != nil {
			return fmt.Errorf("vcenter %s: SetGuestIP: read VM %q: %w", v.o.Site, vmName, err)
		}
		if cur.Guest != nil && cur.Guest.IpAddress == ip {
			return nil
		}
		return waitTask(ctx, v.o.Site, vmName, "set the guest IP of", func(ctx context.Context) (*object.Task, error) {
			return vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{
				ExtraConfig: []types.BaseOptionValue{&types.OptionValue{Key: "SET.guest.ipAddress", Value: ip}},
			})
		})
	})
}

// withSession runs f with a cached logged-in client, logging in again once
// if the session was lost.
func (v *VCenter) withSession(ctx context.Context, f func(*govmomi.Client) error) error {
	for attempt := 0; ; attempt++ {
		v.mu.Lock()
		c := v.cached
		v.mu.Unlock()
		if c == nil {
			var err error
			if c, err = v.Client(ctx); err != nil {
				return err
			}
			v.mu.Lock()
			if v.cached == nil {
				v.cached = c
			} else { // another caller logged in meanwhile: use its session
				extra := c
				c = v.cached
				defer cleanup(extra.Logout)
			}
			v.mu.Unlock()
		}
		err := f(c)
		if err == nil || attempt > 0 || !fault.Is(err, &types.NotAuthenticated{}) {
			return err
		}
		v.mu.Lock()
		if v.cached == c {
			v.cached = nil
		}
		v.mu.Unlock()
	}
}
