package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// allocations maps VM names to address slots and mirrors them to a JSON
// file, so a VM keeps its IP when the lab restarts: vSphere, HAProxy and
// PowerDNS all still know the old address.
type allocations struct {
	path  string // "" keeps allocations in memory only
	max   int
	slots map[string]int
}

func loadAllocations(path string, max int) (*allocations, error) {
	a := &allocations{path: path, max: max, slots: map[string]int{}}
	if path == "" {
		return a, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return a, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read node allocation file: %w", err)
	}
	if err := json.Unmarshal(b, &a.slots); err != nil {
		return nil, fmt.Errorf("node allocation file %s is not a JSON object of VM name to slot number: %w (fix or delete it; VMs then get new addresses)", path, err)
	}
	owner := map[int]string{}
	for vm, s := range a.slots {
		if s < 0 || s >= max {
			return nil, fmt.Errorf("node allocation file %s: VM %q has slot %d, outside 0..%d (MaxNodes is %d)", path, vm, s, max-1, max)
		}
		if prev, dup := owner[s]; dup {
			return nil, fmt.Errorf("node allocation file %s: VMs %q and %q both have slot %d; remove one of them", path, prev, vm, s)
		}
		owner[s] = vm
	}
	return a, nil
}

// get returns vm's slot, allocating the lowest free one if it has none.
func (a *allocations) get(vm string) (slot int, fresh bool, err error) {
	if s, ok := a.slots[vm]; ok {
		return s, false, nil
	}
	used := make([]bool, a.max)
	for _, s := range a.slots {
		used[s] = true
	}
	for s, u := range used {
		if !u {
			a.slots[vm] = s
			if err := a.save(); err != nil {
				delete(a.slots, vm)
				return 0, false, err
			}
			return s, true, nil
		}
	}
	return 0, false, fmt.Errorf("no free node address for VM %q: all %d slots are taken; delete VMs or raise MaxNodes", vm, a.max)
}

// free releases vm's slot; freeing an unknown VM is a no-op.
func (a *allocations) free(vm string) error {
	s, ok := a.slots[vm]
	if !ok {
		return nil
	}
	delete(a.slots, vm)
	if err := a.save(); err != nil {
		a.slots[vm] = s
		return err
	}
	return nil
}

// save writes the file atomically (temp file and rename), so a crash
// mid-write leaves the previous allocations intact.
func (a *allocations) save() error {
	if a.path == "" {
		return nil
	}
	b, err := json.MarshalIndent(a.slots, "", "  ") // map keys are sorted: stable diffs
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(a.path), 0o755); err != nil {
		return fmt.Errorf("save node allocations: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(a.path), filepath.Base(a.path)+".tmp*")
	if err != nil {
		return fmt.Errorf("save node allocations: %w", err)
	}
	_, werr := tmp.Write(append(b, '\n'))
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("save node allocations to %s: %w", a.path, err)
	}
	if err := os.Rename(tmp.Name(), a.path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("save node allocations to %s: %w", a.path, err)
	}
	return nil
}
