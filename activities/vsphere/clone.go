package vsphere

import (
	"context"
	"fmt"
	"strings"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/microdc/mdc/apperrors"
)

// CloneVMInput says what to clone, from where and where to put the copy.
type CloneVMInput struct {
	Site string
	// Source is the VM or template to copy, in the site's folder.
	Source string
	// Snapshot, when set, makes a linked clone from this snapshot of Source
	// (vSphere shares the snapshot's disks; vcsim makes a full copy).
	Snapshot string
	// Name of the new VM; it must not be used by another VM of the site.
	Name string
	// Host to run on; empty picks the least-loaded host (fewest powered-on
	// VMs) among the site's placement hosts that are not in maintenance.
	Host string
	// Datastore for the copy; empty is the site's datastore.
	Datastore string
	// Folder for the copy (inside the site's folder); empty is the site's folder.
	Folder string
	// Tags are written to the copy's ExtraConfig (keys start with "mdc."). A
	// VM of the same name that lacks them is not ours: the clone fails.
	Tags map[string]string
	// PowerOn powers the copy on once it exists.
	PowerOn bool
}

// CloneVMResult is the VM as it now is.
type CloneVMResult struct {
	Name string
	Host string
	// PowerState of the VM after the call.
	PowerState string
	// Changed is false when the VM already existed with its tags (and was
	// already on when PowerOn was asked).
	Changed bool
}

// CloneVM copies Source to a new VM. A VM of that name that carries the
// requested tags is taken as an earlier run's clone: it is powered on if
// asked and reported with Changed=false. It heartbeats while the clone task
// runs.
func (a *Activities) CloneVM(ctx context.Context, in CloneVMInput) (CloneVMResult, error) {
	s, err := a.site(in.Site)
	if err != nil {
		return CloneVMResult{}, err
	}
	if err := checkName("CloneVM: Source", in.Source); err != nil {
		return CloneVMResult{}, err
	}
	if err := checkName("CloneVM: Name", in.Name); err != nil {
		return CloneVMResult{}, err
	}
	if err := checkTags("CloneVM: Tags", in.Tags); err != nil {
		return CloneVMResult{}, err
	}
	var res CloneVMResult
	err = s.do(ctx, fmt.Sprintf("clone %q to %q", in.Source, in.Name), func(c *vim25.Client) error {
		v, err := s.inventory(ctx, c)
		if err != nil {
			return err
		}
		res, err = v.clone(ctx, in)
		return err
	})
	return res, err
}

func (v *inv) clone(ctx context.Context, in CloneVMInput) (CloneVMResult, error) {
	if existing, ok, err := v.lookup(ctx, in.Name); err != nil || ok {
		if err != nil {
			return CloneVMResult{}, err
		}
		return v.adoptClone(ctx, existing, in)
	}
	src, err := v.vm(ctx, in.Source)
	if err != nil {
		return CloneVMResult{}, err
	}
	spec := types.VirtualMachineCloneSpec{
		Config: &types.VirtualMachineConfigSpec{ExtraConfig: extraConfig(in.Tags)},
	}
	if in.Snapshot != "" {
		snap, err := v.snapshot(ctx, src, in.Snapshot)
		if err != nil {
			return CloneVMResult{}, err
		}
		spec.Snapshot = &snap
		spec.Location.DiskMoveType = string(types.VirtualMachineRelocateDiskMoveOptionsCreateNewChildDiskBacking)
	}
	folder, err := v.targetFolder(ctx, in.Folder)
	if err != nil {
		return CloneVMResult{}, err
	}
	host, err := v.placement(ctx, in.Host)
	if err != nil {
		return CloneVMResult{}, err
	}
	ds, err := v.datastore(ctx, in.Datastore)
	if err != nil {
		return CloneVMResult{}, err
	}
	pool, err := v.pool(ctx)
	if err != nil {
		return CloneVMResult{}, err
	}
	hostRef, dsRef, poolRef := host.Ref, ds.Reference(), pool.Reference()
	spec.Location.Host, spec.Location.Datastore, spec.Location.Pool = &hostRef, &dsRef, &poolRef

	_, err = runTask(ctx, fmt.Sprintf("clone %s to %s on %s", in.Source, in.Name, host.Name),
		func(ctx context.Context) (*object.Task, error) {
			return src.object(v).Clone(ctx, folder, in.Name, spec)
		})
	if fault.Is(err, &types.DuplicateName{}) {
		// Another run (or a retry whose first answer was lost) made it.
		existing, verr := v.vm(ctx, in.Name)
		if verr != nil {
			return CloneVMResult{}, verr
		}
		return v.adoptClone(ctx, existing, in)
	}
	if err != nil {
		return CloneVMResult{}, err
	}
	res := CloneVMResult{Name: in.Name, Host: host.Name, PowerState: PoweredOff, Changed: true}
	if in.PowerOn {
		vm, err := v.vm(ctx, in.Name)
		if err != nil {
			return res, err
		}
		if _, err := v.powerOn(ctx, vm); err != nil {
			return res, err
		}
		res.PowerState = PoweredOn
	}
	return res, nil
}

// adoptClone accepts an existing VM as the clone if it carries the tags
// asked for, and powers it on if asked.
func (v *inv) adoptClone(ctx context.Context, vm vmRec, in CloneVMInput) (CloneVMResult, error) {
	if !hasTags(vm.Tags, in.Tags) || vm.Template {
		return CloneVMResult{}, nameTaken("%s: a VM called %q already exists but is not the requested clone (it has tags %v, template=%t; wanted tags %v): pick another name or remove that VM",
			v.s.where(), vm.Name, vm.Tags, vm.Template, in.Tags)
	}
	res := CloneVMResult{Name: vm.Name, Host: vm.Host, PowerState: vm.PowerState}
	if in.PowerOn && vm.PowerState != PoweredOn {
		changed, err := v.powerOn(ctx, vm)
		if err != nil {
			return res, err
		}
		res.Changed = changed
		res.PowerState = PoweredOn
	}
	return res, nil
}

// targetFolder finds the folder a new VM goes into, which must be inside the
// site's folder so that later lookups (which search it) find the VM.
func (v *inv) targetFolder(ctx context.Context, p string) (*object.Folder, error) {
	full, root := v.folderPath(p), v.folderPath("")
	if p != "" && full != root && !strings.HasPrefix(full, root+"/") {
		return nil, apperrors.BadInput("%s: folder %s is outside the site's folder %s, where mdc looks for VMs: pick a folder inside it", v.s.where(), full, root)
	}
	return v.folder(ctx, p)
}
