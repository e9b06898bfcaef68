package vsphere

import (
	"context"
	"fmt"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/microdc/mdc/apperrors"
)

// PowerInput names the VM to power on or off.
type PowerInput struct {
	Site string
	Name string
}

// PowerResult is the VM's power state after the call.
type PowerResult struct {
	PowerState string
	// Changed is false when the VM was already in that state.
	Changed bool
}

// PowerOn powers a VM on (or resumes it from suspend). A VM already on is
// left alone. Templates cannot be powered on.
func (a *Activities) PowerOn(ctx context.Context, in PowerInput) (PowerResult, error) {
	return a.power(ctx, "PowerOn", in, true)
}

// PowerOff powers a VM off at once (a hard power-off, not a guest
// shutdown: callers drain traffic first). A VM already off is left alone;
// a suspended VM is powered off.
func (a *Activities) PowerOff(ctx context.Context, in PowerInput) (PowerResult, error) {
	return a.power(ctx, "PowerOff", in, false)
}

func (a *Activities) power(ctx context.Context, op string, in PowerInput, on bool) (PowerResult, error) {
	s, err := a.site(in.Site)
	if err != nil {
		return PowerResult{}, err
	}
	if err := checkName(op+": Name", in.Name); err != nil {
		return PowerResult{}, err
	}
	var res PowerResult
	err = s.do(ctx, fmt.Sprintf("%s VM %q", op, in.Name), func(c *vim25.Client) error {
		v, err := s.inventory(ctx, c)
		if err != nil {
			return err
		}
		vm, err := v.vm(ctx, in.Name)
		if err != nil {
			return err
		}
		if on {
			res.Changed, err = v.powerOn(ctx, vm)
			res.PowerState = PoweredOn
		} else {
			res.Changed, err = v.powerOff(ctx, vm)
			res.PowerState = PoweredOff
		}
		if err != nil {
			res = PowerResult{}
		}
		return err
	})
	return res, err
}

// powerOn powers vm on unless it already is; InvalidPowerState from a race
// with another power-on counts as done.
func (v *inv) powerOn(ctx context.Context, vm vmRec) (bool, error) {
	if vm.Template {
		return false, apperrors.BadInput("%s: %q is a template and cannot be powered on: clone it first", v.s.where(), vm.Name)
	}
	if vm.PowerState == PoweredOn {
		return false, nil
	}
	_, err := runTask(ctx, "power on "+vm.Name, vm.object(v).PowerOn)
	if err != nil && fault.Is(err, &types.InvalidPowerState{}) && v.stateIs(ctx, vm, PoweredOn) {
		return false, nil
	}
	return err == nil, err
}

// powerOff powers vm off unless it already is.
func (v *inv) powerOff(ctx context.Context, vm vmRec) (bool, error) {
	if vm.PowerState == PoweredOff {
		return false, nil
	}
	_, err := runTask(ctx, "power off "+vm.Name, vm.object(v).PowerOff)
	if err != nil && fault.Is(err, &types.InvalidPowerState{}) && v.stateIs(ctx, vm, PoweredOff) {
		return false, nil
	}
	return err == nil, err
}

// stateIs re-reads vm's power state after an InvalidPowerState fault.
func (v *inv) stateIs(ctx context.Context, vm vmRec, want string) bool {
	st, err := vm.object(v).PowerState(ctx)
	return err == nil && string(st) == want
}

// DestroyVMInput names the VM to delete, with its disks.
type DestroyVMInput struct {
	Site string
	Name string
}

// DestroyVMResult says whether a VM was deleted.
type DestroyVMResult struct {
	// Changed is false when there was no such VM.
	Changed bool
}

// DestroyVM powers a VM off if needed and deletes it with its files. A VM
// that does not exist counts as destroyed. Templates are refused: mdc
// never deletes the images it clones from.
func (a *Activities) DestroyVM(ctx context.Context, in DestroyVMInput) (DestroyVMResult, error) {
	s, err := a.site(in.Site)
	if err != nil {
		return DestroyVMResult{}, err
	}
	if err := checkName("DestroyVM: Name", in.Name); err != nil {
		return DestroyVMResult{}, err
	}
	var res DestroyVMResult
	err = s.do(ctx, fmt.Sprintf("destroy VM %q", in.Name), func(c *vim25.Client) error {
		v, err := s.inventory(ctx, c)
		if err != nil {
			return err
		}
		vm, ok, err := v.lookup(ctx, in.Name)
		if err != nil || !ok {
			return err
		}
		res.Changed, err = v.destroy(ctx, vm)
		return err
	})
	return res, err
}

// destroy powers vm off and deletes it; a VM that vanished meanwhile
// (ManagedObjectNotFound) counts as done.
func (v *inv) destroy(ctx context.Context, vm vmRec) (bool, error) {
	if vm.Template {
		return false, apperrors.BadInput("%s: %q is a template: mdc does not destroy templates; remove it in vCenter if you mean to", v.s.where(), vm.Name)
	}
	if _, err := v.powerOff(ctx, vm); err != nil {
		if fault.Is(err, &types.ManagedObjectNotFound{}) {
			return false, nil
		}
		return false, err
	}
	_, err := runTask(ctx, "destroy "+vm.Name, vm.object(v).Destroy)
	if fault.Is(err, &types.ManagedObjectNotFound{}) {
		return false, nil
	}
	return err == nil, err
}
