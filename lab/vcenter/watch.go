package vcenter

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// ErrClosed is returned by Watch when the VCenter is closed under it.
var ErrClosed = errors.New("vcenter: closed")

// VMState is one VM as vSphere reports it.
type VMState struct {
	Name string
	// Ref is the managed object ID, e.g. "vm-42". It survives Stop/Revive but
	// not a restart from StateFile, which recreates every VM.
	Ref       string
	PoweredOn bool
	// Deleted says the VM no longer exists; the other fields are its last state.
	Deleted  bool
	Template bool
	Tags     map[string]string // ExtraConfig keys with prefix "mdc."
	Host     string
	IP       string // guest.ipAddress; "" until SetGuestIP
}

func (s VMState) equal(o VMState) bool {
	return s.Name == o.Name && s.Ref == o.Ref && s.PoweredOn == o.PoweredOn &&
		s.Deleted == o.Deleted && s.Template == o.Template && s.Host == o.Host &&
		s.IP == o.IP && maps.Equal(s.Tags, o.Tags)
}

// watchProps are the VM properties a VMState is made of.
var watchProps = []string{
	"name", "runtime.powerState", "runtime.host", "config.template", "config.extraConfig", "guest.ipAddress",
}

const (
	// watchMaxWait bounds each WaitForUpdatesEx call. vcsim ignores a client
	// going away, so a long poll whose client died (the site was stopped)
	// lingers on the server until this expires.
	watchMaxWait  = 5
	watchMaxRetry = 500 * time.Millisecond // longest pause between reconnects
)

// Watch calls fn with every VM's current state, then once with a zero
// VMState (Name "") marking the end of that first listing, then again
// whenever a VM's state changes (power, existence, tags, host, guest IP,
// name); a report that would repeat the last one is not made. It watches
// through a logged-in govmomi client, a container view and a property
// collector, like any vSphere client. When the site is stopped it keeps
// reconnecting; after Revive it reports what changed meanwhile. It returns
// nil when ctx ends and ErrClosed when the VCenter is closed. fn runs on
// Watch's goroutine.
func (v *VCenter) Watch(ctx context.Context, fn func(VMState)) error {
	w := &watcher{v: v, fn: fn, known: map[string]VMState{}}
	pause := 50 * time.Millisecond
	for {
		progressed, _ := w.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if progressed {
			pause = 50 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return nil
		case <-v.done:
			return ErrClosed
		case <-time.After(pause):
		}
		pause = min(2*pause, watchMaxRetry)
	}
}

type watcher struct {
	v      *VCenter
	fn     func(VMState)
	known  map[string]VMState // by Ref: what fn was last told
	listed bool               // the end-of-listing marker was sent
}

// session logs in and follows updates until the connection fails or ctx
// ends. progressed says it got as far as the first update set.
func (w *watcher) session(ctx context.Context) (progressed bool, err error) {
	connect, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := w.v.Client(connect)
	if err != nil {
		return false, err
	}
	defer cleanup(func(ctx context.Context) error { return c.Logout(ctx) })

	cv, err := view.NewManager(c.Client).CreateContainerView(ctx, c.ServiceContent.RootFolder, []string{"VirtualMachine"}, true)
	if err != nil {
		return false, fmt.Errorf("vcenter %s: watch: create container view: %w", w.v.o.Site, err)
	}
	defer cleanup(cv.Destroy)
	pc, err := property.DefaultCollector(c.Client).Create(ctx)
	if err != nil {
		return false, fmt.Errorf("vcenter %s: watch: create property collector: %w", w.v.o.Site, err)
	}
	defer cleanup(pc.Destroy)
	_, err = pc.CreateFilter(ctx, types.CreateFilter{Spec: types.PropertyFilterSpec{
		ObjectSet: []types.ObjectSpec{{
			Obj:       cv.Reference(),
			Skip:      types.NewBool(true),
			SelectSet: []types.BaseSelectionSpec{&types.TraversalSpec{Type: "ContainerView", Path: "view"}},
		}},
		PropSet: []types.PropertySpec{{Type: "VirtualMachine", PathSet: watchProps}},
	}})
	if err != nil {
		return false, fmt.Errorf("vcenter %s: watch: create property filter: %w", w.v.o.Site, err)
	}

	maxWait := int32(watchMaxWait)
	req := types.WaitForUpdatesEx{This: pc.Reference(), Options: &types.WaitOptions{MaxWaitSeconds: &maxWait}}
	seen := map[string]bool{} // refs in the initial (possibly paged) update set
	initial := true
	for {
		res, err := methods.WaitForUpdatesEx(ctx, c.Client, &req)
		if err != nil {
			if ctx.Err() != nil {
				cleanup(pc.CancelWaitForUpdates)
			}
			return progressed, err
		}
		set := res.Returnval
		if set == nil {
			continue // MaxWaitSeconds passed without a change
		}
		req.Version = set.Version
		for _, fs := range set.FilterSet {
			for _, u := range fs.ObjectSet {
				if initial {
					seen[u.Obj.Value] = true
				}
				if err := w.apply(ctx, c, u); err != nil {
					return progressed, err
				}
			}
		}
		if initial && (set.Truncated == nil || !*set.Truncated) {
			// VMs known from before a disconnect but absent now were
			// deleted while the site was unreachable.
			for ref := range w.known {
				if !seen[ref] {
					w.gone(ref)
				}
			}
			initial, progressed = false, true
			if !w.listed {
				w.listed = true
				w.fn(VMState{}) // end of the first listing
			}
		}
	}
}

// apply turns one object update into a VMState and reports it if it changed.
func (w *watcher) apply(ctx context.Context, c *govmomi.Client, u types.ObjectUpdate) error {
	if u.Kind == types.ObjectUpdateKindLeave {
		w.gone(u.Obj.Value)
		return nil
	}
	// Re-read the VM rather than patching ChangeSet: vcsim reports some
	// changes under keyed paths such as config.extraConfig["mdc.role"].
	var vm mo.VirtualMachine
	if err := c.RetrieveOne(ctx, u.Obj, watchProps, &vm); err != nil {
		if fault.Is(err, &types.ManagedObjectNotFound{}) {
			w.gone(u.Obj.Value)
			return nil
		}
		return fmt.Errorf("vcenter %s: watch: read %s: %w", w.v.o.Site, u.Obj, err)
	}
	st := VMState{
		Name:      vm.Name,
		Ref:       vm.Self.Value,
		PoweredOn: vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn,
	}
	if vm.Guest != nil {
		st.IP = vm.Guest.IpAddress
	}
	if vm.Runtime.Host != nil {
		st.Host = w.v.topo.hostName[*vm.Runtime.Host]
		if st.Host == "" {
			st.Host = vm.Runtime.Host.Value
		}
	}
	if vm.Config != nil {
		st.Template = vm.Config.Template
		st.Tags = extraConfig(vm.Config.ExtraConfig, TagPrefix)
	}
	if old, ok := w.known[st.Ref]; ok && old.equal(st) {
		return nil
	}
	w.known[st.Ref] = st
	w.fn(st)
	return nil
}

// gone reports a known VM as deleted.
func (w *watcher) gone(ref string) {
	st, ok := w.known[ref]
	if !ok {
		return
	}
	delete(w.known, ref)
	st.Deleted, st.PoweredOn = true, false
	w.fn(st)
}

// cleanup runs a best-effort release call with its own short deadline: the
// caller's context may be done, and the server may be gone.
func cleanup(f func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = f(ctx)
}
