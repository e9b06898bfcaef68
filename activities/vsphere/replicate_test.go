package vsphere

import (
	"bytes"
	"crypto/rand"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/microdc/mdc/apperrors"
	"github.com/microdc/mdc/lab/vcenter"
)

var replicaRole = map[string]string{TagRole: "web", TagService: "web"}

func replicaInput(vm, name string, at time.Time) ReplicateVMInput {
	return ReplicateVMInput{Site: "uk", VM: vm, TargetSite: "us", ReplicaName: name, ReplicatedAt: at, Tags: replicaRole}
}

// datastoreFile reads or writes a file on the lab site's datastore.
func datastoreFile(t *testing.T, v *vcenter.VCenter, path string, write []byte) []byte {
	t.Helper()
	ctx := testCtx(t)
	c := direct(t, v)
	finder := find.NewFinder(c.Client, true)
	dc, err := finder.Datacenter(ctx, v.Datacenter())
	require.NoError(t, err)
	finder.SetDatacenter(dc)
	ds, err := finder.Datastore(ctx, v.Datastore())
	require.NoError(t, err)
	if write != nil {
		p := soap.DefaultUpload
		p.ContentLength = int64(len(write))
		require.NoError(t, ds.Upload(ctx, bytes.NewReader(write), path, &p))
		return write
	}
	rc, _, err := ds.Download(ctx, path, nil)
	require.NoError(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	return b
}

func TestReplicateVMAcrossTwoVCenters(t *testing.T) {
	integration(t)
	l := startLab(t, true)
	ctx := testCtx(t)
	uk, us := l.vc["uk"], l.vc["us"]

	// Give the running source VM's disk some content to carry across.
	data := make([]byte, 512<<10)
	_, _ = rand.Read(data)
	datastoreFile(t, uk, "uk-web-1/disk1-flat.vmdk", data)

	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	in := replicaInput("uk-web-1", "uk-web-1-replica-20260102T030405Z", at)
	begin := time.Now()
	res, err := l.a.ReplicateVM(ctx, in)
	require.NoError(t, err)
	t.Logf("cross-vCenter replication of %d bytes took %s", res.Bytes, time.Since(begin).Round(time.Millisecond))
	require.True(t, res.Changed)
	require.Equal(t, "copy", res.Method)
	require.GreaterOrEqual(t, res.Bytes, int64(len(data)))
	require.Contains(t, us.Hosts(), res.Host)

	replica := vmState(t, us, in.ReplicaName)
	require.NotNil(t, replica)
	require.Equal(t, types.VirtualMachinePowerStatePoweredOff, replica.Runtime.PowerState)
	require.Equal(t, map[string]string{
		TagRole: "web", TagService: "web",
		TagReplicaOf: "uk-web-1", TagReplicaSite: "uk", TagReplicatedAt: "2026-01-02T03:04:05Z",
	}, tagsOf(replica.Config.ExtraConfig))
	source := vmState(t, uk, "uk-web-1")
	require.Equal(t, source.Config.Hardware.NumCPU, replica.Config.Hardware.NumCPU)
	require.Equal(t, source.Config.Hardware.MemoryMB, replica.Config.Hardware.MemoryMB)
	require.Equal(t, source.Config.GuestId, replica.Config.GuestId)
	devices := object.VirtualDeviceList(replica.Config.Hardware.Device)
	disks := devices.SelectByType((*types.VirtualDisk)(nil))
	require.Len(t, disks, 1)
	backing := disks[0].GetVirtualDevice().Backing.(*types.VirtualDiskFlatVer2BackingInfo)
	require.Equal(t, "[LocalDS_0] "+in.ReplicaName+"/disk1.vmdk", backing.FileName)
	require.Len(t, devices.SelectByType((*types.VirtualEthernetCard)(nil)), 1)
	require.Equal(t, data, datastoreFile(t, us, in.ReplicaName+"/disk1-flat.vmdk", nil), "the disk's content crossed over")

	// The source keeps running and its temporary snapshot is gone.
	require.Equal(t, types.VirtualMachinePowerStatePoweredOn, source.Runtime.PowerState)
	require.Empty(t, snapshotNames(source))

	n := countVMs(t, us)
	again, err := l.a.ReplicateVM(ctx, in)
	require.NoError(t, err)
	require.Equal(t, ReplicateVMResult{ReplicaName: in.ReplicaName, Host: res.Host, Method: "copy"}, again)
	require.Equal(t, n, countVMs(t, us))

	// A powered-off source is copied without a snapshot.
	powerOffDirect(t, uk, "uk-web-2")
	off, err := l.a.ReplicateVM(ctx, replicaInput("uk-web-2", "uk-web-2-replica-1", at))
	require.NoError(t, err)
	require.True(t, off.Changed)
	require.Empty(t, snapshotNames(vmState(t, uk, "uk-web-2")))
}

func TestReplicateVMWithinOneVCenterClones(t *testing.T) {
	integration(t)
	l := startLab(t, false)
	ctx := testCtx(t)
	uk := l.vc["uk"]
	dr := l.cfg["uk"]
	dr.Folder = makeFolder(t, uk, "/"+uk.Datacenter()+"/vm", "dr")
	a := New(map[string]SiteConfig{"uk": l.cfg["uk"], "uk-dr": dr})
	t.Cleanup(func() { Logout(ctx, a) })

	in := ReplicateVMInput{Site: "uk", VM: "uk-web-1", TargetSite: "uk-dr", ReplicaName: "uk-web-1-r1",
		ReplicatedAt: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), Tags: replicaRole}
	res, err := a.ReplicateVM(ctx, in)
	require.NoError(t, err)
	require.Equal(t, "clone", res.Method)
	require.True(t, res.Changed)

	reps, err := a.ListReplicas(ctx, ListReplicasInput{Site: "uk-dr", Of: "uk-web-1"})
	require.NoError(t, err)
	require.Len(t, reps.Replicas, 1)
	require.Equal(t, Replica{Name: "uk-web-1-r1", Of: "uk-web-1", SourceSite: "uk", ReplicatedAt: in.ReplicatedAt,
		PowerState: PoweredOff, Host: res.Host}, reps.Replicas[0])
	found, err := a.FindVMs(ctx, FindVMsInput{Site: "uk-dr"})
	require.NoError(t, err)
	require.Len(t, found.VMs, 1, "the replica lives in the dr folder only")
	require.Equal(t, map[string]string{TagRole: "web", TagService: "web", TagReplicaOf: "uk-web-1",
		TagReplicaSite: "uk", TagReplicatedAt: "2026-05-01T00:00:00Z"}, found.VMs[0].Tags, "no mdc.site=uk inherited")

	again, err := a.ReplicateVM(ctx, in)
	require.NoError(t, err)
	require.Equal(t, ReplicateVMResult{ReplicaName: "uk-web-1-r1", Host: res.Host, Method: "clone"}, again)
}

