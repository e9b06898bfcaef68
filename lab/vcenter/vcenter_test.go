package vcenter

import (
	"context"
	"errors"
	"net"
	"net/url"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// listVMs reads every VM the way a vSphere client would.
func listVMs(t *testing.T, c *govmomi.Client) map[string]mo.VirtualMachine {
	t.Helper()
	ctx := testCtx(t)
	cv, err := view.NewManager(c.Client).CreateContainerView(ctx, c.ServiceContent.RootFolder, []string{"VirtualMachine"}, true)
	require.NoError(t, err)
	defer func() { _ = cv.Destroy(ctx) }()
	var vms []mo.VirtualMachine
	require.NoError(t, cv.Retrieve(ctx, []string{"VirtualMachine"},
		[]string{"name", "parent", "runtime", "config", "snapshot", "guest"}, &vms))
	out := map[string]mo.VirtualMachine{}
	for _, vm := range vms {
		out[vm.Name] = vm
	}
	return out
}

func TestStartServesTheSiteInventory(t *testing.T) {
	integration(t)
	v := startVC(t, testOptions("uk", ukAddr, ""))
	require.Equal(t, "https://"+ukAddr+"/sdk", v.URL().String())
	require.Nil(t, v.URL().User)
	require.Equal(t, "/DC0/vm/mdc", v.Folder())
	require.Len(t, v.Hosts(), 2)

	c := login(t, v)
	require.True(t, c.IsVC())
	vms := listVMs(t, c)
	names := make([]string, 0, len(vms))
	for n := range vms {
		names = append(names, n)
	}
	sort.Strings(names)
	require.Equal(t, []string{"uk-db-1", "uk-web-1", "uk-web-2", "web-template"}, names)

	tmpl := vms["web-template"]
	require.True(t, tmpl.Config.Template)
	require.NotNil(t, tmpl.Snapshot)
	require.Equal(t, "golden", tmpl.Snapshot.RootSnapshotList[0].Name)
	_, err := findVM(t, c, v, "web-template").FindSnapshot(testCtx(t), "golden")
	require.NoError(t, err)

	hosts := map[string]bool{}
	for _, name := range []string{"uk-web-1", "uk-web-2"} {
		vm := vms[name]
		require.Equal(t, types.VirtualMachinePowerStatePoweredOn, vm.Runtime.PowerState, name)
		require.Equal(t, map[string]string{TagRole: "web", TagService: "web", TagSite: "uk"},
			extraConfig(vm.Config.ExtraConfig, TagPrefix), name)
		hosts[vm.Runtime.Host.Value] = true
		findVM(t, c, v, name) // it is in the mdc folder
	}
	require.Len(t, hosts, 2, "web VMs must be spread across both hosts")
	db := vms["uk-db-1"]
	require.Equal(t, types.VirtualMachinePowerStatePoweredOn, db.Runtime.PowerState)
	require.Equal(t, "db", extraConfig(db.Config.ExtraConfig, TagPrefix)[TagRole])

	// vcsim must reject anything but the configured credentials.
	bad, err := govmomi.NewClient(testCtx(t), v.URL(), true)
	require.NoError(t, err)
	for _, u := range []struct{ user, pass string }{{testUser, "wrong"}, {"user", "pass"}, {"other", testPass}} {
		err = bad.SessionManager.Login(testCtx(t), url.UserPassword(u.user, u.pass))
		require.Error(t, err, "login as %s must fail", u.user)
		require.True(t, fault.Is(err, &types.InvalidLogin{}), "want InvalidLogin, got %v", err)
	}
}

func TestTwoSitesHaveIndependentInventories(t *testing.T) {
	integration(t)
	// Start both at once: vcsim must not mix them up while building.
	type started struct {
		v   *VCenter
		err error
	}
	ch := make(chan started, 2)
	for _, o := range []Options{testOptions("uk", ukAddr, ""), testOptions("us", usAddr, "")} {
		go func() {
			v, err := Start(testCtx(t), o)
			ch <- started{v, err}
		}()
	}
	sites := map[string]*VCenter{}
	for range 2 {
		s := <-ch
		require.NoError(t, s.err)
		t.Cleanup(s.v.Close)
		sites[s.v.o.Site] = s.v
	}
	uk, us := login(t, sites["uk"]), login(t, sites["us"])
	ukVMs, usVMs := listVMs(t, uk), listVMs(t, us)
	require.Contains(t, ukVMs, "uk-web-1")
	require.NotContains(t, ukVMs, "us-web-1")
	require.Contains(t, usVMs, "us-web-1")
	require.NotContains(t, usVMs, "uk-web-1")
	require.Equal(t, "us", extraConfig(usVMs["us-db-1"].Config.ExtraConfig, TagPrefix)[TagSite])

	runTask(t, findVM(t, uk, sites["uk"], "uk-web-1").PowerOff)
	require.Equal(t, types.VirtualMachinePowerStatePoweredOff, listVMs(t, uk)["uk-web-1"].Runtime.PowerState)
	for name, vm := range listVMs(t, us) {
		if name != "web-template" {
			require.Equal(t, types.VirtualMachinePowerStatePoweredOn, vm.Runtime.PowerState, name)
		}
	}
}

func TestStopRefusesConnectionsAndReviveServesTheSameInventory(t *testing.T) {
	integration(t)
	v := startVC(t, testOptions("uk", ukAddr, ""))
	c := login(t, v)
	runTask(t, findVM(t, c, v, "uk-web-2").PowerOff)
	before := listVMs(t, c)
	tmpl := findVM(t, c, v, "web-template")

	v.Stop()
	_, err := v.Client(testCtx(t))
	require.Error(t, err)
	require.True(t, errors.Is(err, syscall.ECONNREFUSED), "want connection refused, got %v", err)
	_, err = net.DialTimeout("tcp", ukAddr, time.Second)
	require.Error(t, err)
	// An existing session's client gets a connection error too.
	_, err = tmpl.PowerState(testCtx(t))
	require.Error(t, err)
	v.Stop() // idempotent

	require.NoError(t, v.Revive(testCtx(t)))
	require.NoError(t, v.Revive(testCtx(t))) // idempotent
	after := listVMs(t, login(t, v))
	require.Len(t, after, len(before))
	for name, vm := range before {
		require.Equal(t, vm.Self, after[name].Self, name)
		require.Equal(t, vm.Runtime.PowerState, after[name].Runtime.PowerState, name)
		require.Equal(t, *vm.Runtime.Host, *after[name].Runtime.Host, name)
	}
	require.Equal(t, types.VirtualMachinePowerStatePoweredOff, after["uk-web-2"].Runtime.PowerState)
}

func TestPowerOnTaskLatency(t *testing.T) {
	integration(t)
	v := startVC(t, testOptions("uk", ukAddr, ""))
	c := login(t, v)
	vm := findVM(t, c, v, "uk-web-1")
	var total, worst time.Duration
	const n = 10
	for range n {
		runTask(t, vm.PowerOff)
		begin := time.Now()
		runTask(t, vm.PowerOn)
		d := time.Since(begin)
		total += d
		worst = max(worst, d)
	}
	t.Logf("power-on task (start + wait): mean %s, worst %s over %d", total/n, worst, n)
	require.Less(t, worst, 5*time.Second)
}

func TestStartRejectsABusyAddressAndBadOptions(t *testing.T) {
	integration(t)
	startVC(t, testOptions("uk", ukAddr, ""))
	_, err := Start(testCtx(t), testOptions("uk", ukAddr, ""))
	require.ErrorContains(t, err, "listen on "+ukAddr)

	o := testOptions("uk", ukAddr, "")
	o.Password = ""
	_, err = Start(context.Background(), o)
	require.ErrorContains(t, err, "Password")
	o = testOptions("uk", "127.51.0.1", "")
	_, err = Start(context.Background(), o)
	require.ErrorContains(t, err, "not ip:port")
}
