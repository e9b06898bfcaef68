package workflows

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/microdc/mdc/activities/health"
	"github.com/microdc/mdc/activities/lb"
	"github.com/microdc/mdc/activities/vsphere"
)

// scaleT0 is the test clock's start, so that times in assertions read as
// offsets from the workflow's start.
var scaleT0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeVC is a site's vCenter inventory for FindVMs mocks.
type fakeVC struct {
	mu  sync.Mutex
	vms map[string]vsphere.VM
}

func scaleTags(extra bool) map[string]string {
	t := map[string]string{vsphere.TagRole: "web", vsphere.TagService: "web", vsphere.TagSite: "uk"}
	if extra {
		t[TagScaled] = "true"
	}
	return t
}

// newFakeVC holds the lab's uk site: two base web nodes on two hosts, a
// database VM and the web template.
func newFakeVC() *fakeVC {
	f := &fakeVC{vms: map[string]vsphere.VM{}}
	f.put(vsphere.VM{Name: "uk-web-1", PowerState: vsphere.PoweredOn, Host: "H0", IP: "10.1.0.10", Tags: scaleTags(false)})
	f.put(vsphere.VM{Name: "uk-web-2", PowerState: vsphere.PoweredOn, Host: "H1", IP: "10.1.0.11", Tags: scaleTags(false)})
	f.put(vsphere.VM{Name: "uk-db-1", PowerState: vsphere.PoweredOn, Host: "H1", Tags: map[string]string{vsphere.TagRole: "db", vsphere.TagService: "db", vsphere.TagSite: "uk"}})
	f.put(vsphere.VM{Name: "web-template", PowerState: vsphere.PoweredOff, Host: "H0", Template: true, Tags: scaleTags(false)})
	return f
}

func (f *fakeVC) put(vm vsphere.VM) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.vms[vm.Name] = vm
}

func (f *fakeVC) remove(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.vms, name)
}

func (f *fakeVC) has(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.vms[name]
	return ok
}

// find is FindVMs over the fake inventory, with the activity's semantics.
func (f *fakeVC) find(_ context.Context, in vsphere.FindVMsInput) (vsphere.FindVMsResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	res := vsphere.FindVMsResult{VMs: []vsphere.VM{}}
	names := in.Names
	if len(names) == 0 {
		for n := range f.vms {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		vm, ok := f.vms[n]
		if !ok {
			res.Missing = append(res.Missing, n)
			continue
		}
		match := true
		for k, v := range in.Tags {
			if vm.Tags[k] != v {
				match = false
			}
		}
		if match {
			res.VMs = append(res.VMs, vm)
		}
	}
	return res, nil
}

// childCall is one ScaleOut or ScaleIn child the harness saw.
type childCall struct {
	ID    string
	Name  string
	Avoid string
	At    time.Duration // since scaleT0
}

// scaleHarness runs Autoscale with ScaleOut/ScaleIn mocked as children
// that change the fake inventory, so tests see decisions, not vSphere.
type scaleHarness struct {
	t   *testing.T
	env *testsuite.TestWorkflowEnvironment
	vc  *fakeVC

	mu     sync.Mutex
	outs   []childCall
	ins    []childCall
	outErr error
	inErr  error
}

func newScaleEnv() *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	Register(env)
	env.RegisterActivity(&vsphere.Activities{})
	env.RegisterActivity(&lb.Activities{})
	env.RegisterActivity(&health.Activities{})
	env.SetStartTime(scaleT0)
	return env
}

func newScaleHarness(t *testing.T) *scaleHarness {
	h := &scaleHarness{t: t, env: newScaleEnv(), vc: newFakeVC()}
	h.env.OnActivity(asVSphere.FindVMs, mock.Anything, mock.Anything).Return(h.vc.find)
	h.env.OnWorkflow(ScaleOutWorkflow, mock.Anything, mock.Anything).Return(func(ctx workflow.Context, in ScaleOutInput) (ScaleOutResult, error) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.outs = append(h.outs, childCall{ID: workflow.GetInfo(ctx).WorkflowExecution.ID, Name: in.Name, Avoid: in.Avoid, At: h.env.Now().Sub(scaleT0)})
		if h.outErr != nil {
			return ScaleOutResult{}, h.outErr
		}
		h.vc.put(vsphere.VM{Name: in.Name, PowerState: vsphere.PoweredOn, Host: "H1", IP: "10.1.0.99", Tags: scaleTags(true)})
		return ScaleOutResult{Name: in.Name, Host: "H1", IP: "10.1.0.99"}, nil
	})
	h.env.OnWorkflow(ScaleInWorkflow, mock.Anything, mock.Anything).Return(func(ctx workflow.Context, in ScaleInInput) (ScaleInResult, error) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.ins = append(h.ins, childCall{ID: workflow.GetInfo(ctx).WorkflowExecution.ID, Name: in.Name, At: h.env.Now().Sub(scaleT0)})
		if h.inErr != nil {
			return ScaleInResult{}, h.inErr
		}
		h.vc.remove(in.Name)
		return ScaleInResult{Name: in.Name}, nil
	})
	return h
}

// policy is the platform default: out at 2.0 for 30s, in below 1.0 for
// 2m, cooldowns 1m and 5m, 1..4 replicas.
func autoscaleInput() AutoscaleInput {
	return AutoscaleInput{
		Site: "uk", Service: "web",
		Policy: ScalePolicy{OutLoad: 2, InLoad: 1, OutWindow: 30 * time.Second, InWindow: 2 * time.Minute,
			OutCooldown: time.Minute, InCooldown: 5 * time.Minute, Min: 1, Max: 4},
		Template: "web-template", Snapshot: "golden", Backend: "be_web", Port: 8080, HealthPath: "/healthz",
	}
}

// load sends a sample observed at offset d, as the monitor would.
func (h *scaleHarness) load(d time.Duration, node string, load float64) {
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(LoadSignal, LoadSample{Node: node, Load1: load, ObservedAt: h.env.Now()})
	}, d)
}

// at runs fn at offset d.
func (h *scaleHarness) at(d time.Duration, fn func()) { h.env.RegisterDelayedCallback(fn, d) }

// state queries the running workflow.
func (h *scaleHarness) state() AutoscaleStatus {
	v, err := h.env.QueryWorkflow(StateQuery)
	require.NoError(h.t, err)
	var s AutoscaleStatus
	require.NoError(h.t, v.Get(&s))
	return s
}

// run executes Autoscale until offset until, then cancels it, and returns
// the workflow's error (a cancellation unless it continued as new).
func (h *scaleHarness) run(in AutoscaleInput, until time.Duration) error {
	h.env.RegisterDelayedCallback(h.env.CancelWorkflow, until)
	h.env.ExecuteWorkflow(AutoscaleName, in)
	require.True(h.t, h.env.IsWorkflowCompleted())
	return h.env.GetWorkflowError()
}

func (h *scaleHarness) calls() (outs, ins []childCall) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]childCall(nil), h.outs...), append([]childCall(nil), h.ins...)
}

func childNames(cs []childCall) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

func childOffsets(cs []childCall) []time.Duration {
	out := []time.Duration{}
	for _, c := range cs {
		out = append(out, c.At)
	}
	return out
}