func TestReplicateVMBadInputAndFaults(t *testing.T) {
	integration(t)
	l := startLab(t, true)
	ctx := testCtx(t)
	at := time.Now()
	n := countVMs(t, l.vc["us"])
	for _, tc := range []struct {
		name string
		edit func(*ReplicateVMInput)
		typ  string
		msg  string
	}{
		{"unknown source site", func(in *ReplicateVMInput) { in.Site = "eu" }, apperrors.TypeBadInput, `unknown site "eu"`},
		{"unknown target site", func(in *ReplicateVMInput) { in.TargetSite = "eu" }, apperrors.TypeBadInput, `unknown site "eu"`},
		{"no replica name", func(in *ReplicateVMInput) { in.ReplicaName = "" }, apperrors.TypeBadInput, "ReplicaName is empty"},
		{"no time", func(in *ReplicateVMInput) { in.ReplicatedAt = time.Time{} }, apperrors.TypeBadInput, "ReplicatedAt"},
		{"tag clash", func(in *ReplicateVMInput) { in.Tags = map[string]string{TagReplicaOf: "other"} }, apperrors.TypeBadInput, "leave it out"},
		{"unknown VM", func(in *ReplicateVMInput) { in.VM = "uk-web-42" }, apperrors.TypeNotFound, `no VM "uk-web-42"`},
		{"name taken at the target", func(in *ReplicateVMInput) { in.ReplicaName = "us-db-1" }, apperrors.TypeConflict, "is not this replica"},
	} {
		in := replicaInput("uk-web-1", "uk-web-1-replica-x", at)
		tc.edit(&in)
		_, err := l.a.ReplicateVM(ctx, in)
		requireType(t, err, tc.typ)
		require.ErrorContains(t, err, tc.msg, tc.name)
		require.False(t, retryable(err), tc.name)
	}
	require.Equal(t, n, countVMs(t, l.vc["us"]))
	require.Empty(t, snapshotNames(vmState(t, l.vc["uk"], "uk-web-1")))

	// Either side down: retryable Unavailable, quickly, and nothing left behind.
	for _, down := range []string{"us", "uk"} {
		l.vc[down].Stop()
		begin := time.Now()
		_, err := l.a.ReplicateVM(ctx, replicaInput("uk-web-1", "uk-web-1-replica-y", at))
		requireType(t, err, apperrors.TypeUnavailable)
		require.True(t, retryable(err))
		require.Less(t, time.Since(begin), 2*time.Second)
		require.NoError(t, l.vc[down].Revive(ctx))
	}
	require.Empty(t, snapshotNames(vmState(t, l.vc["uk"], "uk-web-1")))
}

