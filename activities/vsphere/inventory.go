package vsphere

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/microdc/mdc/apperrors"
)

// inv resolves a site's inventory through one session. Nothing is cached
// across calls: vCenter (and vcsim rebuilt from its state file) may give the
// same objects new IDs.
type inv struct {
	s      *site
	c      *vim25.Client
	finder *find.Finder
	dc     *object.Datacenter
}

// inventory finds the site's datacenter.
func (s *site) inventory(ctx context.Context, c *vim25.Client) (*inv, error) {
	finder := find.NewFinder(c, false)
	var dc *object.Datacenter
	var err error
	if s.cfg.Datacenter == "" {
		dc, err = finder.DefaultDatacenter(ctx)
	} else {
		dc, err = finder.Datacenter(ctx, s.cfg.Datacenter)
	}
	if err != nil {
		return nil, s.notFound(err, "datacenter %q (check the site's datacenter setting)", s.cfg.Datacenter)
	}
	finder.SetDatacenter(dc)
	return &inv{s: s, c: c, finder: finder, dc: dc}, nil
}

// notFound maps a finder's not-found error to apperrors.NotFound and leaves
// other errors (a lost connection) to classify.
func (s *site) notFound(err error, format string, args ...any) error {
	var nf *find.NotFoundError
	var dnf *find.DefaultNotFoundError
	var multi *find.DefaultMultipleFoundError
	if errors.As(err, &nf) || errors.As(err, &dnf) || errors.As(err, &multi) {
		return apperrors.NotFound("%s: no %s: %v", s.where(), fmt.Sprintf(format, args...), err)
	}
	return err
}

// folderPath is the inventory path of folder p: absolute, relative to the
// datacenter's vm folder, or (when empty) the site's configured folder.
func (v *inv) folderPath(p string) string {
	if p == "" {
		p = v.s.cfg.Folder
	}
	if strings.HasPrefix(p, "/") {
		return path.Clean(p)
	}
	return path.Join(v.dc.InventoryPath, "vm", p)
}

// folder finds a VM folder (see folderPath).
func (v *inv) folder(ctx context.Context, p string) (*object.Folder, error) {
	full := v.folderPath(p)
	f, err := v.finder.Folder(ctx, full)
	if err != nil {
		return nil, v.s.notFound(err, "VM folder %s: create it or fix the folder setting", full)
	}
	return f, nil
}

// pool finds the resource pool new VMs go into.
func (v *inv) pool(ctx context.Context) (*object.ResourcePool, error) {
	if p := v.s.cfg.ResourcePool; p != "" {
		rp, err := v.finder.ResourcePool(ctx, p)
		if err != nil {
			return nil, v.s.notFound(err, "resource pool %s", p)
		}
		return rp, nil
	}
	if v.s.cfg.Cluster != "" {
		cl, err := v.cluster(ctx)
		if err != nil {
			return nil, err
		}
		return cl.ResourcePool(ctx)
	}
	rp, err := v.finder.DefaultResourcePool(ctx)
	if err != nil {
		return nil, v.s.notFound(err, "default resource pool: set the site's resource_pool")
	}
	return rp, nil
}

// cluster finds the site's cluster.
func (v *inv) cluster(ctx context.Context) (*object.ClusterComputeResource, error) {
	cl, err := v.finder.ClusterComputeResource(ctx, v.s.cfg.Cluster)
	if err != nil {
		return nil, v.s.notFound(err, "cluster %q (check the site's cluster setting)", v.s.cfg.Cluster)
	}
	return cl, nil
}

// datastore finds a datastore by name; "" is the site's configured one.
func (v *inv) datastore(ctx context.Context, name string) (*object.Datastore, error) {
	if name == "" {
		name = v.s.cfg.Datastore
	}
	ds, err := v.finder.Datastore(ctx, name)
	if err != nil {
		return nil, v.s.notFound(err, "datastore %q", name)
	}
	return ds, nil
}

// cleanupTimeout bounds best-effort cleanup calls made after the caller's
// context is done (destroying a view, removing a temporary snapshot).
const cleanupTimeout = 5 * time.Second

// hostInfo is one ESXi host of the site.
type hostInfo struct {
	Name        string
	Ref         types.ManagedObjectReference
	Maintenance bool
	Connected   bool
}

// hosts lists the hosts of the site's cluster (or of the datacenter when no
// cluster is configured), sorted by name.
func (v *inv) hosts(ctx context.Context) ([]hostInfo, error) {
	root := v.dc.Reference()
	if v.s.cfg.Cluster != "" {
		cl, err := v.cluster(ctx)
		if err != nil {
			return nil, err
		}
		root = cl.Reference()
	}
	var hs []mo.HostSystem
	if err := v.retrieve(ctx, root, "HostSystem", []string{"name", "runtime.inMaintenanceMode", "runtime.connectionState"}, &hs); err != nil {
		return nil, err
	}
	out := make([]hostInfo, 0, len(hs))
	for _, h := range hs {
		out = append(out, hostInfo{
			Name: h.Name, Ref: h.Self, Maintenance: h.Runtime.InMaintenanceMode,
			Connected: h.Runtime.ConnectionState == types.HostSystemConnectionStateConnected,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// host finds one host of the site by name.
func (v *inv) host(ctx context.Context, name string) (hostInfo, error) {
	hs, err := v.hosts(ctx)
	if err != nil {
		return hostInfo{}, err
	}
	names := make([]string, len(hs))
	for i, h := range hs {
		if h.Name == name {
			return h, nil
		}
		names[i] = h.Name
	}
	return hostInfo{}, apperrors.NotFound("%s: no host %q in the site's cluster: hosts are %s", v.s.where(), name, strings.Join(names, ", "))
}

// retrieve reads props of every object of kind below root (recursively)
// through a container view, into dst (a pointer to a slice of mo types).
func (v *inv) retrieve(ctx context.Context, root types.ManagedObjectReference, kind string, props []string, dst any) error {
	cv, err := view.NewManager(v.c).CreateContainerView(ctx, root, []string{kind}, true)
	if err != nil {
		return err
	}
	defer func() {
		// Destroy even when ctx is done, but do not wait long on a dead vCenter.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		_ = cv.Destroy(dctx)
	}()
	return cv.Retrieve(ctx, []string{kind}, props, dst)
}
