package vcenter

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/units"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/types"
)

// TagPrefix starts every ExtraConfig key that mdc reads as a VM tag. Tags
// are ExtraConfig keys so that any vSphere client (and vcsim) can see them.
const TagPrefix = "mdc."

// TagRole is the tag holding a VM's role: "web" or "db".
const TagRole = "mdc.role"

// TagService is the tag holding the service a VM serves: "web" or "db".
const TagService = "mdc.service"

// TagSite is the tag holding the site a VM belongs to, e.g. "uk".
const TagSite = "mdc.site"

const (
	folderName = "mdc" // VM folder under the datacenter's vm folder
	guestID    = "otherLinux64Guest"
	defaultCPU = 1   // the seed's autoscaling rule is about one-core nodes
	defaultMB  = 256 // small: nothing runs inside a simulated VM
)

// topology is what Start found in (or added to) the vcsim model.
type topology struct {
	datacenter string
	cluster    string
	hosts      []string
	hostRef    map[string]types.ManagedObjectReference
	hostName   map[types.ManagedObjectReference]string
	datastore  string
	network    string
	netBacking types.BaseVirtualDeviceBackingInfo
	vmRoot     string // inventory path of the datacenter's vm folder, e.g. /DC0/vm
	vmRootRef  types.ManagedObjectReference
	folder     string // inventory path of the mdc folder, e.g. /DC0/vm/mdc
	pool       string
	poolRef    types.ManagedObjectReference
}

// discover records the model's datacenter, cluster, hosts, datastore and
// network, and creates the mdc VM folder.
func (v *VCenter) discover(ctx context.Context, c *vim25.Client) error {
	site := v.o.Site
	finder := find.NewFinder(c, false)
	dc, err := finder.DefaultDatacenter(ctx)
	if err != nil {
		return fmt.Errorf("vcenter %s: find the datacenter: %w", site, err)
	}
	finder.SetDatacenter(dc)
	cluster, err := finder.DefaultClusterComputeResource(ctx)
	if err != nil {
		return fmt.Errorf("vcenter %s: find the cluster: %w", site, err)
	}
	hosts, err := finder.HostSystemList(ctx, cluster.InventoryPath+"/*")
	if err != nil {
		return fmt.Errorf("vcenter %s: list the hosts of %s: %w", site, cluster.InventoryPath, err)
	}
	ds, err := finder.DefaultDatastore(ctx)
	if err != nil {
		return fmt.Errorf("vcenter %s: find the datastore: %w", site, err)
	}
	network, err := finder.Network(ctx, "VM Network")
	if err != nil {
		return fmt.Errorf("vcenter %s: find the \"VM Network\" network: %w", site, err)
	}
	backing, err := network.EthernetCardBackingInfo(ctx)
	if err != nil {
		return fmt.Errorf("vcenter %s: NIC backing of \"VM Network\": %w", site, err)
	}
	dcFolders, err := dc.Folders(ctx)
	if err != nil {
		return fmt.Errorf("vcenter %s: folders of %s: %w", site, dc.InventoryPath, err)
	}
	pool, err := cluster.ResourcePool(ctx)
	if err != nil {
		return fmt.Errorf("vcenter %s: resource pool of %s: %w", site, cluster.InventoryPath, err)
	}

	t := topology{
		datacenter: dc.Name(),
		cluster:    cluster.Name(),
		hostRef:    map[string]types.ManagedObjectReference{},
		hostName:   map[types.ManagedObjectReference]string{},
		datastore:  ds.Name(),
		network:    "VM Network",
		netBacking: backing,
		vmRoot:     path.Join(dc.InventoryPath, "vm"),
		vmRootRef:  dcFolders.VmFolder.Reference(),
		pool:       path.Join(cluster.InventoryPath, "Resources"),
		poolRef:    pool.Reference(),
	}
	t.folder = path.Join(t.vmRoot, folderName)
	for _, h := range hosts {
		t.hosts = append(t.hosts, h.Name())
		t.hostRef[h.Name()] = h.Reference()
		t.hostName[h.Reference()] = h.Name()
	}
	sort.Strings(t.hosts)
	if len(t.hosts) < 2 {
		return fmt.Errorf("vcenter %s: the model has %d hosts in %s, want 2", site, len(t.hosts), cluster.InventoryPath)
	}
	v.topo = t
	if _, err := v.ensureFolder(ctx, c, t.folder); err != nil {
		return err
	}
	return nil
}

