package node

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
)

// RoleWeb is the VM role whose power state the Manager turns into web nodes.
const RoleWeb = "web"

// defaultMaxNodes mirrors lab.MaxNodes (package lab imports this one, so it
// cannot be imported here).
const defaultMaxNodes = 241

// VMEvent is a vSphere VM's state as the lab's event watcher saw it.
type VMEvent struct {
	Name, Role, Service string
	// Ref is vSphere's managed object ID of the VM ("" when unknown). A
	// name can be reused after its VM is destroyed; Ref tells the new VM
	// from the old one whatever order their events arrive in.
	Ref                string
	PoweredOn, Deleted bool
}

// IPReporter publishes a node's address as its VM's guest IP in vSphere,
// where mdc's workflows wait for it.
type IPReporter interface {
	SetGuestIP(ctx context.Context, vm, ip string) error
}

// ManagerOptions configure a site's Manager.
type ManagerOptions struct {
	Site string
	// IPs returns the address of slot n (0-based), e.g. lab.Plan.NodeIP bound to the site.
	IPs func(n int) string
	// MaxNodes is the number of slots; 241 (lab.MaxNodes) when 0.
	MaxNodes int
	// HTTPPort, SNMPPort, Community, HealthPath and DSN are passed to every node (see Options).
	HTTPPort, SNMPPort int
	Community          string
	HealthPath, DSN    string
	// Reporter receives each started node's IP; nil skips reporting.
	Reporter IPReporter
	// AllocFile persists VM name → slot as JSON so a VM keeps its IP across
	// lab restarts; "" keeps allocations in memory.
	AllocFile string
	// Logger receives power events and node logs; nothing is logged when nil.
	Logger *slog.Logger
}

// Manager runs one site's web nodes, starting and stopping them as their
// VMs power on and off. It is safe for concurrent use.
type Manager struct {
	o   ManagerOptions
	log *slog.Logger

	mu    sync.Mutex
	alloc *allocations
	vms   map[string]*vmState
}

// vmState is what the Manager knows about one web VM.
type vmState struct {
	service  string
	ref      string // the VM's managed object ID, once an event carried it
	node     *Node  // nil while powered off
	gen      uint64
	reported bool // the running node's IP reached vSphere
}

