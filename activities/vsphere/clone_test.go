package vsphere

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/microdc/mdc/apperrors"
)

var webTags = map[string]string{TagRole: "web", TagService: "web", TagSite: "uk"}

func TestCloneVMIsIdempotentAndPlacesOnTheLeastLoadedHost(t *testing.T) {
	integration(t)
	l := startLab(t, false)
	ctx := testCtx(t)
	hosts := l.vc["uk"].Hosts()
	in := CloneVMInput{Site: "uk", Source: "web-template", Snapshot: "golden", Name: "uk-web-3", Tags: webTags, PowerOn: true}

	// uk-web-1 runs on the first host; uk-web-2 and uk-db-1 on the second.
	res, err := l.a.CloneVM(ctx, in)
	require.NoError(t, err)
	require.Equal(t, CloneVMResult{Name: "uk-web-3", Host: hosts[0], PowerState: PoweredOn, Changed: true}, res)
	vm := vmState(t, l.vc["uk"], "uk-web-3")
	require.NotNil(t, vm)
	require.Equal(t, types.VirtualMachinePowerStatePoweredOn, vm.Runtime.PowerState)
	require.Equal(t, webTags, tagsOf(vm.Config.ExtraConfig))
	n := countVMs(t, l.vc["uk"])

	again, err := l.a.CloneVM(ctx, in)
	require.NoError(t, err)
	require.Equal(t, CloneVMResult{Name: "uk-web-3", Host: hosts[0], PowerState: PoweredOn, Changed: false}, again)
	require.Equal(t, n, countVMs(t, l.vc["uk"]))

	// A crash between the clone and the power-on: the re-run powers it on.
	powerOffDirect(t, l.vc["uk"], "uk-web-3")
	resumed, err := l.a.CloneVM(ctx, in)
	require.NoError(t, err)
	require.True(t, resumed.Changed)
	require.Equal(t, PoweredOn, resumed.PowerState)

	// Now both hosts run two VMs: the tie goes to the first; an explicit
	// host, a datastore and a sub-folder are honoured; no power-on.
	sub := makeFolder(t, l.vc["uk"], l.vc["uk"].Folder(), "extra")
	off, err := l.a.CloneVM(ctx, CloneVMInput{Site: "uk", Source: "uk-web-1", Name: "uk-web-4", Host: hosts[1],
		Datastore: l.vc["uk"].Datastore(), Folder: sub, Tags: webTags})
	require.NoError(t, err)
	require.Equal(t, CloneVMResult{Name: "uk-web-4", Host: hosts[1], PowerState: PoweredOff, Changed: true}, off)
}

func TestCloneVMRefusesANameTakenByAnotherVM(t *testing.T) {
	integration(t)
	l := startLab(t, false)
	ctx := testCtx(t)
	n := countVMs(t, l.vc["uk"])
	_, err := l.a.CloneVM(ctx, CloneVMInput{Site: "uk", Source: "web-template", Name: "uk-db-1", Tags: webTags})
	requireType(t, err, apperrors.TypeConflict)
	require.False(t, retryable(err), "a taken name does not free itself: %v", err)
	require.ErrorContains(t, err, `"uk-db-1" already exists`)
	require.Equal(t, n, countVMs(t, l.vc["uk"]))
	require.Equal(t, "db", tagsOf(vmState(t, l.vc["uk"], "uk-db-1").Config.ExtraConfig)[TagRole])
}

func TestCloneVMBadInput(t *testing.T) {
	integration(t)
	l := startLab(t, false)
	ctx := testCtx(t)
	ok := CloneVMInput{Site: "uk", Source: "web-template", Snapshot: "golden", Name: "uk-web-9", Tags: webTags}
	n := countVMs(t, l.vc["uk"])
	for _, tc := range []struct {
		name string
		edit func(*CloneVMInput)
		typ  string
		msg  string
	}{
		{"unknown site", func(in *CloneVMInput) { in.Site = "mars" }, apperrors.TypeBadInput, "configured sites are uk"},
		{"empty name", func(in *CloneVMInput) { in.Name = "" }, apperrors.TypeBadInput, "Name is empty"},
		{"slash in name", func(in *CloneVMInput) { in.Name = "a/b" }, apperrors.TypeBadInput, "not a usable"},
		{"empty source", func(in *CloneVMInput) { in.Source = " " }, apperrors.TypeBadInput, "Source is empty"},
		{"bad tag key", func(in *CloneVMInput) { in.Tags = map[string]string{"role": "web"} }, apperrors.TypeBadInput, `must start with "mdc."`},
		{"unknown source", func(in *CloneVMInput) { in.Source = "no-such-vm" }, apperrors.TypeNotFound, `no VM "no-such-vm"`},
		{"unknown snapshot", func(in *CloneVMInput) { in.Snapshot = "silver" }, apperrors.TypeNotFound, `no snapshot "silver"`},
		{"unknown host", func(in *CloneVMInput) { in.Host = "esx-99" }, apperrors.TypeNotFound, `no host "esx-99"`},
		{"unknown datastore", func(in *CloneVMInput) { in.Datastore = "nfs-9" }, apperrors.TypeNotFound, `datastore "nfs-9"`},
		{"unknown folder", func(in *CloneVMInput) { in.Folder = "mdc/nope" }, apperrors.TypeNotFound, "VM folder /DC0/vm/mdc/nope"},
		{"folder outside the site", func(in *CloneVMInput) { in.Folder = "/DC0/vm" }, apperrors.TypeBadInput, "outside the site's folder"},
	} {
		in := ok
		tc.edit(&in)
		_, err := l.a.CloneVM(ctx, in)
		requireType(t, err, tc.typ)
		require.ErrorContains(t, err, tc.msg, tc.name)
		require.False(t, retryable(err), "%s: %v", tc.name, err)
	}
	require.Equal(t, n, countVMs(t, l.vc["uk"]), "bad input must not create anything")
	require.Nil(t, vmState(t, l.vc["uk"], "uk-web-9"))
}

