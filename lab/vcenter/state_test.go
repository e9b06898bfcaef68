package vcenter

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"
)

func extraConfigSpec(key, value string) types.VirtualMachineConfigSpec {
	return types.VirtualMachineConfigSpec{ExtraConfig: []types.BaseOptionValue{&types.OptionValue{Key: key, Value: value}}}
}

func readState(t *testing.T, file string) stateFile {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	var s stateFile
	require.NoError(t, json.Unmarshal(b, &s))
	return s
}

func stateVM(s stateFile, name string) (vmRecord, bool) {
	for _, r := range s.VMs {
		if r.Name == name {
			return r, true
		}
	}
	return vmRecord{}, false
}

func TestStateFileRebuildsTheInventory(t *testing.T) {
	integration(t)
	file := filepath.Join(t.TempDir(), "uk", "vcenter.json")
	o := testOptions("uk", ukAddr, file)
	v, err := Start(testCtx(t), o)
	require.NoError(t, err)
	t.Cleanup(v.Close) // in case the test fails before its own Close

	c := login(t, v)
	clone := cloneWeb(t, c, v, "uk-web-3", v.Hosts()[0])
	runTask(t, clone.PowerOn)
	runTask(t, findVM(t, c, v, "uk-web-2").PowerOff)
	runTask(t, func(ctx context.Context) (*object.Task, error) {
		return clone.Reconfigure(ctx, extraConfigSpec("custom.key", "kept"))
	})
	require.NoError(t, v.SetGuestIP(testCtx(t), "uk-web-3", "127.51.0.12"))

	// Saved on change, while the site keeps running.
	require.Eventually(t, func() bool {
		r, ok := stateVM(readState(t, file), "uk-web-3")
		w2, _ := stateVM(readState(t, file), "uk-web-2")
		return ok && r.ExtraConfig["custom.key"] == "kept" && w2.PowerState == "poweredOff"
	}, 10*time.Second, 20*time.Millisecond)

	before, err := v.capture(testCtx(t))
	require.NoError(t, err)
	v.Close()
	saved := readState(t, file)
	require.Equal(t, *before, saved)
	r, _ := stateVM(saved, "uk-web-3")
	require.Equal(t, "poweredOn", r.PowerState)
	require.Equal(t, "/DC0/vm/mdc", r.Folder)
	require.Equal(t, v.Hosts()[0], r.Host)
	tmpl, _ := stateVM(saved, "web-template")
	require.True(t, tmpl.Template)
	require.Equal(t, []snapRecord{{Name: "golden"}}, tmpl.Snapshots)
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	require.NotContains(t, string(b), "127.51.0.12", "guest IPs must not be persisted")

	o.InitialWeb = 5 // ignored: the state file wins
	v2 := startVC(t, o)
	after, err := v2.capture(testCtx(t))
	require.NoError(t, err)
	require.Equal(t, before, after)

	vms := listVMs(t, login(t, v2))
	require.Len(t, vms, 5)
	require.Equal(t, types.VirtualMachinePowerStatePoweredOn, vms["uk-web-3"].Runtime.PowerState)
	require.Equal(t, types.VirtualMachinePowerStatePoweredOff, vms["uk-web-2"].Runtime.PowerState)
	require.Equal(t, "golden", vms["web-template"].Snapshot.RootSnapshotList[0].Name)
	require.True(t, vms["web-template"].Config.Template)
	if g := vms["uk-web-3"].Guest; g != nil {
		require.Empty(t, g.IpAddress, "guest IPs are not restored")
	}
}

func TestStateSnapshotTreesRoundTrip(t *testing.T) {
	integration(t)
	file := filepath.Join(t.TempDir(), "vcenter.json")
	o := testOptions("uk", ukAddr, file)
	v := startVC(t, o)
	c := login(t, v)
	vm := findVM(t, c, v, "uk-db-1")
	for _, step := range []struct{ revert, create string }{
		{"", "a"}, {"", "b"}, {"a", "c"},
	} {
		if step.revert != "" {
			runTask(t, func(ctx context.Context) (*object.Task, error) { return vm.RevertToSnapshot(ctx, step.revert, true) })
		}
		runTask(t, func(ctx context.Context) (*object.Task, error) {
			return vm.CreateSnapshot(ctx, step.create, "", false, false)
		})
	}
	before, err := v.capture(testCtx(t))
	require.NoError(t, err)
	db, _ := stateVM(*before, "uk-db-1")
	require.Equal(t, []snapRecord{{Name: "a", Children: []snapRecord{{Name: "b"}, {Name: "c"}}}}, db.Snapshots)
	v.Close()

	after, err := startVC(t, o).capture(testCtx(t))
	require.NoError(t, err)
	require.Equal(t, before, after)
}

func TestLoadStateRejectsBadFiles(t *testing.T) {
	dir := t.TempDir()
	s, err := loadState(filepath.Join(dir, "missing.json"), "uk")
	require.NoError(t, err)
	require.Nil(t, s, "a missing file means a fresh start")
	s, err = loadState("", "uk")
	require.NoError(t, err)
	require.Nil(t, s)

	for name, tc := range map[string]struct{ content, want string }{
		"garbage":   {`{"version":1,`, "not valid JSON"},
		"version":   {`{"version":99,"site":"uk"}`, "version 99"},
		"site":      {`{"version":1,"site":"us"}`, `belongs to site "us"`},
		"duplicate": {`{"version":1,"site":"uk","vms":[{"name":"a"},{"name":"a"}]}`, `duplicate name "a"`},
	} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(dir, name+".json")
			require.NoError(t, os.WriteFile(file, []byte(tc.content), 0o644))
			_, err := loadState(file, "uk")
			require.ErrorContains(t, err, tc.want)
			require.ErrorContains(t, err, file)
		})
	}
}

func TestStartFailsOnAnUnusableStateFileWithoutOverwritingIt(t *testing.T) {
	integration(t)
	file := filepath.Join(t.TempDir(), "vcenter.json")
	bad := `{"version":1,"site":"uk","vms":[{"name":"x","folder":"/DC0/vm/mdc","host":"no-such-host","powerState":"poweredOn"}]}`
	require.NoError(t, os.WriteFile(file, []byte(bad), 0o644))
	_, err := Start(testCtx(t), testOptions("uk", ukAddr, file))
	require.ErrorContains(t, err, `unknown host "no-such-host"`)
	require.ErrorContains(t, err, file)
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	require.Equal(t, bad, string(b))
	// The address is free again.
	startVC(t, testOptions("uk", ukAddr, ""))
}

func TestWriteAtomicReplacesTheFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sub", "state.json")
	require.NoError(t, writeAtomic(file, []byte("one")))
	require.NoError(t, writeAtomic(file, []byte("two")))
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	require.Equal(t, "two", string(b))
	entries, err := os.ReadDir(filepath.Dir(file))
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary files left behind")
}