// ensureFolder returns the VM folder at inventory path p, creating what is
// missing below the datacenter's vm folder.
func (v *VCenter) ensureFolder(ctx context.Context, c *vim25.Client, p string) (*object.Folder, error) {
	if p != v.topo.vmRoot && !strings.HasPrefix(p, v.topo.vmRoot+"/") {
		return nil, fmt.Errorf("vcenter %s: folder %q is not under %s: fix or delete the state file %s", v.o.Site, p, v.topo.vmRoot, v.o.StateFile)
	}
	finder := find.NewFinder(c, false)
	folder, err := finder.Folder(ctx, v.topo.vmRoot)
	if err != nil {
		return nil, fmt.Errorf("vcenter %s: find %s: %w", v.o.Site, v.topo.vmRoot, err)
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(p, v.topo.vmRoot), "/")
	if rel == "" {
		return folder, nil
	}
	for _, name := range strings.Split(rel, "/") {
		next := path.Join(folder.InventoryPath, name)
		f, err := finder.Folder(ctx, next)
		if err == nil {
			folder = f
			continue
		}
		if _, ok := err.(*find.NotFoundError); !ok {
			return nil, fmt.Errorf("vcenter %s: find folder %s: %w", v.o.Site, next, err)
		}
		f, err = folder.CreateFolder(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("vcenter %s: create folder %s: %w", v.o.Site, next, err)
		}
		f.InventoryPath = next
		folder = f
	}
	return folder, nil
}

// populate creates a fresh site: the web template with its snapshot, the
// web VMs spread over the hosts, and one db VM.
func (v *VCenter) populate(ctx context.Context, c *vim25.Client) error {
	site, hosts := v.o.Site, v.topo.hosts
	tags := func(role, service string) map[string]string {
		return map[string]string{TagRole: role, TagService: service, TagSite: site}
	}
	recs := []vmRecord{{
		Name: v.o.Template, Folder: v.topo.folder, Host: hosts[0],
		PowerState: string(types.VirtualMachinePowerStatePoweredOff), Template: true,
		ExtraConfig: tags("web", v.o.Service),
		Snapshots:   []snapRecord{{Name: v.o.Snapshot}},
	}}
	for i := 1; i <= v.o.InitialWeb; i++ {
		recs = append(recs, vmRecord{
			Name: fmt.Sprintf("%s-web-%d", site, i), Folder: v.topo.folder,
			Host:        hosts[(i-1)%len(hosts)],
			PowerState:  string(types.VirtualMachinePowerStatePoweredOn),
			ExtraConfig: tags("web", v.o.Service),
		})
	}
	recs = append(recs, vmRecord{
		Name: site + "-db-1", Folder: v.topo.folder, Host: hosts[len(hosts)-1],
		PowerState:  string(types.VirtualMachinePowerStatePoweredOn),
		ExtraConfig: tags("db", "db"),
	})
	for _, r := range recs {
		if err := v.createVM(ctx, c, r); err != nil {
			return err
		}
	}
	return nil
}

// restore recreates every VM of a saved inventory.
func (v *VCenter) restore(ctx context.Context, c *vim25.Client, s *stateFile) error {
	for _, r := range s.VMs {
		if err := v.createVM(ctx, c, r); err != nil {
			return fmt.Errorf("%w (state file %s: fix or delete it)", err, v.o.StateFile)
		}
	}
	return nil
}

