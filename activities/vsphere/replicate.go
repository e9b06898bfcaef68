package vsphere

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"strings"
	"time"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/microdc/mdc/apperrors"
)

// ReplicateVMInput says which VM to copy to which site, under which name.
type ReplicateVMInput struct {
	// Site is the source site, where VM runs.
	Site string
	VM   string
	// TargetSite is where the replica goes.
	TargetSite string
	// ReplicaName is chosen by the workflow (e.g. "<vm>-replica-<timestamp>")
	// so that a retry finds the replica an earlier attempt made.
	ReplicaName string
	// ReplicatedAt is recorded in the replica's mdc.replicated-at tag (a
	// workflow passes workflow.Now, keeping the input deterministic).
	ReplicatedAt time.Time
	// Tags are extra tags for the replica (e.g. its role and service, for
	// when a failover powers it on). The replica tags are added to them.
	Tags map[string]string
}

// ReplicateVMResult describes the replica.
type ReplicateVMResult struct {
	ReplicaName string
	Host        string
	// Method is "clone" when both sites share one vCenter, "copy" when the
	// disks were copied between two vCenters' datastores.
	Method string
	// Bytes copied between the datastores ("copy" only).
	Bytes int64
	// Changed is false when the replica already existed.
	Changed bool
}

// ReplicateVM makes a powered-off copy of a VM at the target site, tagged
// mdc.replica-of, mdc.replica-site and mdc.replicated-at. When both sites
// are served by the same vCenter (same URL) it clones; otherwise it copies
// the VM's disks from the source datastore to the target datastore over
// vSphere's datastore HTTP interface (a running VM is copied from a
// temporary snapshot, so the copy is crash-consistent) and creates a VM with
// the same CPUs, memory, guest OS, disks and NICs around them. A replica of
// that name with the same replica tags is an earlier run's: Changed=false.
func (a *Activities) ReplicateVM(ctx context.Context, in ReplicateVMInput) (ReplicateVMResult, error) {
	src, err := a.site(in.Site)
	if err != nil {
		return ReplicateVMResult{}, err
	}
	dst, err := a.site(in.TargetSite)
	if err != nil {
		return ReplicateVMResult{}, err
	}
	tags, err := replicaTags(in)
	if err != nil {
		return ReplicateVMResult{}, err
	}
	if !sameVCenter(src, dst) {
		return a.copyReplica(ctx, src, dst, in, tags)
	}
	// One vCenter: the target's session sees the source VM too.
	var res ReplicateVMResult
	err = dst.do(ctx, fmt.Sprintf("replicate VM %q of site %s as %q", in.VM, in.Site, in.ReplicaName), func(c *vim25.Client) error {
		tv, err := dst.inventory(ctx, c)
		if err != nil {
			return err
		}
		if done, ok, err := tv.existingReplica(ctx, in.ReplicaName, tags); err != nil || ok {
			res = done
			res.Method = "clone"
			return err
		}
		sv, err := src.inventory(ctx, c)
		if err != nil {
			return err
		}
		vm, err := sv.vm(ctx, in.VM)
		if err != nil {
			return err
		}
		res, err = tv.cloneReplica(ctx, vm, in.ReplicaName, tags)
		return err
	})
	return res, err
}

// replicaTags validates the input and returns the replica's tags.
func replicaTags(in ReplicateVMInput) (map[string]string, error) {
	if err := checkName("ReplicateVM: VM", in.VM); err != nil {
		return nil, err
	}
	if err := checkName("ReplicateVM: ReplicaName", in.ReplicaName); err != nil {
		return nil, err
	}
	if in.ReplicatedAt.IsZero() {
		return nil, apperrors.BadInput("ReplicateVM: ReplicatedAt is not set: pass the replication time (workflow.Now)")
	}
	if err := checkTags("ReplicateVM: Tags", in.Tags); err != nil {
		return nil, err
	}
	tags := maps.Clone(in.Tags)
	if tags == nil {
		tags = map[string]string{}
	}
	for k, v := range map[string]string{
		TagReplicaOf: in.VM, TagReplicaSite: in.Site, TagReplicatedAt: in.ReplicatedAt.UTC().Format(time.RFC3339),
	} {
		if old, ok := tags[k]; ok && old != v {
			return nil, apperrors.BadInput("ReplicateVM: Tags sets %s=%q, which ReplicateVM sets itself to %q: leave it out", k, old, v)
		}
		tags[k] = v
	}
	return tags, nil
}

