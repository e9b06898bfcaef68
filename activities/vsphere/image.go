package vsphere

import (
	"context"
	"fmt"
	"strings"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/microdc/mdc/apperrors"
)

// image is what a cross-vCenter copy needs to know about the source VM.
type image struct {
	GuestID        string
	NumCPU         int32
	CoresPerSocket int32
	MemoryMB       int32
	// DatacenterPath is the source datacenter's inventory path without the
	// leading "/", as the datastore HTTP interface wants it.
	DatacenterPath string
	Disks          []imageDisk
	// NICs are the source's network card types, e.g. "vmxnet3".
	NICs []string
}

// imageDisk is one disk to copy, and where it sits on its controller.
type imageDisk struct {
	Descriptor object.DatastorePath // e.g. [LocalDS_0] uk-web-1/uk-web-1.vmdk
	Controller string               // SCSI controller type, e.g. "pvscsi"
	Bus        int32
	Unit       int32
	CapacityKB int64
	Mode       string
	Thin       *bool
}

// tempSnapshotName is the snapshot a running VM is copied from; it carries
// the replica's name so a retry after a crash finds (and reuses) it.
func tempSnapshotName(replica string) string { return "mdc-replicate-" + replica }

// readImage reads the source VM's hardware. A VM that is not powered off is
// snapshotted first (tempSnapshotName) and its disks are read as the
// snapshot saw them: vSphere then writes to new delta disks and leaves the
// snapshot's disks still, so they can be copied while the VM runs.
func (v *inv) readImage(ctx context.Context, vm vmRec, replica string) (image, bool, error) {
	var m mo.VirtualMachine
	if err := vm.object(v).Properties(ctx, vm.Ref, []string{"config.hardware", "config.guestId", "runtime.powerState"}, &m); err != nil {
		return image{}, false, err
	}
	if m.Config == nil {
		return image{}, false, apperrors.Conflict("%s: VM %q has no configuration yet (being created or inaccessible): retry", v.s.where(), vm.Name)
	}
	img := image{
		GuestID: m.Config.GuestId, NumCPU: m.Config.Hardware.NumCPU, MemoryMB: m.Config.Hardware.MemoryMB,
		DatacenterPath: strings.TrimPrefix(v.dc.InventoryPath, "/"),
	}
	if n := m.Config.Hardware.NumCoresPerSocket; n != nil {
		img.CoresPerSocket = *n
	}
	devices := object.VirtualDeviceList(m.Config.Hardware.Device)
	for _, nic := range devices.SelectByType((*types.VirtualEthernetCard)(nil)) {
		img.NICs = append(img.NICs, strings.ToLower(strings.TrimPrefix(devices.TypeName(nic), "Virtual")))
	}
	snapped := false
	if m.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOff {
		snap, err := v.tempSnapshot(ctx, vm, replica)
		if err != nil {
			return image{}, false, err
		}
		snapped = true
		var sm mo.VirtualMachineSnapshot
		if err := vm.object(v).Properties(ctx, snap, []string{"config.hardware"}, &sm); err != nil {
			return image{}, snapped, err
		}
		devices = object.VirtualDeviceList(sm.Config.Hardware.Device)
	}
	for _, d := range devices.SelectByType((*types.VirtualDisk)(nil)) {
		disk, err := v.imageDisk(vm.Name, devices, d.(*types.VirtualDisk))
		if err != nil {
			return image{}, snapped, err
		}
		img.Disks = append(img.Disks, disk)
	}
	return img, snapped, nil
}

// tempSnapshot returns the replication snapshot of vm, taking it if needed.
func (v *inv) tempSnapshot(ctx context.Context, vm vmRec, replica string) (types.ManagedObjectReference, error) {
	name := tempSnapshotName(replica)
	found, err := v.snapshots(ctx, vm, name)
	if err != nil || len(found) > 0 {
		if len(found) > 0 {
			return found[0], nil
		}
		return types.ManagedObjectReference{}, err
	}
	res, err := runTask(ctx, fmt.Sprintf("snapshot %s for replication", vm.Name), func(ctx context.Context) (*object.Task, error) {
		return vm.object(v).CreateSnapshot(ctx, name, "mdc: temporary, for copying the disks to replica "+replica, false, false)
	})
	if err != nil {
		return types.ManagedObjectReference{}, err
	}
	ref, ok := res.(types.ManagedObjectReference)
	if !ok {
		return types.ManagedObjectReference{}, fmt.Errorf("%s: snapshot of %q returned %T, not a snapshot reference", v.s.where(), vm.Name, res)
	}
	return ref, nil
}