func TestCloneVMOntoAHostInMaintenanceIsAConflict(t *testing.T) {
	integration(t)
	l := startLab(t, false)
	ctx := testCtx(t)
	hosts := l.vc["uk"].Hosts()
	for _, vm := range []string{"uk-web-1"} { // empty the first host
		_, err := l.a.RelocateVM(ctx, RelocateVMInput{Site: "uk", Name: vm, Host: hosts[1]})
		require.NoError(t, err)
	}
	_, err := l.a.EnterMaintenance(ctx, EnterMaintenanceInput{Site: "uk", Host: hosts[0]})
	require.NoError(t, err)

	_, err = l.a.CloneVM(ctx, CloneVMInput{Site: "uk", Source: "web-template", Name: "uk-web-5", Host: hosts[0], Tags: webTags})
	requireType(t, err, apperrors.TypeConflict)
	require.True(t, retryable(err))
	require.ErrorContains(t, err, "maintenance")

	// Automatic placement skips it even though it is the least loaded.
	res, err := l.a.CloneVM(ctx, CloneVMInput{Site: "uk", Source: "web-template", Name: "uk-web-5", Tags: webTags})
	require.NoError(t, err)
	require.Equal(t, hosts[1], res.Host)
}

func TestCloneVMFaults(t *testing.T) {
	integration(t)
	s := startSim(t)
	hook := installTaskHook(s)
	ctx := testCtx(t)
	in := CloneVMInput{Site: "sim", Source: "DC0_C0_RP0_VM0", Name: "clone-1", Tags: webTags, PowerOn: true}

	// A fault on the call itself.
	s.svc.AddFaultRule(&simulator.FaultInjectionRule{
		MethodName: "CloneVM_Task", ObjectType: "*", ObjectName: "*", Probability: 1, MaxCount: 1, Enabled: true,
		FaultType: simulator.FaultTypeNoPermission,
	})
	_, err := s.a.CloneVM(ctx, in)
	requireType(t, err, apperrors.TypeRejected)
	require.ErrorContains(t, err, "lacks a privilege")
	require.ErrorContains(t, err, "site sim")

	// A task that fails halfway through.
	hook.fail("CloneVm", &types.InsufficientResourcesFault{}, 0, 1)
	_, err = s.a.CloneVM(ctx, in)
	requireType(t, err, apperrors.TypeConflict)
	require.True(t, retryable(err))
	require.ErrorContains(t, err, "InsufficientResources")

	// The clone works, but its power-on task fails: the retry finds the
	// clone and only powers it on.
	hook.fail("PowerOn", &types.InvalidState{}, 0, 1)
	_, err = s.a.CloneVM(ctx, in)
	requireType(t, err, apperrors.TypeConflict)
	res, err := s.a.CloneVM(ctx, in)
	require.NoError(t, err)
	require.Equal(t, PoweredOn, res.PowerState)
	require.True(t, res.Changed)

	// A concurrent run made the clone between this run's look-up and its
	// clone call: DuplicateName, and the VM (with our tags) is taken as done.
	hook.set("CloneVm", hookAction{fault: &types.DuplicateName{Name: "clone-2"}, count: 1, realFirst: true})
	raced, err := s.a.CloneVM(ctx, CloneVMInput{Site: "sim", Source: "DC0_C0_RP0_VM0", Name: "clone-2", Tags: webTags})
	require.NoError(t, err)
	require.Equal(t, CloneVMResult{Name: "clone-2", Host: raced.Host, PowerState: PoweredOff, Changed: false}, raced)
	require.NotEmpty(t, raced.Host)
}
