package vsphere

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/microdc/mdc/apperrors"
)

// placement returns the host a new or moved VM goes to: want if given (it
// must be a usable host of the site), else the least-loaded usable host
// among the site's placement hosts.
func (v *inv) placement(ctx context.Context, want string) (hostInfo, error) {
	if want != "" {
		h, err := v.host(ctx, want)
		if err != nil {
			return hostInfo{}, err
		}
		if err := v.usable(h); err != nil {
			return hostInfo{}, err
		}
		return h, nil
	}
	hs, err := v.hosts(ctx)
	if err != nil {
		return hostInfo{}, err
	}
	var candidates []hostInfo
	for _, h := range hs {
		if (len(v.s.cfg.Hosts) == 0 || slices.Contains(v.s.cfg.Hosts, h.Name)) && v.usable(h) == nil {
			candidates = append(candidates, h)
		}
	}
	if len(candidates) == 0 {
		return hostInfo{}, apperrors.Conflict("%s: no placement host is connected and out of maintenance (placement hosts: %s): exit maintenance on one",
			v.s.where(), placementHosts(v.s.cfg.Hosts))
	}
	load, err := v.poweredOnPerHost(ctx)
	if err != nil {
		return hostInfo{}, err
	}
	best := candidates[0] // hosts are sorted by name, so ties go to the first name
	for _, h := range candidates[1:] {
		if load[h.Ref] < load[best.Ref] {
			best = h
		}
	}
	return best, nil
}

func placementHosts(hosts []string) string {
	if len(hosts) == 0 {
		return "all hosts of the cluster"
	}
	return strings.Join(hosts, ", ")
}

// usable says why h cannot take VMs now, or nil.
func (v *inv) usable(h hostInfo) error {
	switch {
	case h.Maintenance:
		return apperrors.Conflict("%s: host %s is in maintenance mode: exit maintenance first or pick another host", v.s.where(), h.Name)
	case !h.Connected:
		return apperrors.Conflict("%s: host %s is not connected to vCenter: pick another host", v.s.where(), h.Name)
	}
	return nil
}

// poweredOnPerHost counts the powered-on VMs of the whole datacenter by
// the host they run on. It reads each VM's runtime.host rather than the
// host's vm list, which vcsim does not update on a vMotion.
func (v *inv) poweredOnPerHost(ctx context.Context) (map[types.ManagedObjectReference]int, error) {
	var vms []mo.VirtualMachine
	if err := v.retrieve(ctx, v.dc.Reference(), "VirtualMachine", []string{"name", "runtime.host", "runtime.powerState"}, &vms); err != nil {
		return nil, err
	}
	load := map[types.ManagedObjectReference]int{}
	for _, vm := range vms {
		if vm.Runtime.Host != nil && vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn {
			load[*vm.Runtime.Host]++
		}
	}
	return load, nil
}

// poweredOnOn lists the names of the datacenter's powered-on VMs running on host.
func (v *inv) poweredOnOn(ctx context.Context, host types.ManagedObjectReference) ([]string, error) {
	var vms []mo.VirtualMachine
	if err := v.retrieve(ctx, v.dc.Reference(), "VirtualMachine", []string{"name", "runtime.host", "runtime.powerState"}, &vms); err != nil {
		return nil, err
	}
	var names []string
	for _, vm := range vms {
		if vm.Runtime.Host != nil && *vm.Runtime.Host == host && vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn {
			names = append(names, vm.Name)
		}
	}
	slices.Sort(names)
	return names, nil
}

// RelocateVMInput names a VM and the host to move it to.
type RelocateVMInput struct {
	Site string
	Name string
	// Host is the destination host of the same site's cluster.
	Host string
}

// RelocateVMResult says where the VM was and whether it moved.
type RelocateVMResult struct {
	From    string
	Host    string
	Changed bool
}

