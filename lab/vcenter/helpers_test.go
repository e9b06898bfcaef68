package vcenter

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"
)

// The package's address plan (lab Base 51): site uk on 127.51.0.0/16, us on
// 127.52.0.0/16. The lab package is not imported: it will import this one.
const (
	ukAddr   = "127.51.0.1:8989"
	usAddr   = "127.52.0.1:8989"
	testUser = "mdc-lab"
	testPass = "not-a-real-secret"
)

func integration(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts vcsim on loopback; skipped with -short")
	}
}

func testOptions(site, addr, stateFile string) Options {
	return Options{
		Site: site, Addr: addr, Username: testUser, Password: testPass,
		StateFile: stateFile, Service: "web", Template: "web-template",
		Snapshot: "golden", InitialWeb: 2,
		Logf: func(string, ...any) {},
	}
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// startVC starts a vCenter that the test closes when it ends.
func startVC(t *testing.T, o Options) *VCenter {
	t.Helper()
	begin := time.Now()
	from := "fresh"
	if _, err := os.Stat(o.StateFile); err == nil {
		from = "from " + filepath.Base(o.StateFile)
	}
	v, err := Start(testCtx(t), o)
	require.NoError(t, err)
	t.Logf("start-up of %s (%s): %s", o.Site, from, time.Since(begin))
	t.Cleanup(v.Close)
	return v
}

// login returns a client that the test logs out when it ends.
func login(t *testing.T, v *VCenter) *govmomi.Client {
	t.Helper()
	c, err := v.Client(testCtx(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Logout(context.Background()) })
	return c
}

func findVM(t *testing.T, c *govmomi.Client, v *VCenter, name string) *object.VirtualMachine {
	t.Helper()
	vm, err := find.NewFinder(c.Client, false).VirtualMachine(testCtx(t), v.Folder()+"/"+name)
	require.NoError(t, err)
	return vm
}

func runTask(t *testing.T, start func(context.Context) (*object.Task, error)) types.AnyType {
	t.Helper()
	ctx := testCtx(t)
	task, err := start(ctx)
	require.NoError(t, err)
	info, err := task.WaitForResult(ctx, nil)
	require.NoError(t, err)
	return info.Result
}

// cloneWeb makes a linked clone of the template from its snapshot, tagged
// and placed on host, as ScaleOut will, and returns it (powered off).
func cloneWeb(t *testing.T, c *govmomi.Client, v *VCenter, name, host string) *object.VirtualMachine {
	t.Helper()
	ctx := testCtx(t)
	finder := find.NewFinder(c.Client, false)
	dc, err := finder.Datacenter(ctx, v.Datacenter())
	require.NoError(t, err)
	finder.SetDatacenter(dc)
	tmpl := findVM(t, c, v, "web-template")
	snap, err := tmpl.FindSnapshot(ctx, "golden")
	require.NoError(t, err)
	folder, err := finder.Folder(ctx, v.Folder())
	require.NoError(t, err)
	pool, err := finder.ResourcePool(ctx, v.ResourcePool())
	require.NoError(t, err)
	h, err := finder.HostSystem(ctx, host)
	require.NoError(t, err)
	poolRef, hostRef := pool.Reference(), h.Reference()
	spec := types.VirtualMachineCloneSpec{
		Location: types.VirtualMachineRelocateSpec{
			Pool: &poolRef, Host: &hostRef,
			DiskMoveType: string(types.VirtualMachineRelocateDiskMoveOptionsCreateNewChildDiskBacking),
		},
		Snapshot: snap,
		Config: &types.VirtualMachineConfigSpec{ExtraConfig: []types.BaseOptionValue{
			&types.OptionValue{Key: TagRole, Value: "web"},
			&types.OptionValue{Key: TagService, Value: "web"},
			&types.OptionValue{Key: TagSite, Value: "uk"},
		}},
	}
	ref := runTask(t, func(ctx context.Context) (*object.Task, error) {
		return tmpl.Clone(ctx, folder, name, spec)
	})
	return object.NewVirtualMachine(c.Client, ref.(types.ManagedObjectReference))
}
