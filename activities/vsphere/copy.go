package vsphere

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vmdk"

	"github.com/microdc/mdc/apperrors"
)

// maxDescriptor bounds a disk descriptor read into memory (they are text
// files of a few hundred bytes; the data lives in the extents).
const maxDescriptor = 1 << 20

// copyReplica replicates between two vCenters: read the source's hardware
// (snapshotting it if it runs), copy the disk files datastore to datastore,
// create the replica around them, remove the temporary snapshot.
func (a *Activities) copyReplica(ctx context.Context, src, dst *site, in ReplicateVMInput, tags map[string]string) (ReplicateVMResult, error) {
	what := fmt.Sprintf("replicate VM %q of site %s to site %s as %q", in.VM, src.name, dst.name, in.ReplicaName)
	var res ReplicateVMResult
	var found bool
	err := dst.do(ctx, what, func(c *vim25.Client) error {
		tv, err := dst.inventory(ctx, c)
		if err != nil {
			return err
		}
		res, found, err = tv.existingReplica(ctx, in.ReplicaName, tags)
		return err
	})
	if err != nil || found {
		res.Method = "copy"
		return res, err
	}

	var img image
	var snapped bool
	err = src.do(ctx, what, func(c *vim25.Client) error {
		sv, err := src.inventory(ctx, c)
		if err != nil {
			return err
		}
		vm, err := sv.vm(ctx, in.VM)
		if err != nil {
			return err
		}
		img, snapped, err = sv.readImage(ctx, vm, in.ReplicaName)
		return err
	})
	if snapped {
		defer src.removeTempSnapshot(ctx, in.VM, in.ReplicaName)
	}
	if err != nil {
		return ReplicateVMResult{}, err
	}

	var copied atomic.Int64
	began := time.Now()
	stop := keepBeating(ctx, func() string {
		return fmt.Sprintf("%s: %d bytes copied in %s", what, copied.Load(), time.Since(began).Round(time.Second))
	})
	defer stop()

	err = dst.do(ctx, what, func(c *vim25.Client) error {
		tv, err := dst.inventory(ctx, c)
		if err != nil {
			return err
		}
		ds, err := tv.datastore(ctx, "")
		if err != nil {
			return err
		}
		files, err := a.copyDisks(ctx, src, tv, ds, img, in.ReplicaName, &copied)
		if err != nil {
			return err
		}
		res, err = tv.createReplica(ctx, img, ds.Name(), in.ReplicaName, files, tags)
		return err
	})
	res.Method, res.Bytes = "copy", copied.Load()
	return res, err
}

// removeTempSnapshot removes the replication snapshot of the source VM,
// even when ctx is done (a leftover snapshot grows its delta disk forever).
// A failure is not the replication's: the next run removes it.
func (s *site) removeTempSnapshot(ctx context.Context, vmName, replica string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*cleanupTimeout)
	defer cancel()
	_ = s.do(ctx, "remove the replication snapshot of "+vmName, func(c *vim25.Client) error {
		v, err := s.inventory(ctx, c)
		if err != nil {
			return err
		}
		vm, err := v.vm(ctx, vmName)
		if err != nil {
			return err
		}
		_, err = v.removeSnapshot(ctx, vm, tempSnapshotName(replica))
		return err
	})
}

// copyDisks copies every disk of img (descriptor and extents) from the
// source's datastores into directory replica on ds, and returns the new
// datastore path of each disk keyed by its source path.
func (a *Activities) copyDisks(ctx context.Context, src *site, tv *inv, ds *object.Datastore, img image, replica string, copied *atomic.Int64) (map[string]string, error) {
	dir := fmt.Sprintf("[%s] %s", ds.Name(), replica)
	err := object.NewFileManager(tv.c).MakeDirectory(ctx, dir, tv.dc, true)
	if err != nil && !fault.Is(err, &types.FileAlreadyExists{}) {
		return nil, err
	}
	sc, err := src.session(ctx)
	if err != nil {
		return nil, err
	}
	dstDC := strings.TrimPrefix(tv.dc.InventoryPath, "/")
	files := map[string]string{}
	used := map[string]string{}
	for _, d := range img.Disks {
		from := d.Descriptor
		desc, err := src.download(ctx, sc, img.DatacenterPath, from)
		if err != nil {
			return nil, err
		}
		parsed, err := vmdk.ParseDescriptor(bytes.NewReader(desc))
		if err != nil {
			return nil, apperrors.Rejected("%s: disk descriptor %s does not parse: %v", src.where(), from, err)
		}
		names := []string{path.Base(from.Path)}
		for _, e := range parsed.Extent {
			names = append(names, e.Info)
		}
		for _, n := range names {
			if prev, clash := used[n]; clash || strings.Contains(n, "/") {
				return nil, apperrors.Rejected("%s: disk file %q of %s clashes with %s (or is not in the descriptor's directory): the replica's disks must have distinct file names",
					src.where(), n, from, prev)
			}
			used[n] = from.String()
		}
		target := object.DatastorePath{Datastore: ds.Name(), Path: path.Join(replica, names[0])}
		if err := tv.s.upload(ctx, tv.c, dstDC, target, bytes.NewReader(desc), int64(len(desc)), copied); err != nil {
			return nil, err
		}
		for _, n := range names[1:] {
			ext := object.DatastorePath{Datastore: from.Datastore, Path: path.Join(path.Dir(from.Path), n)}
			if err := a.stream(ctx, src, sc, img.DatacenterPath, ext, tv, dstDC, object.DatastorePath{Datastore: ds.Name(), Path: path.Join(replica, n)}, copied); err != nil {
				return nil, err
			}
		}
		files[from.String()] = target.String()
	}
	return files, nil
}

