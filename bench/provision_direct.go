package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/microdc/mdc/activities/lb"
	"github.com/microdc/mdc/platform"
	"github.com/microdc/mdc/workflows"
)

// directProvisioner makes ProvisionSite's calls without Temporal: govmomi
// for vSphere, net/http for health, the lb package's HAProxy driver.
type directProvisioner struct {
	s    *stack
	site *platform.Site
	vc   *govmomi.Client
	// phases sums each phase's time over the VMs, for the profile.
	mu     sync.Mutex
	phases map[string]time.Duration
}

func (d *directProvisioner) phase(name string, t0 time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.phases == nil {
		d.phases = map[string]time.Duration{}
	}
	d.phases[name] += time.Since(t0)
}

// profile is the mean time of each phase per VM.
func (d *directProvisioner) profile(n int) string {
	var parts []string
	for _, name := range []string{"clone", "power on", "IP", "health", "LB add"} {
		parts = append(parts, fmt.Sprintf("%s %s", name, mean(d.phases[name], n)))
	}
	return "direct, mean per VM: " + strings.Join(parts, ", ")
}

func newDirectProvisioner(ctx context.Context, s *stack, site string) (*directProvisioner, error) {
	d := &directProvisioner{s: s, site: s.site(site)}
	user, pass, err := s.p.VCenterCredentials(site, s.Lab.Lookup)
	if err != nil {
		return nil, err
	}
	u, err := soap.ParseURL(d.site.VCenter.URL)
	if err != nil {
		return nil, err
	}
	u.User = url.UserPassword(user, pass)
	if d.vc, err = govmomi.NewClient(ctx, u, true); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *directProvisioner) close() { _ = d.vc.Logout(context.Background()) }

// provision creates names from svc's template: clones (at most parallel at
// once) linked from the golden snapshot, each then powered on, polled for
// its guest IP every 500 ms and for health every second (ProvisionSite's
// intervals), then added to the site's HAProxy backend.
func (d *directProvisioner) provision(ctx context.Context, svc workflows.ProvisionService, names []string, parallel int) error {
	vc := d.site.VCenter
	finder := find.NewFinder(d.vc.Client)
	dc, err := finder.Datacenter(ctx, vc.Datacenter)
	if err != nil {
		return err
	}
	finder.SetDatacenter(dc)
	folder, err := finder.Folder(ctx, path.Join(dc.InventoryPath, "vm", vc.Folder))
	if err != nil {
		return err
	}
	tmpl, err := finder.VirtualMachine(ctx, path.Join(folder.InventoryPath, svc.Template))
	if err != nil {
		return err
	}
	snap, err := tmpl.FindSnapshot(ctx, svc.Snapshot)
	if err != nil {
		return err
	}
	ds, err := finder.Datastore(ctx, vc.Datastore)
	if err != nil {
		return err
	}
	cluster, err := finder.ClusterComputeResource(ctx, vc.Cluster)
	if err != nil {
		return err
	}
	pool, err := cluster.ResourcePool(ctx)
	if err != nil {
		return err
	}
	var hosts []types.ManagedObjectReference
	for _, h := range svc.Hosts {
		hs, err := finder.HostSystem(ctx, h)
		if err != nil {
			return err
		}
		hosts = append(hosts, hs.Reference())
	}
	extra := make([]types.BaseOptionValue, 0, len(svc.Tags))
	for _, k := range slices.Sorted(mapKeys(svc.Tags)) {
		extra = append(extra, &types.OptionValue{Key: k, Value: svc.Tags[k]})
	}
	slots := make(chan struct{}, parallel)
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			host, dsRef, poolRef := hosts[i%len(hosts)], ds.Reference(), pool.Reference()
			spec := types.VirtualMachineCloneSpec{
				Config:   &types.VirtualMachineConfigSpec{ExtraConfig: extra},
				Snapshot: snap,
				Location: types.VirtualMachineRelocateSpec{
					Host: &host, Datastore: &dsRef, Pool: &poolRef,
					DiskMoveType: string(types.VirtualMachineRelocateDiskMoveOptionsCreateNewChildDiskBacking),
				},
			}
			errs[i] = d.bringUp(ctx, slots, tmpl, folder, name, spec, svc)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func (d *directProvisioner) bringUp(ctx context.Context, slots chan struct{}, tmpl *object.VirtualMachine, folder *object.Folder,
	name string, spec types.VirtualMachineCloneSpec, svc workflows.ProvisionService) error {
	slots <- struct{}{}
	t0 := time.Now()
	// WaitForResult uses a property collector of its own, as the vsphere
	// activities' tasks do (the session is shared by concurrent waits).
	task, err := tmpl.Clone(ctx, folder, name, spec)
	if err == nil {
		_, err = task.WaitForResult(ctx)
	}
	<-slots
	d.phase("clone", t0)
	if err != nil {
		return fmt.Errorf("clone %s: %w", name, err)
	}
	t0 = time.Now()
	vm, err := find.NewFinder(d.vc.Client).VirtualMachine(ctx, path.Join(folder.InventoryPath, name))
	if err != nil {
		return err
	}
	task, err = vm.PowerOn(ctx)
	if err == nil {
		_, err = task.WaitForResult(ctx)
	}
	if err != nil {
		return fmt.Errorf("power on %s: %w", name, err)
	}
	d.phase("power on", t0)
	t0 = time.Now()
	var ip string
	if err := poll(ctx, 2*time.Minute, 500*time.Millisecond, func() bool {
		var m mo.VirtualMachine
		if vm.Properties(ctx, vm.Reference(), []string{"guest.ipAddress"}, &m) == nil && m.Guest != nil {
			ip = m.Guest.IpAddress
		}
		return ip != ""
	}); err != nil {
		return fmt.Errorf("IP of %s: %w", name, err)
	}
	d.phase("IP", t0)
	t0 = time.Now()
	addr := net.JoinHostPort(ip, strconv.Itoa(svc.Port))
	hc := &http.Client{Timeout: 2 * time.Second}
	if err := poll(ctx, 2*time.Minute, time.Second, func() bool {
		r, err := hc.Get("http://" + addr + svc.HealthPath)
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == http.StatusOK
	}); err != nil {
		return fmt.Errorf("health of %s: %w", name, err)
	}
	d.phase("health", t0)
	t0 = time.Now()
	_, err = d.s.deps.LB.AddServer(ctx, lb.AddServerInput{Site: d.site.Name, Name: name, Addr: addr})
	d.phase("LB add", t0)
	return err
}