// createVM creates one VM as r describes it: on its host and in its folder,
// with its ExtraConfig, snapshots, template flag and power state.
func (v *VCenter) createVM(ctx context.Context, c *vim25.Client, r vmRecord) error {
	site := v.o.Site
	host, ok := v.topo.hostRef[r.Host]
	if !ok {
		return fmt.Errorf("vcenter %s: VM %q: unknown host %q (hosts are %v)", site, r.Name, r.Host, v.topo.hosts)
	}
	folder, err := v.ensureFolder(ctx, c, r.Folder)
	if err != nil {
		return err
	}
	spec, err := v.configSpec(r)
	if err != nil {
		return err
	}
	task, err := folder.CreateVM(ctx, spec, object.NewResourcePool(c, v.topo.poolRef), object.NewHostSystem(c, host))
	if err != nil {
		return fmt.Errorf("vcenter %s: create VM %q: %w", site, r.Name, err)
	}
	info, err := task.WaitForResult(ctx, nil)
	if err != nil {
		return fmt.Errorf("vcenter %s: create VM %q: %w", site, r.Name, err)
	}
	vm := object.NewVirtualMachine(c, info.Result.(types.ManagedObjectReference))
	if err := createSnapshots(ctx, vm, r.Snapshots, nil); err != nil {
		return fmt.Errorf("vcenter %s: VM %q: %w", site, r.Name, err)
	}
	if r.Template {
		if err := vm.MarkAsTemplate(ctx); err != nil {
			return fmt.Errorf("vcenter %s: mark %q as a template: %w", site, r.Name, err)
		}
		return nil
	}
	switch types.VirtualMachinePowerState(r.PowerState) {
	case types.VirtualMachinePowerStatePoweredOn:
		return waitTask(ctx, site, r.Name, "power on", vm.PowerOn)
	case types.VirtualMachinePowerStateSuspended:
		if err := waitTask(ctx, site, r.Name, "power on", vm.PowerOn); err != nil {
			return err
		}
		return waitTask(ctx, site, r.Name, "suspend", vm.Suspend)
	}
	return nil
}

// configSpec is the CreateVM spec of r: a small VM with a thin disk and one
// NIC on the site's network (a NIC is what gives the VM a guest.net entry).
func (v *VCenter) configSpec(r vmRecord) (types.VirtualMachineConfigSpec, error) {
	spec := types.VirtualMachineConfigSpec{
		Name:     r.Name,
		GuestId:  guestID,
		NumCPUs:  r.NumCPU,
		MemoryMB: int64(r.MemoryMB),
		Files:    &types.VirtualMachineFileInfo{VmPathName: "[" + v.topo.datastore + "]"},
	}
	if spec.NumCPUs == 0 {
		spec.NumCPUs = defaultCPU
	}
	if spec.MemoryMB == 0 {
		spec.MemoryMB = defaultMB
	}
	keys := make([]string, 0, len(r.ExtraConfig))
	for k := range r.ExtraConfig {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		spec.ExtraConfig = append(spec.ExtraConfig, &types.OptionValue{Key: k, Value: r.ExtraConfig[k]})
	}

	var devices object.VirtualDeviceList
	scsi, err := devices.CreateSCSIController("pvscsi")
	if err != nil {
		return spec, fmt.Errorf("vcenter %s: VM %q: SCSI controller: %w", v.o.Site, r.Name, err)
	}
	devices = append(devices, scsi)
	disk := devices.CreateDisk(scsi.(types.BaseVirtualController), types.ManagedObjectReference{},
		spec.Files.VmPathName+" "+path.Join(r.Name, "disk1.vmdk"))
	disk.CapacityInKB = int64(units.GB) / units.KB
	nic, err := devices.CreateEthernetCard("vmxnet3", v.topo.netBacking)
	if err != nil {
		return spec, fmt.Errorf("vcenter %s: VM %q: NIC: %w", v.o.Site, r.Name, err)
	}
	devices = append(devices, disk, nic)
	spec.DeviceChange, err = devices.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd)
	if err != nil {
		return spec, fmt.Errorf("vcenter %s: VM %q: device spec: %w", v.o.Site, r.Name, err)
	}
	return spec, nil
}

// createSnapshots recreates a snapshot tree depth-first. A second child of
// one parent needs the parent reverted to first, as in vSphere.
func createSnapshots(ctx context.Context, vm *object.VirtualMachine, snaps []snapRecord, parent *snapRecord) error {
	for i, s := range snaps {
		if i > 0 && parent != nil {
			task, err := vm.RevertToSnapshot(ctx, parent.Name, true)
			if err == nil {
				err = task.Wait(ctx)
			}
			if err != nil {
				return fmt.Errorf("revert to snapshot %q: %w", parent.Name, err)
			}
		}
		task, err := vm.CreateSnapshot(ctx, s.Name, "", false, false)
		if err == nil {
			err = task.Wait(ctx)
		}
		if err != nil {
			return fmt.Errorf("create snapshot %q: %w", s.Name, err)
		}
		if err := createSnapshots(ctx, vm, s.Children, &snaps[i]); err != nil {
			return err
		}
	}
	return nil
}

// waitTask starts a VM task and waits for it.
func waitTask(ctx context.Context, site, vm, what string, start func(context.Context) (*object.Task, error)) error {
	task, err := start(ctx)
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		return fmt.Errorf("vcenter %s: %s VM %q: %w", site, what, vm, err)
	}
	return nil
}
