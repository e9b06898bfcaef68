package vsphere

import (
	"context"
	"fmt"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/microdc/mdc/apperrors"
)

// snapshots returns the references of vm's snapshots called name.
func (v *inv) snapshots(ctx context.Context, vm vmRec, name string) ([]types.ManagedObjectReference, error) {
	var m mo.VirtualMachine
	if err := vm.object(v).Properties(ctx, vm.Ref, []string{"snapshot"}, &m); err != nil {
		return nil, err
	}
	var found []types.ManagedObjectReference
	var walk func([]types.VirtualMachineSnapshotTree)
	walk = func(ts []types.VirtualMachineSnapshotTree) {
		for _, t := range ts {
			if t.Name == name {
				found = append(found, t.Snapshot)
			}
			walk(t.ChildSnapshotList)
		}
	}
	if m.Snapshot != nil {
		walk(m.Snapshot.RootSnapshotList)
	}
	return found, nil
}

// snapshot finds vm's one snapshot called name: NotFound when it has none,
// a non-retryable conflict when the name is ambiguous.
func (v *inv) snapshot(ctx context.Context, vm vmRec, name string) (types.ManagedObjectReference, error) {
	found, err := v.snapshots(ctx, vm, name)
	if err != nil {
		return types.ManagedObjectReference{}, err
	}
	switch len(found) {
	case 0:
		return types.ManagedObjectReference{}, apperrors.NotFound("%s: VM %q has no snapshot %q", v.s.where(), vm.Name, name)
	case 1:
		return found[0], nil
	}
	return types.ManagedObjectReference{}, nameTaken("%s: VM %q has %d snapshots called %q: remove or rename all but one", v.s.where(), vm.Name, len(found), name)
}

// SnapshotInput names a VM and one of its snapshots.
type SnapshotInput struct {
	Site     string
	VM       string
	Snapshot string
	// Description is stored with a new snapshot.
	Description string
	// Memory includes the memory of a powered-on VM in a new snapshot.
	Memory bool
}

// SnapshotResult says whether a snapshot was created or removed.
type SnapshotResult struct {
	Changed bool
}

// CreateSnapshot takes a snapshot of the VM called Snapshot unless the VM
// already has one of that name.
func (a *Activities) CreateSnapshot(ctx context.Context, in SnapshotInput) (SnapshotResult, error) {
	return a.snapshotOp(ctx, "CreateSnapshot", in, func(ctx context.Context, v *inv, vm vmRec) (bool, error) {
		found, err := v.snapshots(ctx, vm, in.Snapshot)
		if err != nil || len(found) > 0 {
			return false, err
		}
		_, err = runTask(ctx, fmt.Sprintf("snapshot %s as %q", vm.Name, in.Snapshot), func(ctx context.Context) (*object.Task, error) {
			return vm.object(v).CreateSnapshot(ctx, in.Snapshot, in.Description, in.Memory, false)
		})
		return err == nil, err
	})
}

// RemoveSnapshot deletes the VM's snapshot called Snapshot (consolidating
// its disks, keeping its children); a snapshot that is not there counts as
// removed.
func (a *Activities) RemoveSnapshot(ctx context.Context, in SnapshotInput) (SnapshotResult, error) {
	return a.snapshotOp(ctx, "RemoveSnapshot", in, func(ctx context.Context, v *inv, vm vmRec) (bool, error) {
		return v.removeSnapshot(ctx, vm, in.Snapshot)
	})
}

// removeSnapshot removes vm's snapshot called name if it has one.
func (v *inv) removeSnapshot(ctx context.Context, vm vmRec, name string) (bool, error) {
	found, err := v.snapshots(ctx, vm, name)
	if err != nil || len(found) == 0 {
		return false, err
	}
	if len(found) > 1 {
		return false, nameTaken("%s: VM %q has %d snapshots called %q: remove the extra ones in vCenter", v.s.where(), vm.Name, len(found), name)
	}
	consolidate := true
	_, err = runTask(ctx, fmt.Sprintf("remove snapshot %q of %s", name, vm.Name), func(ctx context.Context) (*object.Task, error) {
		res, err := methods.RemoveSnapshot_Task(ctx, v.c, &types.RemoveSnapshot_Task{
			This: found[0], RemoveChildren: false, Consolidate: &consolidate,
		})
		if err != nil {
			return nil, err
		}
		return object.NewTask(v.c, res.Returnval), nil
	})
	if err != nil && isAny(err, &types.ManagedObjectNotFound{}) {
		return false, nil // removed meanwhile
	}
	return err == nil, err
}

func (a *Activities) snapshotOp(ctx context.Context, op string, in SnapshotInput,
	f func(context.Context, *inv, vmRec) (bool, error)) (SnapshotResult, error) {
	s, err := a.site(in.Site)
	if err != nil {
		return SnapshotResult{}, err
	}
	if err := checkName(op+": VM", in.VM); err != nil {
		return SnapshotResult{}, err
	}
	if err := checkName(op+": Snapshot", in.Snapshot); err != nil {
		return SnapshotResult{}, err
	}
	var res SnapshotResult
	err = s.do(ctx, fmt.Sprintf("%s %q of VM %q", op, in.Snapshot, in.VM), func(c *vim25.Client) error {
		v, err := s.inventory(ctx, c)
		if err != nil {
			return err
		}
		vm, err := v.vm(ctx, in.VM)
		if err != nil {
			return err
		}
		res.Changed, err = f(ctx, v, vm)
		return err
	})
	return res, err
}
