package vcenter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

const stateVersion = 1

// stateFile is the persisted inventory. Guest IPs are deliberately absent:
// the lab hands them out again when the VMs come back.
type stateFile struct {
	Version int        `json:"version"`
	Site    string     `json:"site"`
	VMs     []vmRecord `json:"vms"`
}

// vmRecord is one persisted VM.
type vmRecord struct {
	Name        string            `json:"name"`
	Folder      string            `json:"folder"` // inventory path, e.g. /DC0/vm/mdc
	Host        string            `json:"host"`
	PowerState  string            `json:"powerState"`
	Template    bool              `json:"template,omitempty"`
	NumCPU      int32             `json:"numCPU,omitempty"`
	MemoryMB    int32             `json:"memoryMB,omitempty"`
	ExtraConfig map[string]string `json:"extraConfig,omitempty"`
	Snapshots   []snapRecord      `json:"snapshots,omitempty"`
}

// snapRecord is one snapshot and its children.
type snapRecord struct {
	Name     string       `json:"name"`
	Children []snapRecord `json:"children,omitempty"`
}

// loadState reads a state file; a missing file (or no file configured) means
// a fresh start and returns nil.
func loadState(file, site string) (*stateFile, error) {
	if file == "" {
		return nil, nil
	}
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("vcenter %s: read state file: %w", site, err)
	}
	var s stateFile
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("vcenter %s: state file %s is not valid JSON (%w): fix it or delete it to start the site afresh", site, file, err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("vcenter %s: state file %s has version %d, this mdc reads %d: delete it to start the site afresh", site, file, s.Version, stateVersion)
	}
	if s.Site != site {
		return nil, fmt.Errorf("vcenter %s: state file %s belongs to site %q: point StateFile at this site's own file", site, file, s.Site)
	}
	seen := map[string]bool{}
	for i, r := range s.VMs {
		if r.Name == "" || seen[r.Name] {
			return nil, fmt.Errorf("vcenter %s: state file %s: VM #%d has an empty or duplicate name %q: fix or delete the file", site, file, i+1, r.Name)
		}
		seen[r.Name] = true
	}
	return &s, nil
}

// writeAtomic replaces file with b so that readers (and a crash) see either
// the old or the new content, never a torn one.
func writeAtomic(file string, b []byte) error {
	dir := filepath.Dir(file)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(file)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }() // no-op after a successful rename
	if _, err := tmp.Write(b); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}

// Save writes the current inventory to StateFile now (it is also saved after
// every change, on Stop and on Close). It works while the site is stopped.
func (v *VCenter) Save(ctx context.Context) error {
	if v.o.StateFile == "" {
		return nil
	}
	v.mu.Lock()
	closed := v.closed
	v.mu.Unlock()
	if closed {
		return fmt.Errorf("vcenter %s: Save after Close", v.o.Site)
	}
	v.saver.mu.Lock() // one writer at a time, and skip identical writes
	defer v.saver.mu.Unlock()
	s, err := v.capture(ctx)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("vcenter %s: encode state: %w", v.o.Site, err)
	}
	b = append(b, '\n')
	if bytes.Equal(b, v.saver.last) {
		return nil
	}
	if err := writeAtomic(v.o.StateFile, b); err != nil {
		return fmt.Errorf("vcenter %s: write state file %s: %w", v.o.Site, v.o.StateFile, err)
	}
	v.saver.last = b
	return nil
}

// capture reads every VM and folder under the datacenter's vm folder
// through the in-process client, which needs no login and no listener.
func (v *VCenter) capture(ctx context.Context) (*stateFile, error) {
	walk := &types.TraversalSpec{
		SelectionSpec: types.SelectionSpec{Name: "folders"},
		Type:          "Folder",
		Path:          "childEntity",
		SelectSet:     []types.BaseSelectionSpec{&types.SelectionSpec{Name: "folders"}},
	}
	vmRoot := v.topo.vmRootRef
	req := types.RetrieveProperties{SpecSet: []types.PropertyFilterSpec{{
		ObjectSet: []types.ObjectSpec{{Obj: vmRoot, SelectSet: []types.BaseSelectionSpec{walk}}},
		PropSet: []types.PropertySpec{
			{Type: "Folder", PathSet: []string{"name", "parent"}},
			{Type: "VirtualMachine", PathSet: []string{
				"name", "parent", "runtime.host", "runtime.powerState", "config.template",
				"config.hardware.numCPU", "config.hardware.memoryMB", "config.extraConfig", "snapshot",
			}},
		},
	}}}
	res, err := property.DefaultCollector(v.inproc).RetrieveProperties(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("vcenter %s: read the inventory: %w", v.o.Site, err)
	}
	folders := map[types.ManagedObjectReference]mo.Folder{}
	var vms []mo.VirtualMachine
	for _, oc := range res.Returnval {
		obj, err := mo.ObjectContentToType(oc)
		if err != nil {
			return nil, fmt.Errorf("vcenter %s: decode %s: %w", v.o.Site, oc.Obj, err)
		}
		switch o := obj.(type) {
		case mo.Folder:
			folders[o.Self] = o
		case mo.VirtualMachine:
			vms = append(vms, o)
		}
	}
	folderPath := func(ref types.ManagedObjectReference) string {
		var names []string
		for ref != vmRoot {
			f, ok := folders[ref]
			if !ok || f.Parent == nil {
				return v.topo.folder // cannot happen: VMs live under the vm folder
			}
			names = append([]string{f.Name}, names...)
			ref = *f.Parent
		}
		return path.Join(append([]string{v.topo.vmRoot}, names...)...)
	}

	s := &stateFile{Version: stateVersion, Site: v.o.Site, VMs: []vmRecord{}}
	for _, vm := range vms {
		r := vmRecord{Name: vm.Name, PowerState: string(vm.Runtime.PowerState)}
		if vm.Parent != nil {
			r.Folder = folderPath(*vm.Parent)
		}
		if vm.Runtime.Host != nil {
			r.Host = v.topo.hostName[*vm.Runtime.Host]
		}
		if vm.Config != nil {
			r.Template = vm.Config.Template
			r.NumCPU = vm.Config.Hardware.NumCPU
			r.MemoryMB = vm.Config.Hardware.MemoryMB
			r.ExtraConfig = extraConfig(vm.Config.ExtraConfig, "")
		}
		if vm.Snapshot != nil {
			r.Snapshots = snapTree(vm.Snapshot.RootSnapshotList)
		}
		s.VMs = append(s.VMs, r)
	}
	sort.Slice(s.VMs, func(i, j int) bool { return s.VMs[i].Name < s.VMs[j].Name })
	return s, nil
}

