package vcenter

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/vmware/govmomi/property"
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

// watchMaxRetry is the longest pause between reconnects.
const watchMaxRetry = 500 * time.Millisecond

// Watch calls fn with every VM's current state, then once with a zero
// VMState (Name "") marking the end of that first listing, then again
// whenever a VM's state changes (power, existence, tags, host, guest IP,
// name); a report that would repeat the last one is not made. It reads the
// VMs through a logged-in govmomi client every watchPoll. When the site is stopped it keeps
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

// watchPoll is how often a session reads every VM. Polling, not a property
// filter: vcsim deadlocks when a filter's update (on every object change)
// meets clone tasks holding object locks, which wedged the lab under
// concurrent clones. A poll registers nothing inside vcsim.
const watchPoll = 200 * time.Millisecond

// session logs in and reads every VM each watchPoll until the connection
// fails or ctx ends, reporting what changed. progressed says it completed
// at least one full listing.
func (w *watcher) session(ctx context.Context) (progressed bool, err error) {
	connect, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := w.v.Client(connect)
	if err != nil {
		return false, err
	}
	defer cleanup(func(ctx context.Context) error { return c.Logout(ctx) })
	walk := &types.TraversalSpec{
		SelectionSpec: types.SelectionSpec{Name: "folders"},
		Type:          "Folder",
		Path:          "childEntity",
		SelectSet:     []types.BaseSelectionSpec{&types.SelectionSpec{Name: "folders"}},
	}
	req := types.RetrieveProperties{SpecSet: []types.PropertyFilterSpec{{
		ObjectSet: []types.ObjectSpec{{Obj: w.v.topo.vmRootRef, SelectSet: []types.BaseSelectionSpec{walk}}},
		PropSet:   []types.PropertySpec{{Type: "VirtualMachine", PathSet: watchProps}},
	}}}
	pc := property.DefaultCollector(c.Client)
	for {
		res, err := pc.RetrieveProperties(ctx, req)
		if err != nil {
			return progressed, err
		}
		var vms []mo.VirtualMachine
		if err := mo.LoadObjectContent(res.Returnval, &vms); err != nil {
			return progressed, fmt.Errorf("vcenter %s: watch: decode VMs: %w", w.v.o.Site, err)
		}
		w.apply(vms)
		progressed = true
		if !w.listed {
			w.listed = true
			w.fn(VMState{}) // end of the first listing
		}
		select {
		case <-ctx.Done():
			return progressed, ctx.Err()
		case <-w.v.done:
			return progressed, ErrClosed
		case <-time.After(watchPoll):
		}
	}
}

// apply reports one full listing of the VMs: first the VMs known before but
// absent now (deleted, possibly while the site was unreachable), then every
// listed VM that changed. Deletions go first because a name can be reused
// between two polls: us-web-1 is destroyed and ProvisionSite's next clone is
// named us-web-1 again. Reported the other way round, the new VM's power-on
// reached the node manager while the old VM's node still ran (so no guest IP
// was set on the new VM, and WaitForIP timed out) and the old VM's deletion
// then stopped that node.
func (w *watcher) apply(vms []mo.VirtualMachine) {
	seen := make(map[string]bool, len(vms))
	for _, vm := range vms {
		seen[vm.Self.Value] = true
	}
	for _, ref := range slices.Sorted(maps.Keys(w.known)) {
		if !seen[ref] {
			w.gone(ref)
		}
	}
	for _, vm := range vms {
		w.report(vm)
	}
}

// report turns a VM into a VMState and reports it if it changed.
func (w *watcher) report(vm mo.VirtualMachine) {
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
		return
	}
	w.known[st.Ref] = st
	w.fn(st)
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