// RelocateVM moves a VM to another host of the site (vMotion when it is
// powered on; the disks stay where they are). A VM already on Host is left
// alone. The destination must be connected and out of maintenance.
func (a *Activities) RelocateVM(ctx context.Context, in RelocateVMInput) (RelocateVMResult, error) {
	s, err := a.site(in.Site)
	if err != nil {
		return RelocateVMResult{}, err
	}
	if err := checkName("RelocateVM: Name", in.Name); err != nil {
		return RelocateVMResult{}, err
	}
	if strings.TrimSpace(in.Host) == "" {
		return RelocateVMResult{}, apperrors.BadInput("RelocateVM: Host is empty: name the destination host")
	}
	var res RelocateVMResult
	err = s.do(ctx, fmt.Sprintf("relocate VM %q to %s", in.Name, in.Host), func(c *vim25.Client) error {
		v, err := s.inventory(ctx, c)
		if err != nil {
			return err
		}
		vm, err := v.vm(ctx, in.Name)
		if err != nil {
			return err
		}
		res = RelocateVMResult{From: vm.Host, Host: in.Host}
		if vm.Host == in.Host {
			return nil
		}
		dest, err := v.placement(ctx, in.Host)
		if err != nil {
			return err
		}
		pool, err := v.pool(ctx)
		if err != nil {
			return err
		}
		hostRef, poolRef := dest.Ref, pool.Reference()
		spec := types.VirtualMachineRelocateSpec{Host: &hostRef, Pool: &poolRef}
		_, err = runTask(ctx, fmt.Sprintf("relocate %s from %s to %s", in.Name, vm.Host, dest.Name),
			func(ctx context.Context) (*object.Task, error) {
				return vm.object(v).Relocate(ctx, spec, types.VirtualMachineMovePriorityDefaultPriority)
			})
		if err != nil {
			return err
		}
		res.Changed = true
		return nil
	})
	return res, err
}

// EnterMaintenanceInput names the host to put into maintenance mode.
type EnterMaintenanceInput struct {
	Site string
	Host string
}

// EnterMaintenanceResult says whether the host changed mode.
type EnterMaintenanceResult struct {
	Changed bool
}

// EnterMaintenance puts a host into maintenance mode. It refuses (with a
// retryable Conflict naming them) while powered-on VMs still run there:
// mdc does not rely on DRS to evacuate, the DrainHost workflow relocates
// them first. Powered-off VMs stay registered on the host.
func (a *Activities) EnterMaintenance(ctx context.Context, in EnterMaintenanceInput) (EnterMaintenanceResult, error) {
	s, err := a.site(in.Site)
	if err != nil {
		return EnterMaintenanceResult{}, err
	}
	if strings.TrimSpace(in.Host) == "" {
		return EnterMaintenanceResult{}, apperrors.BadInput("EnterMaintenance: Host is empty: name the host")
	}
	var res EnterMaintenanceResult
	err = s.do(ctx, "enter maintenance on host "+in.Host, func(c *vim25.Client) error {
		v, err := s.inventory(ctx, c)
		if err != nil {
			return err
		}
		h, err := v.host(ctx, in.Host)
		if err != nil || h.Maintenance {
			return err
		}
		running, err := v.poweredOnOn(ctx, h.Ref)
		if err != nil {
			return err
		}
		if len(running) > 0 {
			return apperrors.Conflict("%s: host %s still runs powered-on VMs %s: relocate them (DrainHost) or power them off, then retry",
				s.where(), h.Name, strings.Join(running, ", "))
		}
		_, err = runTask(ctx, "enter maintenance mode on "+h.Name, func(ctx context.Context) (*object.Task, error) {
			return object.NewHostSystem(c, h.Ref).EnterMaintenanceMode(ctx, 0, false, nil)
		})
		res.Changed = err == nil
		return err
	})
	return res, err
}

// ExitMaintenanceInput names the host to take out of maintenance mode.
type ExitMaintenanceInput struct {
	Site string
	Host string
}

// ExitMaintenanceResult says whether the host changed mode.
type ExitMaintenanceResult struct {
	Changed bool
}

// ExitMaintenance takes a host out of maintenance mode; a host not in
// maintenance is left alone.
func (a *Activities) ExitMaintenance(ctx context.Context, in ExitMaintenanceInput) (ExitMaintenanceResult, error) {
	s, err := a.site(in.Site)
	if err != nil {
		return ExitMaintenanceResult{}, err
	}
	if strings.TrimSpace(in.Host) == "" {
		return ExitMaintenanceResult{}, apperrors.BadInput("ExitMaintenance: Host is empty: name the host")
	}
	var res ExitMaintenanceResult
	err = s.do(ctx, "exit maintenance on host "+in.Host, func(c *vim25.Client) error {
		v, err := s.inventory(ctx, c)
		if err != nil {
			return err
		}
		h, err := v.host(ctx, in.Host)
		if err != nil || !h.Maintenance {
			return err
		}
		_, err = runTask(ctx, "exit maintenance mode on "+h.Name, func(ctx context.Context) (*object.Task, error) {
			return object.NewHostSystem(c, h.Ref).ExitMaintenanceMode(ctx, 0)
		})
		res.Changed = err == nil
		return err
	})
	return res, err
}
