package vsphere

import (
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// taskHook makes vSphere tasks of a simulator model fail (or run slowly).
// vcsim puts every new task into its registry just before running it, and
// tells registered handlers synchronously; the hook swaps the task's body
// there. Unlike a fault rule, which fails the call itself, this fails the
// task, as vSphere does when a clone runs out of space halfway.
type taskHook struct {
	mu      sync.Mutex
	actions map[string]hookAction // by task name as vcsim names it: "CloneVm", "PowerOn"
}

type hookAction struct {
	fault types.BaseMethodFault // nil: the task's own result is kept
	delay time.Duration         // added before the task's body runs
	count int                   // how many tasks to intercept; 0 = all
	// realFirst runs the task's real body before failing: the work happened
	// but its caller hears a fault (as when a concurrent run did it).
	realFirst bool
}

// installTaskHook registers the hook with the simulator's registry.
func installTaskHook(s *sim) *taskHook {
	h := &taskHook{actions: map[string]hookAction{}}
	s.svc.Context.Map.AddHandler(h)
	return h
}

// fail makes the next count tasks called name (0 = all) fail with fault.
func (h *taskHook) fail(name string, fault types.BaseMethodFault, delay time.Duration, count int) {
	h.set(name, hookAction{fault: fault, delay: delay, count: count})
}

func (h *taskHook) set(name string, act hookAction) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.actions[name] = act
}

// take returns (and counts) the action for a new task called name.
func (h *taskHook) take(name string) (hookAction, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	act, ok := h.actions[name]
	if ok && act.count > 0 {
		act.count--
		if act.count == 0 {
			delete(h.actions, name)
		} else {
			h.actions[name] = act
		}
	}
	return act, ok
}

// Reference implements simulator.RegisterObject.
func (h *taskHook) Reference() types.ManagedObjectReference {
	return types.ManagedObjectReference{Type: "MdcTaskHook", Value: "mdc-task-hook"}
}

// PutObject implements simulator.RegisterObject: it rewrites new tasks.
func (h *taskHook) PutObject(_ *simulator.Context, obj mo.Reference) {
	t, ok := obj.(*simulator.Task)
	if !ok {
		return
	}
	act, ok := h.take(t.Info.Name)
	if !ok {
		return
	}
	real := t.Execute
	t.Execute = func(task *simulator.Task) (types.AnyType, types.BaseMethodFault) {
		time.Sleep(act.delay)
		if act.fault == nil {
			return real(task)
		}
		if act.realFirst {
			_, _ = real(task)
		}
		return nil, act.fault
	}
}

// UpdateObject implements simulator.RegisterObject.
func (h *taskHook) UpdateObject(*simulator.Context, mo.Reference, []types.PropertyChange) {}

// RemoveObject implements simulator.RegisterObject.
func (h *taskHook) RemoveObject(*simulator.Context, types.ManagedObjectReference) {}