// imageDisk describes one disk of the source, refusing what a file copy
// cannot reproduce.
func (v *inv) imageDisk(vmName string, devices object.VirtualDeviceList, d *types.VirtualDisk) (imageDisk, error) {
	b, ok := d.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
	if !ok {
		return imageDisk{}, apperrors.Rejected("%s: VM %q has a %T disk: cross-vCenter replication copies flat (thin or thick) disks only",
			v.s.where(), vmName, d.Backing)
	}
	if b.Parent != nil {
		return imageDisk{}, apperrors.Rejected("%s: disk %s of VM %q has a parent disk (a linked clone, or snapshots): consolidate it or clone it to a full copy before replicating to another vCenter",
			v.s.where(), b.FileName, vmName)
	}
	ctrl, ok := devices.FindByKey(d.ControllerKey).(types.BaseVirtualSCSIController)
	if !ok || d.UnitNumber == nil {
		return imageDisk{}, apperrors.Rejected("%s: disk %s of VM %q is not on a SCSI controller: cross-vCenter replication handles SCSI disks only",
			v.s.where(), b.FileName, vmName)
	}
	var p object.DatastorePath
	if !p.FromString(b.FileName) {
		return imageDisk{}, fmt.Errorf("%s: disk of VM %q has an unparsable file name %q", v.s.where(), vmName, b.FileName)
	}
	return imageDisk{
		Descriptor: p, Controller: devices.Type(ctrl.(types.BaseVirtualDevice)),
		Bus: ctrl.GetVirtualSCSIController().BusNumber, Unit: *d.UnitNumber,
		CapacityKB: d.CapacityInKB, Mode: b.DiskMode, Thin: b.ThinProvisioned,
	}, nil
}

// replicaSpec is the CreateVM spec of a replica whose disks were copied to
// dir on datastore ds.
func (img image) replicaSpec(name, ds, dir string, files map[string]string, nicBacking types.BaseVirtualDeviceBackingInfo, tags map[string]string) (types.VirtualMachineConfigSpec, error) {
	spec := types.VirtualMachineConfigSpec{
		Name: name, GuestId: img.GuestID, NumCPUs: img.NumCPU, MemoryMB: int64(img.MemoryMB),
		Files:       &types.VirtualMachineFileInfo{VmPathName: fmt.Sprintf("[%s] %s/%s.vmx", ds, dir, name)},
		ExtraConfig: extraConfig(tags),
	}
	if img.CoresPerSocket > 0 {
		spec.NumCoresPerSocket = &img.CoresPerSocket
	}
	var devices object.VirtualDeviceList
	add := func(d types.BaseVirtualDevice, fop types.VirtualDeviceConfigSpecFileOperation) {
		devices = append(devices, d)
		spec.DeviceChange = append(spec.DeviceChange, &types.VirtualDeviceConfigSpec{
			Operation: types.VirtualDeviceConfigSpecOperationAdd, Device: d, FileOperation: fop,
		})
	}
	controllers := map[int32]int32{} // bus → key of the new controller
	for _, d := range img.Disks {
		key, ok := controllers[d.Bus]
		if !ok {
			c, err := devices.CreateSCSIController(d.Controller)
			if err != nil {
				return spec, fmt.Errorf("replica %s: SCSI controller %q: %w", name, d.Controller, err)
			}
			c.(types.BaseVirtualSCSIController).GetVirtualSCSIController().BusNumber = d.Bus
			key = c.GetVirtualDevice().Key
			controllers[d.Bus] = key
			add(c, "")
		}
		unit, mode := d.Unit, d.Mode
		if mode == "" {
			mode = string(types.VirtualDiskModePersistent)
		}
		disk := &types.VirtualDisk{
			VirtualDevice: types.VirtualDevice{
				Key: devices.NewKey(), ControllerKey: key, UnitNumber: &unit,
				Backing: &types.VirtualDiskFlatVer2BackingInfo{
					VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{FileName: files[d.Descriptor.String()]},
					DiskMode:                     mode, ThinProvisioned: d.Thin,
				},
			},
			CapacityInKB: d.CapacityKB,
		}
		add(disk, "") // no file operation: attach the copied disk
	}
	for _, kind := range img.NICs {
		nic, err := devices.CreateEthernetCard(kind, nicBacking)
		if err != nil {
			nic, err = devices.CreateEthernetCard("vmxnet3", nicBacking)
		}
		if err != nil {
			return spec, fmt.Errorf("replica %s: NIC: %w", name, err)
		}
		nic.GetVirtualDevice().Key = devices.NewKey()
		add(nic, "")
	}
	return spec, nil
}
