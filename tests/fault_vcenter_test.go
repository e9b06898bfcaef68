package tests

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmware/govmomi/simulator"
	"go.temporal.io/sdk/client"

	"github.com/microdc/mdc/activities/vsphere"
	"github.com/microdc/mdc/workers"
	"github.com/microdc/mdc/workflows"
)

// Faults injected into the lab's vCenters (vcsim fault rules) on the calls
// that clone and power on VMs, while ScaleOut and ProvisionSite run
// through the real workers: a transient fault (a vCenter that fails
// transiently, a busy VM; slow to fail) is retried to success, and a
// permanent one (a missing privilege) fails the run, which destroys what
// it created and leaves the load balancers and DNS as they were. Counts
// come from vCenter's event log, HAProxy and PowerDNS (see effects).
func TestFaultVCenterFaultsDuringScaleOutAndProvision(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the lab")
	}
	fs := startFaultStack(t, 159, false)
	t.Run("ScaleOut retries a failing clone and power-on", fs.scaleOutTransient)
	t.Run("ScaleOut undoes its clone when power-on is refused", fs.scaleOutPermanent)
	t.Run("ProvisionSite retries a failing clone and power-on", fs.provisionTransient)
	t.Run("ProvisionSite undoes its clones when one is refused", fs.provisionPermanent)
}

// fault adds a rule to site's vCenter for the rest of the subtest and
// returns it: vcsim counts its hits.
func (fs *faultStack) fault(t *testing.T, site string, r simulator.FaultInjectionRule) *simulator.FaultInjectionRule {
	t.Helper()
	svc, err := fs.lab.VCenterSimulator(site)
	require.NoError(t, err)
	r.Probability, r.Enabled = 1, true
	if r.ObjectType == "" {
		r.ObjectType = "VirtualMachine"
	}
	rule := &r
	svc.AddFaultRule(rule)
	t.Cleanup(svc.ClearFaultRules)
	return rule
}

// faultHits is how often site's vCenter injected its rule number i.
func (fs *faultStack) faultHits(t *testing.T, site string, i int) int64 {
	t.Helper()
	svc, err := fs.lab.VCenterSimulator(site)
	require.NoError(t, err)
	n, _ := svc.FaultInjector().GetStats()[fmt.Sprintf("rule_%d_count", i)].(int64)
	return n
}

// runFaulted runs a workflow to its end; it returns the workflow's error
// and the attempts of each activity type (the most any of its calls took).
func (fs *faultStack) runFaulted(t *testing.T, id, name string, in, out any) (map[string]int32, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run, err := fs.st.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: workers.SharedQueue}, name, in)
	require.NoError(t, err)
	werr := run.Get(ctx, out)
	evs, err := historyEvents(ctx, fs.st.Client, id, "")
	require.NoError(t, err)
	types := map[int64]string{}
	attempts := map[string]int32{}
	for _, ev := range evs {
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
			types[ev.GetEventId()] = a.GetActivityType().GetName()
		}
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil {
			typ := types[a.GetScheduledEventId()]
			attempts[typ] = max(attempts[typ], a.GetAttempt())
		}
	}
	return attempts, werr
}

func (fs *faultStack) scaleOutInput(t *testing.T, name string) workflows.ScaleOutInput {
	a, err := workflows.NewAutoscaleInput(fs.p, "uk", "web")
	require.NoError(t, err)
	return workflows.ScaleOutInput{
		Site: a.Site, Service: a.Service, Name: name, Template: a.Template, Snapshot: a.Snapshot, Datastore: a.Datastore,
		Hosts: a.Hosts, Port: a.Port, HealthPath: a.HealthPath, IPTimeout: time.Minute, HealthTimeout: time.Minute,
		Reason: "fault test",
	}
}