func TestListAndPruneReplicas(t *testing.T) {
	integration(t)
	l := startLab(t, true)
	ctx := testCtx(t)
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	// Made out of order, so the listing must sort by time, not name or age.
	for _, h := range []int{2, 0, 1, 3} {
		at := base.Add(time.Duration(h) * time.Hour)
		_, err := l.a.ReplicateVM(ctx, replicaInput("uk-db-1", "uk-db-1-r"+at.Format("150405"), at))
		require.NoError(t, err)
	}
	_, err := l.a.ReplicateVM(ctx, replicaInput("uk-web-1", "uk-web-1-r", base))
	require.NoError(t, err)

	list, err := l.a.ListReplicas(ctx, ListReplicasInput{Site: "us", Of: "uk-db-1"})
	require.NoError(t, err)
	var names []string
	for _, r := range list.Replicas {
		names = append(names, r.Name)
		require.Equal(t, "uk", r.SourceSite)
	}
	require.Equal(t, []string{"uk-db-1-r120000", "uk-db-1-r130000", "uk-db-1-r140000", "uk-db-1-r150000"}, names)
	all, err := l.a.ListReplicas(ctx, ListReplicasInput{Site: "us"})
	require.NoError(t, err)
	require.Len(t, all.Replicas, 5)

	// A failover promoted the oldest: it is in use and never pruned.
	_, err = l.a.PowerOn(ctx, PowerInput{Site: "us", Name: "uk-db-1-r120000"})
	require.NoError(t, err)
	pruned, err := l.a.PruneReplicas(ctx, PruneReplicasInput{Site: "us", Of: "uk-db-1", Keep: 2})
	require.NoError(t, err)
	require.Equal(t, PruneReplicasResult{
		Destroyed: []string{"uk-db-1-r130000"}, Kept: []string{"uk-db-1-r150000", "uk-db-1-r140000"},
		InUse: []string{"uk-db-1-r120000"}, Changed: true,
	}, pruned)
	again, err := l.a.PruneReplicas(ctx, PruneReplicasInput{Site: "us", Of: "uk-db-1", Keep: 2})
	require.NoError(t, err)
	require.False(t, again.Changed)
	require.Empty(t, again.Destroyed)
	require.Nil(t, vmState(t, l.vc["us"], "uk-db-1-r130000"))
	require.NotNil(t, vmState(t, l.vc["us"], "uk-web-1-r"), "other VMs' replicas are untouched")

	_, err = l.a.PruneReplicas(ctx, PruneReplicasInput{Site: "us", Of: "uk-db-1", Keep: 0})
	requireType(t, err, apperrors.TypeBadInput)
	_, err = l.a.PruneReplicas(ctx, PruneReplicasInput{Site: "us", Keep: 1})
	requireType(t, err, apperrors.TypeBadInput)
	_, err = l.a.ListReplicas(ctx, ListReplicasInput{Site: "moon"})
	requireType(t, err, apperrors.TypeBadInput)
	list, err = l.a.ListReplicas(ctx, ListReplicasInput{Site: "us", Of: "uk-db-1"})
	require.NoError(t, err)
	require.Len(t, list.Replicas, 3)
}