// extraConfig maps the ExtraConfig keys that start with prefix to their
// values; nil when there are none.
func extraConfig(opts []types.BaseOptionValue, prefix string) map[string]string {
	var m map[string]string
	for _, o := range opts {
		ov := o.GetOptionValue()
		if ov == nil || len(ov.Key) < len(prefix) || ov.Key[:len(prefix)] != prefix {
			continue
		}
		if m == nil {
			m = map[string]string{}
		}
		if s, ok := ov.Value.(string); ok {
			m[ov.Key] = s
		} else {
			m[ov.Key] = fmt.Sprint(ov.Value)
		}
	}
	return m
}

func snapTree(ts []types.VirtualMachineSnapshotTree) []snapRecord {
	var out []snapRecord
	for _, t := range ts {
		out = append(out, snapRecord{Name: t.Name, Children: snapTree(t.ChildSnapshotList)})
	}
	return out
}

// saver saves the inventory shortly after vcsim reports a change to a VM or
// folder, and every saveEvery in case a change slipped past the hook.
type saver struct {
	mu    sync.Mutex // held while saving
	last  []byte     // what the file holds now
	dirty chan struct{}
	quit  chan struct{}
	done  chan struct{}
	once  sync.Once
}

const (
	saveDebounce = 50 * time.Millisecond // coalesce the burst of updates one task makes
	saveEvery    = 30 * time.Second
)

func startSaver(v *VCenter) *saver {
	s := &saver{dirty: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	if v.o.StateFile == "" {
		close(s.done)
		return s
	}
	v.model.Map().AddHandler(&changeHook{dirty: s.dirty})
	go func() {
		defer close(s.done)
		tick := time.NewTicker(saveEvery)
		defer tick.Stop()
		for {
			select {
			case <-s.quit:
				return
			case <-tick.C:
			case <-s.dirty:
				select {
				case <-s.quit:
					return
				case <-time.After(saveDebounce):
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := v.Save(ctx); err != nil {
				v.o.Logf("vcenter %s: background save: %v", v.o.Site, err)
			}
			cancel()
		}
	}()
	return s
}

// stop ends the background saver and waits for it.
func (s *saver) stop() {
	if s == nil {
		return
	}
	s.once.Do(func() { close(s.quit) })
	<-s.done
}

// changeHook is a vcsim registry handler (the mechanism its property
// collector uses) that marks the inventory dirty. vcsim calls it under its
// own locks, so it only signals.
type changeHook struct{ dirty chan struct{} }

func (h *changeHook) Reference() types.ManagedObjectReference {
	return types.ManagedObjectReference{Type: "MdcStateSaver", Value: "mdc-state-saver"}
}

func (h *changeHook) mark(ref types.ManagedObjectReference) {
	switch ref.Type {
	case "VirtualMachine", "Folder", "VirtualMachineSnapshot":
		select {
		case h.dirty <- struct{}{}:
		default:
		}
	}
}

// PutObject implements simulator.RegisterObject.
func (h *changeHook) PutObject(_ *simulator.Context, obj mo.Reference) { h.mark(obj.Reference()) }

// UpdateObject implements simulator.RegisterObject.
func (h *changeHook) UpdateObject(_ *simulator.Context, obj mo.Reference, _ []types.PropertyChange) {
	h.mark(obj.Reference())
}

// RemoveObject implements simulator.RegisterObject.
func (h *changeHook) RemoveObject(_ *simulator.Context, ref types.ManagedObjectReference) {
	h.mark(ref)
}