func (fs *faultStack) scaleOutTransient(t *testing.T) {
	// Two clone calls fail, each after a second, as a vCenter that blinks
	// does; the new VM's first power-on finds it busy.
	fs.fault(t, "uk", simulator.FaultInjectionRule{MethodName: "CloneVM_Task", ObjectName: "web-template", MaxCount: 2,
		FaultType: simulator.FaultTypeNetworkFailure, Delay: 1000})
	fs.fault(t, "uk", simulator.FaultInjectionRule{MethodName: "PowerOnVM_Task", ObjectName: "uk-web-x1", MaxCount: 1,
		FaultType: simulator.FaultTypeResourceInUse})
	fx := fs.beginEffects()
	var res workflows.ScaleOutResult
	attempts, err := fs.runFaulted(t, "fault-scaleout-uk-web-x1", workflows.ScaleOutName, fs.scaleOutInput(t, "uk-web-x1"), &res)
	c := fx.end()
	t.Logf("ScaleOut: %v; attempts %v%s", err, attempts, c)
	require.NoError(t, err)
	require.Equal(t, int64(2), fs.faultHits(t, "uk", 0), "both clone faults were injected")
	require.Equal(t, int64(1), fs.faultHits(t, "uk", 1), "the power-on fault was injected")
	require.Equal(t, int32(3), attempts["CloneVM"], "the clone succeeded on its third attempt")
	require.Equal(t, int32(2), attempts["PowerOn"], "the power-on on its second")
	require.Equal(t, map[string]int{"VmClonedEvent uk-web-x1": 1, "VmPoweredOnEvent uk-web-x1": 1}, c.VMEvents["uk"], "one clone, one power-on")
	require.Equal(t, 1, c.LB["uk"]["added uk-web-x1"], "%v", c.LB["uk"])
	vm, ok := fs.findVM(t, "uk", "uk-web-x1")
	require.True(t, ok)
	require.Equal(t, vsphere.PoweredOn, vm.PowerState)
	require.Equal(t, vm.IP, res.IP)
}

func (fs *faultStack) scaleOutPermanent(t *testing.T) {
	fs.fault(t, "uk", simulator.FaultInjectionRule{MethodName: "PowerOnVM_Task", ObjectName: "uk-web-x2",
		FaultType: simulator.FaultTypeNoPermission})
	fx := fs.beginEffects()
	attempts, err := fs.runFaulted(t, "fault-scaleout-uk-web-x2", workflows.ScaleOutName, fs.scaleOutInput(t, "uk-web-x2"), nil)
	c := fx.end()
	t.Logf("ScaleOut: %v; attempts %v%s", err, attempts, c)
	require.Error(t, err)
	require.Contains(t, err.Error(), "lacks a privilege")
	require.Equal(t, int64(1), fs.faultHits(t, "uk", 0), "a refusal is not retried")
	require.Zero(t, c.VMEvents["uk"]["VmPoweredOnEvent uk-web-x2"])
	requireUndone(t, c.VMEvents["uk"], "uk-web-x2")
	_, ok := fs.findVM(t, "uk", "uk-web-x2")
	require.False(t, ok)
	requireUntouched(t, c)
}

func (fs *faultStack) provisionInput(t *testing.T, min int) workflows.ProvisionSiteInput {
	p := *fs.p
	p.Services = slices.Clone(fs.p.Services)
	p.Services[0].Replicas.Min = min
	in, err := workflows.NewProvisionSiteInput(&p, "us")
	require.NoError(t, err)
	in.IPDeadline, in.HealthDeadline = time.Minute, time.Minute
	// One clone at a time: the permanent case relies on the order.
	in.MaxParallel = 1
	return in
}

