package vsphere

import (
	"context"
	"errors"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
	"go.temporal.io/sdk/temporal"

	"github.com/microdc/mdc/apperrors"
	"github.com/microdc/mdc/lab/vcenter"
)

// The package's address plan (lab Base 54): site uk's vcsim on 127.54.0.1,
// us's on 127.55.0.1; fresh simulator models (fault injection) on 127.56.0.1.
// Tests do not run in parallel: vcsim builds models through shared state.
const (
	ukAddr   = "127.54.0.1:8989"
	usAddr   = "127.55.0.1:8989"
	simHost  = "127.56.0.1"
	testUser = "mdc-test"
	testPass = "vsphere-test-secret-Zq9"
)

func integration(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts vcsim on loopback; skipped with -short")
	}
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// lab is two lab sites, uk and us, each with its own vcsim, and the
// activities configured for both.
type lab struct {
	vc  map[string]*vcenter.VCenter
	cfg map[string]SiteConfig
	a   *Activities
	dir string
}

func labOptions(site, addr, dir string) vcenter.Options {
	return vcenter.Options{
		Site: site, Addr: addr, Username: testUser, Password: testPass,
		StateFile: filepath.Join(dir, site+".json"), Service: "web", Template: "web-template",
		Snapshot: "golden", InitialWeb: 2, Logf: func(string, ...any) {},
	}
}

// startLab starts uk (and us, when two is true) and returns the lab; the
// test stops everything when it ends.
func startLab(t *testing.T, two bool) *lab {
	t.Helper()
	l := &lab{vc: map[string]*vcenter.VCenter{}, cfg: map[string]SiteConfig{}, dir: t.TempDir()}
	sites := map[string]string{"uk": ukAddr}
	if two {
		sites["us"] = usAddr
	}
	for name, addr := range sites {
		begin := time.Now()
		v, err := vcenter.Start(testCtx(t), labOptions(name, addr, l.dir))
		require.NoError(t, err)
		t.Logf("vcsim %s started in %s", name, time.Since(begin).Round(time.Millisecond))
		t.Cleanup(v.Close)
		l.vc[name] = v
		l.cfg[name] = siteConfig(v)
	}
	l.a = New(l.cfg)
	t.Cleanup(func() { Logout(context.Background(), l.a) })
	return l
}

func siteConfig(v *vcenter.VCenter) SiteConfig {
	return SiteConfig{
		URL: v.URL().String(), Insecure: true, Username: testUser, Password: testPass,
		Datacenter: v.Datacenter(), Cluster: v.Cluster(), Hosts: v.Hosts(),
		Datastore: v.Datastore(), Network: v.Network(), Folder: v.Folder(), ResourcePool: v.ResourcePool(),
	}
}

// sim is a fresh govmomi simulator model (one datacenter, one cluster of
// two hosts, VMs DC0_C0_RP0_VM0 and DC0_C0_RP0_VM1 powered on) whose
// service takes fault rules.
type sim struct {
	svc *simulator.Service
	cfg SiteConfig
	a   *Activities
}

func startSim(t *testing.T) *sim {
	t.Helper()
	model := simulator.VPX()
	model.Host = 0
	model.ClusterHost = 2
	model.Machine = 2
	model.Autostart = true
	require.NoError(t, model.Create())
	t.Cleanup(model.Remove)
	model.Service.Listen = &url.URL{Host: simHost + ":0", User: url.UserPassword(testUser, testPass)}
	srv := model.Service.NewServer()
	t.Cleanup(srv.Close)
	u := *srv.URL
	u.User = nil
	s := &sim{svc: model.Service, cfg: SiteConfig{
		URL: u.String(), Insecure: true, Username: testUser, Password: testPass,
		Datacenter: "DC0", Cluster: "DC0_C0", Datastore: "LocalDS_0", Network: "VM Network", Folder: "/DC0/vm",
	}}
	s.a = New(map[string]SiteConfig{"sim": s.cfg})
	t.Cleanup(func() { Logout(context.Background(), s.a) })
	return s
}

// requireType asserts err is an application error of type typ.
func requireType(t *testing.T, err error, typ string) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, typ, apperrors.TypeOf(err), "want a %s error, got: %v", typ, err)
}

// retryable reports whether Temporal would retry err.
func retryable(err error) bool {
	var ae *temporal.ApplicationError
	return !errors.As(err, &ae) || !ae.NonRetryable()
}

// direct is an independent client to the lab site, to check state behind
// the activities' back.
func direct(t *testing.T, v *vcenter.VCenter) *govmomi.Client {
	t.Helper()
	c, err := v.Client(testCtx(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Logout(context.Background()) })
	return c
}

// vmState reads a VM of the lab site directly: nil when there is none.
func vmState(t *testing.T, v *vcenter.VCenter, name string) *mo.VirtualMachine {
	t.Helper()
	ctx := testCtx(t)
	c := direct(t, v)
	vm, err := find.NewFinder(c.Client, true).VirtualMachine(ctx, v.Folder()+"/"+name)
	if _, ok := err.(*find.NotFoundError); ok {
		return nil
	}
	require.NoError(t, err)
	var m mo.VirtualMachine
	require.NoError(t, vm.Properties(ctx, vm.Reference(), []string{"name", "runtime", "config", "snapshot", "guest"}, &m))
	return &m
}

// countVMs counts the VMs in the lab site's folder.
func countVMs(t *testing.T, v *vcenter.VCenter) int {
	t.Helper()
	c := direct(t, v)
	vms, err := find.NewFinder(c.Client, true).VirtualMachineList(testCtx(t), v.Folder()+"/*")
	require.NoError(t, err)
	return len(vms)
}

// makeFolder creates VM folder name under the folder at inventory path parent.
func makeFolder(t *testing.T, v *vcenter.VCenter, parent, name string) string {
	t.Helper()
	ctx := testCtx(t)
	c := direct(t, v)
	root, err := find.NewFinder(c.Client, true).Folder(ctx, parent)
	require.NoError(t, err)
	_, err = root.CreateFolder(ctx, name)
	require.NoError(t, err)
	return parent + "/" + name
}

// snapshotNames lists a VM's snapshot names, depth first.
func snapshotNames(m *mo.VirtualMachine) []string {
	var out []string
	var walk func([]types.VirtualMachineSnapshotTree)
	walk = func(ts []types.VirtualMachineSnapshotTree) {
		for _, s := range ts {
			out = append(out, s.Name)
			walk(s.ChildSnapshotList)
		}
	}
	if m.Snapshot != nil {
		walk(m.Snapshot.RootSnapshotList)
	}
	return out
}

// powerOffDirect powers a lab VM off behind the activities' back.
func powerOffDirect(t *testing.T, v *vcenter.VCenter, name string) {
	t.Helper()
	ctx := testCtx(t)
	c := direct(t, v)
	vm, err := find.NewFinder(c.Client, true).VirtualMachine(ctx, v.Folder()+"/"+name)
	require.NoError(t, err)
	task, err := vm.PowerOff(ctx)
	require.NoError(t, err)
	require.NoError(t, task.Wait(ctx))
}
