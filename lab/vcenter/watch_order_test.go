package vcenter

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

func listedVM(ref, name string, on bool) mo.VirtualMachine {
	var vm mo.VirtualMachine
	vm.Name = name
	vm.Self = types.ManagedObjectReference{Type: "VirtualMachine", Value: ref}
	vm.Runtime.PowerState = types.VirtualMachinePowerStatePoweredOff
	if on {
		vm.Runtime.PowerState = types.VirtualMachinePowerStatePoweredOn
	}
	return vm
}

// A VM destroyed and a new one cloned under its name between two polls:
// the old VM's deletion is reported before the new VM, so that whoever
// follows VMs by name (the lab's node manager) sees the name freed first.
func TestWatchReportsADeletionBeforeTheVMThatReusesItsName(t *testing.T) {
	var got []VMState
	w := &watcher{v: &VCenter{}, fn: func(s VMState) { got = append(got, s) }, known: map[string]VMState{}}
	w.apply([]mo.VirtualMachine{listedVM("vm-1", "us-web-1", true), listedVM("vm-2", "us-web-2", true)})
	require.Len(t, got, 2)

	got = nil
	w.apply([]mo.VirtualMachine{listedVM("vm-2", "us-web-2", true), listedVM("vm-9", "us-web-1", true)})
	require.Equal(t, []VMState{
		{Name: "us-web-1", Ref: "vm-1", Deleted: true},
		{Name: "us-web-1", Ref: "vm-9", PoweredOn: true},
	}, got)

	got = nil
	w.apply([]mo.VirtualMachine{listedVM("vm-2", "us-web-2", true), listedVM("vm-9", "us-web-1", true)})
	require.Empty(t, got, "an unchanged listing reports nothing")
}