// NewManager loads the allocation file (if any) and returns a Manager with
// no nodes running; Handle starts them.
func NewManager(o ManagerOptions) (*Manager, error) {
	if o.IPs == nil {
		return nil, fmt.Errorf("node manager for site %q: ManagerOptions.IPs is nil; pass the site's slot-to-address function", o.Site)
	}
	if o.MaxNodes == 0 {
		o.MaxNodes = defaultMaxNodes
	}
	if o.MaxNodes < 0 {
		return nil, fmt.Errorf("node manager for site %q: MaxNodes %d is negative", o.Site, o.MaxNodes)
	}
	if ip := o.IPs(0); net.ParseIP(ip) == nil {
		return nil, fmt.Errorf("node manager for site %q: IPs(0) = %q is not an IP address", o.Site, ip)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	alloc, err := loadAllocations(o.AllocFile, o.MaxNodes)
	if err != nil {
		return nil, fmt.Errorf("node manager for site %q: %w", o.Site, err)
	}
	m := &Manager{o: o, log: o.Logger.With("site", o.Site), alloc: alloc, vms: map[string]*vmState{}}
	for vm := range alloc.slots {
		m.vms[vm] = &vmState{service: RoleWeb}
	}
	return m, nil
}

// Handle applies one VM event. A powered-on web VM gets a stable slot
// (persisted), a running node and its IP reported to vSphere; powered off
// stops the node and keeps the slot; deleted stops it and frees the slot.
// Events for VMs of other roles are ignored. A name's VM is told by its
// Ref: an event with a new Ref is a new VM (a fresh node, its IP reported),
// and a deletion with an old Ref is ignored. Handle is idempotent: a
// repeated event changes nothing, except that a report that failed before
// is retried.
func (m *Manager) Handle(ctx context.Context, ev VMEvent) error {
	if ev.Name == "" {
		return errors.New("node manager: VM event without a VM name")
	}
	m.mu.Lock()
	st, known := m.vms[ev.Name]
	if !known && ev.Role != RoleWeb {
		m.mu.Unlock()
		return nil
	}
	if known && ev.Ref != "" && st.ref != "" && ev.Ref != st.ref {
		if ev.Deleted { // the old VM of a reused name: its node is gone already
			m.mu.Unlock()
			return nil
		}
		// A new VM under a known name: the old VM's node is not this
		// VM's, and the new VM has no guest IP yet.
		if err := m.stopLocked(ev.Name, st); err != nil {
			m.log.Warn("stop the node of a replaced VM", "vm", ev.Name, "err", err)
		}
	}
	if known && ev.Ref != "" {
		st.ref = ev.Ref
	}
	switch {
	case ev.Deleted:
		defer m.mu.Unlock()
		err := m.stopLocked(ev.Name, st)
		if ferr := m.alloc.free(ev.Name); ferr != nil {
			return errors.Join(err, fmt.Errorf("free address of deleted VM %s: %w", ev.Name, ferr))
		}
		delete(m.vms, ev.Name)
		if known {
			m.log.Info("web VM deleted, address freed", "vm", ev.Name)
		}
		return err
	case !ev.PoweredOn:
		defer m.mu.Unlock()
		if !known {
			return nil // a powered-off web VM we never saw needs nothing yet
		}
		return m.stopLocked(ev.Name, st)
	}

	if !known {
		st = &vmState{ref: ev.Ref}
		m.vms[ev.Name] = st
	}
	if st.node == nil { // a running node keeps the service it started with
		st.service = cmp.Or(ev.Service, st.service, RoleWeb)
	}
	ip, err := m.startLocked(ev.Name, st)
	if _, hasSlot := m.alloc.slots[ev.Name]; err != nil && !hasSlot {
		delete(m.vms, ev.Name) // no slot, no node: forget the VM entirely
	}
	if err != nil || st.reported || m.o.Reporter == nil {
		m.mu.Unlock()
		return err
	}
	gen := st.gen
	m.mu.Unlock()

	// Report outside the lock: the reporter talks to vCenter, and other
	// VMs' events must not wait for it.
	if err := m.o.Reporter.SetGuestIP(ctx, ev.Name, ip); err != nil {
		return fmt.Errorf("web node %s is serving on %s, but reporting the IP to vSphere failed (a repeated power-on event retries): %w", ev.Name, ip, err)
	}
	m.mu.Lock()
	if st.node != nil && st.gen == gen {
		st.reported = true
	}
	m.mu.Unlock()
	return nil
}

// startLocked makes sure vm has a slot and a running node, returning its IP.
func (m *Manager) startLocked(vm string, st *vmState) (string, error) {
	slot, fresh, err := m.alloc.get(vm)
	if err != nil {
		return "", fmt.Errorf("site %s: %w", m.o.Site, err)
	}
	ip := m.o.IPs(slot)
	if st.node != nil {
		return ip, nil
	}
	n, err := Start(Options{
		Name: vm, Site: m.o.Site, Service: st.service, IP: ip,
		HTTPPort: m.o.HTTPPort, SNMPPort: m.o.SNMPPort, Community: m.o.Community,
		HealthPath: m.o.HealthPath, DSN: m.o.DSN, Logger: m.o.Logger,
	})
	if err != nil {
		return "", fmt.Errorf("site %s: power on web VM: %w", m.o.Site, err)
	}
	st.node, st.reported = n, false
	st.gen++
	m.log.Info("web VM powered on", "vm", vm, "ip", ip, "slot", slot, "new_slot", fresh)
	return ip, nil
}

func (m *Manager) stopLocked(vm string, st *vmState) error {
	if st == nil || st.node == nil {
		return nil
	}
	err := st.node.Stop()
	st.node, st.reported = nil, false
	m.log.Info("web VM powered off", "vm", vm)
	return err
}

// SetLoad sets the 1-minute load of a running node (see Node.SetLoad).
func (m *Manager) SetLoad(name string, load float64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.vms[name]
	switch {
	case !ok:
		return fmt.Errorf("no web node %q at site %s; %s", name, m.o.Site, m.listLocked())
	case st.node == nil:
		return fmt.Errorf("web node %q at site %s is powered off; power its VM on first", name, m.o.Site)
	}
	st.node.SetLoad(load)
	return nil
}

// listLocked names the known nodes for error messages.
func (m *Manager) listLocked() string {
	if len(m.vms) == 0 {
		return "the site has no web nodes"
	}
	names := make([]string, 0, len(m.vms))
	for vm, st := range m.vms {
		state := "running"
		if st.node == nil {
			state = "powered off"
		}
		names = append(names, fmt.Sprintf("%s (%s)", vm, state))
	}
	slices.Sort(names)
	return "known nodes: " + strings.Join(names, ", ")
}

// Nodes describes every web VM the Manager knows, running or not, by name.
func (m *Manager) Nodes() []Info {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Info, 0, len(m.vms))
	for vm, st := range m.vms {
		if st.node != nil {
			out = append(out, st.node.Info())
			continue
		}
		i := Info{Name: vm, Site: m.o.Site, Service: st.service}
		if slot, ok := m.alloc.slots[vm]; ok {
			i.IP = m.o.IPs(slot)
		}
		out = append(out, i)
	}
	slices.SortFunc(out, func(a, b Info) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// StopAll stops every node, as killing the site would, and keeps the
// allocations: a later powered-on event restarts a node on the same address.
func (m *Manager) StopAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for vm, st := range m.vms {
		if err := m.stopLocked(vm, st); err != nil {
			m.log.Warn("stop web node", "vm", vm, "err", err)
		}
	}
}