// download reads a small file (a descriptor) from the site's datastore.
func (s *site) download(ctx context.Context, c *vim25.Client, dcPath string, p object.DatastorePath) ([]byte, error) {
	u := object.NewDatastoreURL(*c.URL(), dcPath, p.Datastore, p.Path)
	rc, _, err := c.Download(ctx, u, &soap.DefaultDownload)
	if err != nil {
		return nil, s.transferError(ctx, c, "download "+p.String(), err)
	}
	defer func() { _ = rc.Close() }()
	b, err := io.ReadAll(io.LimitReader(rc, maxDescriptor+1))
	if err == nil && len(b) > maxDescriptor {
		err = errors.New("larger than 1 MiB: not a text descriptor")
	}
	if err != nil {
		return nil, s.transferError(ctx, c, "read "+p.String(), err)
	}
	return b, nil
}

// stream copies one (large) file from the source datastore to the target
// without holding it in memory.
func (a *Activities) stream(ctx context.Context, src *site, sc *vim25.Client, srcDC string, from object.DatastorePath,
	tv *inv, dstDC string, to object.DatastorePath, copied *atomic.Int64) error {
	u := object.NewDatastoreURL(*sc.URL(), srcDC, from.Datastore, from.Path)
	rc, size, err := sc.Download(ctx, u, &soap.DefaultDownload)
	if err != nil {
		return src.transferError(ctx, sc, "download "+from.String(), err)
	}
	defer func() { _ = rc.Close() }()
	return tv.s.upload(ctx, tv.c, dstDC, to, rc, size, copied)
}

// upload writes r (size bytes, or -1 if unknown) to p on the site's datastore.
func (s *site) upload(ctx context.Context, c *vim25.Client, dcPath string, p object.DatastorePath, r io.Reader, size int64, copied *atomic.Int64) error {
	u := object.NewDatastoreURL(*c.URL(), dcPath, p.Datastore, p.Path)
	param := soap.DefaultUpload
	param.ContentLength = size
	if err := c.Upload(ctx, &counter{r: r, n: copied}, u, &param); err != nil {
		return s.transferError(ctx, c, "upload "+p.String(), err)
	}
	return nil
}

// transferError types a datastore HTTP failure. A 401 means the session
// behind the cookie is gone: it is dropped so the retry logs in again.
func (s *site) transferError(ctx context.Context, c *vim25.Client, what string, err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "401"):
		s.drop(c)
		return apperrors.Unavailable(err, "%s: %s: the session expired during the transfer; retry", s.where(), what)
	case strings.Contains(msg, "404"):
		return apperrors.NotFound("%s: %s: no such file on the datastore", s.where(), what)
	}
	return s.classify(ctx, what, err)
}

// counter counts the bytes read through it, for progress heartbeats.
type counter struct {
	r io.Reader
	n *atomic.Int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// createReplica creates the replica VM around the copied disks, on the
// least-loaded host, in the site's folder, attached to the site's network.
func (v *inv) createReplica(ctx context.Context, img image, ds, name string, files map[string]string, tags map[string]string) (ReplicateVMResult, error) {
	folder, err := v.folder(ctx, "")
	if err != nil {
		return ReplicateVMResult{}, err
	}
	pool, err := v.pool(ctx)
	if err != nil {
		return ReplicateVMResult{}, err
	}
	host, err := v.placement(ctx, "")
	if err != nil {
		return ReplicateVMResult{}, err
	}
	var net object.NetworkReference
	if v.s.cfg.Network == "" {
		net, err = v.finder.DefaultNetwork(ctx)
	} else {
		net, err = v.finder.Network(ctx, v.s.cfg.Network)
	}
	if err != nil {
		return ReplicateVMResult{}, v.s.notFound(err, "network %q (check the site's network setting)", v.s.cfg.Network)
	}
	backing, err := net.EthernetCardBackingInfo(ctx)
	if err != nil {
		return ReplicateVMResult{}, err
	}
	spec, err := img.replicaSpec(name, ds, name, files, backing, tags)
	if err != nil {
		return ReplicateVMResult{}, err
	}
	_, err = runTask(ctx, fmt.Sprintf("create replica %s on %s", name, host.Name), func(ctx context.Context) (*object.Task, error) {
		return folder.CreateVM(ctx, spec, pool, object.NewHostSystem(v.c, host.Ref))
	})
	if fault.Is(err, &types.DuplicateName{}) {
		res, ok, verr := v.existingReplica(ctx, name, tags)
		if verr == nil && !ok {
			verr = apperrors.Conflict("%s: creating replica %q reported a duplicate name, but no such VM is in the site's folder: retry", v.s.where(), name)
		}
		return res, verr
	}
	if err != nil {
		return ReplicateVMResult{}, err
	}
	return ReplicateVMResult{ReplicaName: name, Host: host.Name, Changed: true}, nil
}