// sameVCenter reports whether two sites are served by one vCenter.
func sameVCenter(a, b *site) bool {
	norm := func(u *url.URL) string {
		host := strings.ToLower(u.Hostname())
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
		}
		return strings.ToLower(u.Scheme) + "://" + host + ":" + port + strings.TrimSuffix(u.Path, "/")
	}
	return norm(a.url) == norm(b.url)
}

// existingReplica looks for a VM called name at the site: ok when it is the
// replica with tags (an earlier run's), a non-retryable conflict when
// something else has the name.
func (v *inv) existingReplica(ctx context.Context, name string, tags map[string]string) (ReplicateVMResult, bool, error) {
	vm, ok, err := v.lookup(ctx, name)
	if err != nil || !ok {
		return ReplicateVMResult{}, false, err
	}
	if !hasTags(vm.Tags, tags) || vm.Template {
		return ReplicateVMResult{}, false, nameTaken("%s: a VM called %q exists but is not this replica (tags %v; wanted %v): pick another replica name or remove that VM",
			v.s.where(), name, vm.Tags, tags)
	}
	return ReplicateVMResult{ReplicaName: name, Host: vm.Host}, true, nil
}

// cloneReplica clones vm into this (target) site as a powered-off replica.
// vSphere copies the source's ExtraConfig into a clone (vcsim does not), so
// the source's other mdc tags are blanked: a replica carries exactly tags.
func (v *inv) cloneReplica(ctx context.Context, vm vmRec, name string, tags map[string]string) (ReplicateVMResult, error) {
	ec := extraConfig(tags)
	for k := range vm.Tags {
		if _, keep := tags[k]; !keep {
			ec = append(ec, &types.OptionValue{Key: k, Value: ""}) // "" removes the key
		}
	}
	folder, err := v.folder(ctx, "")
	if err != nil {
		return ReplicateVMResult{}, err
	}
	host, err := v.placement(ctx, "")
	if err != nil {
		return ReplicateVMResult{}, err
	}
	ds, err := v.datastore(ctx, "")
	if err != nil {
		return ReplicateVMResult{}, err
	}
	pool, err := v.pool(ctx)
	if err != nil {
		return ReplicateVMResult{}, err
	}
	hostRef, dsRef, poolRef := host.Ref, ds.Reference(), pool.Reference()
	spec := types.VirtualMachineCloneSpec{
		Location: types.VirtualMachineRelocateSpec{
			Host: &hostRef, Datastore: &dsRef, Pool: &poolRef,
			DiskMoveType: string(types.VirtualMachineRelocateDiskMoveOptionsMoveAllDiskBackingsAndConsolidate),
		},
		Config: &types.VirtualMachineConfigSpec{ExtraConfig: ec},
	}
	_, err = runTask(ctx, fmt.Sprintf("clone %s to replica %s on %s", vm.Name, name, host.Name), func(ctx context.Context) (*object.Task, error) {
		return vm.object(v).Clone(ctx, folder, name, spec)
	})
	if fault.Is(err, &types.DuplicateName{}) {
		res, ok, verr := v.existingReplica(ctx, name, tags)
		if verr == nil && !ok {
			verr = apperrors.Conflict("%s: cloning replica %q reported a duplicate name, but no such VM is in the site's folder: retry", v.s.where(), name)
		}
		res.Method = "clone"
		return res, verr
	}
	if err != nil {
		return ReplicateVMResult{}, err
	}
	return ReplicateVMResult{ReplicaName: name, Host: host.Name, Method: "clone", Changed: true}, nil
}