func (fs *faultStack) provisionTransient(t *testing.T) {
	fs.fault(t, "us", simulator.FaultInjectionRule{MethodName: "CloneVM_Task", ObjectName: "web-template", MaxCount: 1,
		FaultType: simulator.FaultTypeNetworkFailure, Delay: 500})
	fs.fault(t, "us", simulator.FaultInjectionRule{MethodName: "PowerOnVM_Task", ObjectName: "us-web-3", MaxCount: 1,
		FaultType: simulator.FaultTypeResourceInUse})
	fx := fs.beginEffects()
	var res workflows.ProvisionSiteResult
	attempts, err := fs.runFaulted(t, "fault-provision-us", workflows.ProvisionSiteName, fs.provisionInput(t, 3), &res)
	c := fx.end()
	t.Logf("ProvisionSite: %v; created %v; attempts %v%s", err, res.Created, attempts, c)
	require.NoError(t, err)
	require.Equal(t, int64(1), fs.faultHits(t, "us", 0))
	require.Equal(t, int64(1), fs.faultHits(t, "us", 1))
	require.Equal(t, []string{"us-web-3"}, res.Created)
	require.Contains(t, res.Ready, "us-web-3")
	require.Equal(t, int32(2), attempts["CloneVM"])
	require.Equal(t, int32(2), attempts["PowerOn"])
	require.Equal(t, map[string]int{"VmClonedEvent us-web-3": 1, "VmPoweredOnEvent us-web-3": 1}, c.VMEvents["us"])
	require.Equal(t, 1, c.LB["us"]["added us-web-3"], "%v", c.LB["us"])
	require.False(t, res.DBRepointed, "us already replicates from uk")
	require.Empty(t, c.DBStatements["us"], "the database is left alone")
}

func (fs *faultStack) provisionPermanent(t *testing.T) {
	// us-web-4 is cloned; the clone of us-web-5 is refused.
	fs.fault(t, "us", simulator.FaultInjectionRule{MethodName: "CloneVM_Task", ObjectName: "web-template", SkipCount: 1,
		FaultType: simulator.FaultTypeNoPermission})
	fx := fs.beginEffects()
	attempts, err := fs.runFaulted(t, "fault-provision-us-refused", workflows.ProvisionSiteName, fs.provisionInput(t, 5), nil)
	c := fx.end()
	t.Logf("ProvisionSite: %v; attempts %v%s", err, attempts, c)
	require.Error(t, err)
	require.Contains(t, err.Error(), "clone us-web-5")
	require.Contains(t, err.Error(), "lacks a privilege")
	require.Equal(t, int64(1), fs.faultHits(t, "us", 0), "a refusal is not retried")
	// us-web-4, which the run made, is destroyed; no VM that existed
	// before is touched.
	requireUndone(t, c.VMEvents["us"], "us-web-4")
	for _, name := range []string{"us-web-4", "us-web-5"} {
		_, ok := fs.findVM(t, "us", name)
		require.False(t, ok, name)
	}
	// us-web-4 was in the balancer for a moment (it was healthy first):
	// taken out again. Nothing else changed there or in DNS.
	require.Equal(t, c.LB["us"]["added us-web-4"], c.LB["us"]["removed us-web-4"], "%v", c.LB["us"])
	delete(c.LB["us"], "added us-web-4")
	delete(c.LB["us"], "removed us-web-4")
	delete(c.LB["us"], "maint us-web-4")
	requireUntouched(t, c)
}

// requireUntouched: no load balancer and no DNS zone changed.
func requireUntouched(t *testing.T, c effectCounts) {
	t.Helper()
	for site, lb := range c.LB {
		require.Empty(t, lb, "%s's HAProxy is as it was", site)
	}
	for site, n := range c.DNSChanges {
		require.Zero(t, n, "%s's DNS zone is as it was", site)
	}
}

// requireUndone: vm was cloned once and destroyed once (whatever happened
// between, at most once each), and no other VM at the site was touched.
func requireUndone(t *testing.T, events map[string]int, vm string) {
	t.Helper()
	require.Equal(t, 1, events["VmClonedEvent "+vm], "%v", events)
	require.Equal(t, 1, events["VmRemovedEvent "+vm], "%v", events)
	for k, n := range events {
		require.True(t, strings.HasSuffix(k, " "+vm), "only %s is touched: %v", vm, events)
		require.LessOrEqual(t, n, 1, "%v", events)
	}
}

func (fs *faultStack) findVM(t *testing.T, site, name string) (vsphere.VM, bool) {
	t.Helper()
	r, err := fs.deps.VSphere.FindVMs(context.Background(), vsphere.FindVMsInput{Site: site, Names: []string{name}})
	require.NoError(t, err)
	if len(r.VMs) == 0 {
		return vsphere.VM{}, false
	}
	return r.VMs[0], true
}
