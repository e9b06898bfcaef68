package tests

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/microdc/mdc/activities/lb"
	"github.com/microdc/mdc/activities/vsphere"
	"github.com/microdc/mdc/devstack"
	"github.com/microdc/mdc/platform"
	"github.com/microdc/mdc/schedules"
	"github.com/microdc/mdc/workers"
	"github.com/microdc/mdc/workflows"
)

// The site-management workflows against the lab (base 87: uk at 127.87,
// us at 127.88), one stack for all of them, in the order an operator's
// month would run them: rebuild a lost web VM at us, replicate uk's
// database VM to us (by hand and on its schedule), then drain and undrain
// the uk host that runs it.
func TestSiteManagementAgainstTheLab(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the lab")
	}
	st := startStack(t, 87)
	p := st.Lab.Platform()
	deps, err := workers.BuildDeps(p, st.Lab.Lookup, p.SiteNames())
	require.NoError(t, err)
	t.Cleanup(func() { vsphere.Logout(context.Background(), deps.VSphere) })
	h := &siteHarness{t: t, st: st, p: p, deps: deps}
	// The stack created uk-db-1's replication schedule; pause it so that a
	// scheduled run (every 7.5 minutes, aligned to the clock) does not make
	// replicas behind the test's back. A trigger still runs it.
	sched := st.Client.ScheduleClient().GetHandle(context.Background(), schedules.ReplicationScheduleID("uk", "uk-db-1"))
	require.NoError(t, sched.Pause(context.Background(), client.SchedulePauseOptions{Note: "sitemgmt test"}))

	t.Run("ProvisionSite recreates a destroyed web VM", h.provision)
	t.Run("ProvisionSite undoes its own clones when one never gets healthy", h.compensate)
	t.Run("ReplicateVM copies uk-db-1 to us", h.replicate)
	t.Run("a schedule replicates uk-db-1", h.schedule)
	t.Run("DrainHost and UndrainHost", h.drain)
}

type siteHarness struct {
	t    *testing.T
	st   *devstack.Stack
	p    *platform.Platform
	deps workers.Deps
	// replicatedAt is when the manual ReplicateVM run took its replica.
	replicatedAt time.Time
}

// run executes a workflow to completion and returns how long it took.
func (h *siteHarness) run(t *testing.T, id, name string, in, out any) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	t0 := time.Now()
	run, err := h.st.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: workers.SharedQueue}, name, in)
	require.NoError(t, err)
	if err := run.Get(ctx, out); err != nil {
		require.NoError(t, err, "workflow %s: %s", id, h.stuck(id))
	}
	return time.Since(t0)
}

// stuck says where a workflow that did not finish is: its steps and the
// activities it waits for, with their last failure.
func (h *siteHarness) stuck(id string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var b strings.Builder
	if v, err := h.st.Client.QueryWorkflow(ctx, id, "", workflows.ProgressQuery); err == nil {
		var p workflows.Progress
		if v.Get(&p) == nil {
			for _, s := range p.Steps {
				fmt.Fprintf(&b, "\n  step %s %s: %s %s", s.Name, s.Target, s.State, s.Detail)
			}
		}
	}
	if d, err := h.st.Client.DescribeWorkflowExecution(ctx, id, ""); err == nil {
		for _, a := range d.PendingActivities {
			fmt.Fprintf(&b, "\n  pending %s attempt %d: %s", a.GetActivityType().GetName(), a.GetAttempt(), a.GetLastFailure().GetMessage())
		}
	}
	return b.String()
}

func (h *siteHarness) vm(t *testing.T, site, name string) (vsphere.VM, bool) {
	t.Helper()
	r, err := h.deps.VSphere.FindVMs(context.Background(), vsphere.FindVMsInput{Site: site, Names: []string{name}})
	require.NoError(t, err)
	if len(r.VMs) == 0 {
		return vsphere.VM{}, false
	}
	return r.VMs[0], true
}

func (h *siteHarness) server(site, name string) (lb.ServerStatus, bool) {
	r, err := h.deps.LB.ListServers(context.Background(), lb.ListServersInput{Site: site})
	if err != nil {
		return lb.ServerStatus{}, false
	}
	for _, s := range r.Servers {
		if s.Name == name {
			return s, true
		}
	}
	return lb.ServerStatus{}, false
}

func httpOK(u string) bool {
	c := http.Client{Timeout: 2 * time.Second}
	r, err := c.Get(u)
	if err != nil {
		return false
	}
	r.Body.Close()
	return r.StatusCode == http.StatusOK
}

func (h *siteHarness) provision(t *testing.T) {
	ctx := context.Background()
	_, err := h.deps.VSphere.DestroyVM(ctx, vsphere.DestroyVMInput{Site: "us", Name: "us-web-1"})
	require.NoError(t, err)
	_, ok := h.vm(t, "us", "us-web-1")
	require.False(t, ok)

	// Three web VMs wanted at us: us-web-1 (destroyed above) and us-web-3
	// are created, us-web-2 is left alone.
	p := *h.p
	p.Services = slices.Clone(h.p.Services)
	p.Services[0].Replicas.Min = 3
	in, err := workflows.NewProvisionSiteInput(&p, "us")
	require.NoError(t, err)
	in.IPDeadline, in.HealthDeadline = time.Minute, time.Minute
	// The default bound (4 clones at once): both VMs are cloned together.
	var res workflows.ProvisionSiteResult
	took := h.run(t, "test-provision-us", workflows.ProvisionSiteName, in, &res)
	t.Logf("ProvisionSite us, %d VMs created: %s; steps: %+v", len(res.Created), took.Round(time.Millisecond), res.Progress.Steps)
	require.Equal(t, []string{"us-web-1", "us-web-3"}, sortedStrings(res.Created))
	require.Equal(t, []string{"us-web-1", "us-web-2", "us-web-3"}, sortedStrings(res.Ready))
	require.False(t, res.DBRepointed, "us already replicates from uk")
	recordHistory(t, h.st.Client, "test-provision-us", "provision_site.json")

	for _, name := range []string{"us-web-1", "us-web-3"} {
		vm, ok := h.vm(t, "us", name)
		require.True(t, ok, name)
		require.Equal(t, vsphere.PoweredOn, vm.PowerState, name)
		require.Equal(t, "web", vm.Tags[vsphere.TagRole])
		require.True(t, httpOK("http://"+vm.IP+":8080/healthz"), "%s serves at %s", name, vm.IP)
		require.Eventually(t, func() bool {
			s, ok := h.server("us", name)
			return ok && s.State == lb.StateUp && strings.HasPrefix(s.Addr, vm.IP+":")
		}, 30*time.Second, 100*time.Millisecond, "%s is UP in us's HAProxy", name)
	}
	require.True(t, httpOK("http://"+h.p.Sites[1].LB.Frontend+"/"), "us's frontend serves")

	var again workflows.ProvisionSiteResult
	took = h.run(t, "test-provision-us-again", workflows.ProvisionSiteName, in, &again)
	t.Logf("ProvisionSite us on a complete site: %s", took.Round(time.Millisecond))
	require.False(t, again.Changed, "a complete site is left as it is: %+v", again)
	require.Empty(t, again.Created)
}

func (h *siteHarness) compensate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := *h.p
	p.Services = slices.Clone(h.p.Services)
	p.Services[0].Replicas.Min = 4
	in, err := workflows.NewProvisionSiteInput(&p, "us")
	require.NoError(t, err)
	// A health path the nodes do not serve: us-web-4 is cloned and powered
	// on but never healthy. The three existing nodes are in the balancer
	// already, so their health is not asked.
	in.Services[0].HealthPath = "/no-such-page"
	in.IPDeadline, in.HealthDeadline = time.Minute, 3*time.Second
	before := map[string]vsphere.VM{}
	for _, name := range []string{"us-web-1", "us-web-2", "us-web-3"} {
		before[name], _ = h.vm(t, "us", name)
	}
	t0 := time.Now()
	run, err := h.st.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "test-provision-us-undo", TaskQueue: workers.SharedQueue},
		workflows.ProvisionSiteName, in)
	require.NoError(t, err)
	err = run.Get(ctx, nil)
	require.Error(t, err)
	require.Contains(t, err.Error(), "us-web-4 did not become healthy")
	t.Logf("ProvisionSite failing on its health check and compensating: %s", time.Since(t0).Round(time.Millisecond))
	recordHistory(t, h.st.Client, "test-provision-us-undo", "provision_site_compensated.json")

	_, ok := h.vm(t, "us", "us-web-4")
	require.False(t, ok, "the run's own clone is destroyed")
	_, ok = h.server("us", "us-web-4")
	require.False(t, ok, "and never left in the balancer")
	for name, vm := range before {
		now, ok := h.vm(t, "us", name)
		require.True(t, ok, name)
		require.Equal(t, vm.PowerState, now.PowerState, "%s is untouched", name)
		s, ok := h.server("us", name)
		require.True(t, ok && s.State == lb.StateUp, "%s still serves", name)
	}
}

func (h *siteHarness) replicate(t *testing.T) {
	in, err := workflows.NewReplicateVMInput(h.p, "uk", "uk-db-1")
	require.NoError(t, err)
	var res workflows.ReplicateVMResult
	took := h.run(t, "test-replicate-uk-db-1", workflows.ReplicateVMName, in, &res)
	t.Logf("ReplicateVM uk-db-1 uk -> us (%s, %d bytes): %s", res.Method, res.Bytes, took.Round(time.Millisecond))
	require.True(t, strings.HasPrefix(res.Replica, "uk-db-1-replica-"), res.Replica)
	require.True(t, res.FirstReplica)
	require.False(t, res.RPOViolated, res.Violation)
	require.Equal(t, res.Replica, res.Newest)
	recordHistory(t, h.st.Client, "test-replicate-uk-db-1", "replicate_vm.json")

	replica, ok := h.vm(t, "us", res.Replica)
	require.True(t, ok, "the replica is at us")
	require.Equal(t, vsphere.PoweredOff, replica.PowerState)
	require.Equal(t, "uk-db-1", replica.Tags[vsphere.TagReplicaOf])
	require.Equal(t, "uk", replica.Tags[vsphere.TagReplicaSite])
	require.Equal(t, "db", replica.Tags[vsphere.TagRole])
	h.replicatedAt, err = time.Parse(time.RFC3339, replica.Tags[vsphere.TagReplicatedAt])
	require.NoError(t, err)
}

func (h *siteHarness) schedule(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// mdc dev made the schedule at start: ensuring it again changes nothing.
	changes, err := schedules.EnsureReplicationSchedules(ctx, h.st.Client, h.p)
	require.NoError(t, err)
	require.Equal(t, []schedules.Change{{ID: "replicate-uk-uk-db-1", VM: "uk-db-1", Site: "uk", Interval: 7*time.Minute + 30*time.Second, Outcome: schedules.Unchanged}}, changes)
	// A new RPO in the platform file updates it in place; the old one back.
	p := *h.p
	p.Replication = slices.Clone(h.p.Replication)
	p.Replication[0].RPO.Duration = 4 * time.Minute
	changes, err = schedules.EnsureReplicationSchedules(ctx, h.st.Client, &p)
	require.NoError(t, err)
	require.Equal(t, schedules.Updated, changes[0].Outcome)
	require.Equal(t, 2*time.Minute, changes[0].Interval)
	changes, err = schedules.EnsureReplicationSchedules(ctx, h.st.Client, h.p)
	require.NoError(t, err)
	require.Equal(t, schedules.Updated, changes[0].Outcome)
	d, err := h.st.Client.ScheduleClient().GetHandle(ctx, changes[0].ID).Describe(ctx)
	require.NoError(t, err)
	require.Equal(t, 7*time.Minute+30*time.Second, d.Schedule.Spec.Intervals[0].Every)
	require.Equal(t, enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, d.Schedule.Policy.Overlap)
	require.True(t, d.Schedule.State.Paused, "an update keeps the schedule's state")

	// Run it now rather than in 7.5 minutes: the run is a real ReplicateVM.
	// Replicas are named to the second, and a run within the second of the
	// previous one finds that replica made (Changed=false): let the clock
	// pass the manual run's second so the scheduled run makes its own.
	require.Eventually(t, func() bool { return time.Now().Truncate(time.Second).After(h.replicatedAt) }, 2*time.Second, 10*time.Millisecond)
	handle := h.st.Client.ScheduleClient().GetHandle(ctx, changes[0].ID)
	require.NoError(t, handle.Trigger(ctx, client.ScheduleTriggerOptions{}))
	var wfID string
	require.Eventually(t, func() bool {
		d, err := handle.Describe(ctx)
		if err != nil || len(d.Info.RecentActions) == 0 {
			return false
		}
		wfID = d.Info.RecentActions[0].StartWorkflowResult.WorkflowID
		return true
	}, 30*time.Second, 100*time.Millisecond, "the schedule starts ReplicateVM")
	require.True(t, strings.HasPrefix(wfID, "replicate-uk-uk-db-1"), wfID)
	var res workflows.ReplicateVMResult
	require.NoError(t, h.st.Client.GetWorkflow(ctx, wfID, "").Get(ctx, &res))
	require.False(t, res.FirstReplica, "the manual run made the first")
	require.False(t, res.RPOViolated, res.Violation)
	require.True(t, res.Changed)
	require.Len(t, res.Kept, 2, "the manual run's replica and the scheduled run's")
}

func (h *siteHarness) drain(t *testing.T) {
	uk := h.p.Sites[0]
	hosts := uk.VCenter.Hosts
	require.Len(t, hosts, 2)
	host, other := hosts[1], hosts[0] // uk-web-2 and uk-db-1 run on the second host
	in, err := workflows.NewDrainHostInput(h.p, "uk", host, 10*time.Second)
	require.NoError(t, err)
	var res workflows.DrainHostResult
	took := h.run(t, "test-drain-uk", workflows.DrainHostName, in, &res)
	t.Logf("DrainHost uk %s: %s; moved %+v", host, took.Round(time.Millisecond), res.Moved)
	require.Equal(t, []string{"uk-web-2"}, res.Drained)
	require.True(t, res.EnteredMaintenance)
	require.ElementsMatch(t, []workflows.VMMove{{VM: "uk-db-1", From: host, To: other}, {VM: "uk-web-2", From: host, To: other}}, res.Moved)
	recordHistory(t, h.st.Client, "test-drain-uk", "drain_host.json")
	for _, name := range []string{"uk-db-1", "uk-web-2"} {
		vm, ok := h.vm(t, "uk", name)
		require.True(t, ok)
		require.Equal(t, other, vm.Host, name)
		require.Equal(t, vsphere.PoweredOn, vm.PowerState, name)
	}
	require.True(t, h.inMaintenance(t, "uk", host))
	s, _ := h.server("uk", "uk-web-2")
	require.Equal(t, lb.StateDrain, s.State)

	var again workflows.DrainHostResult
	h.run(t, "test-drain-uk-again", workflows.DrainHostName, in, &again)
	require.Empty(t, again.Moved)
	require.False(t, again.EnteredMaintenance)

	var undone workflows.UndrainHostResult
	took = h.run(t, "test-undrain-uk", workflows.UndrainHostName,
		workflows.UndrainHostInput{Site: "uk", Host: host, Servers: res.Drained}, &undone)
	t.Logf("UndrainHost uk %s: %s", host, took.Round(time.Millisecond))
	require.True(t, undone.ExitedMaintenance)
	require.Equal(t, []string{"uk-web-2"}, undone.Enabled)
	recordHistory(t, h.st.Client, "test-undrain-uk", "undrain_host.json")
	require.False(t, h.inMaintenance(t, "uk", host))
	require.Eventually(t, func() bool { s, ok := h.server("uk", "uk-web-2"); return ok && s.State == lb.StateUp },
		30*time.Second, 100*time.Millisecond, "uk-web-2 is back in rotation")
}

// inMaintenance asks the site's vCenter directly whether host is in
// maintenance mode.
func (h *siteHarness) inMaintenance(t *testing.T, site, host string) bool {
	t.Helper()
	ctx := context.Background()
	s, ok := h.p.Site(site)
	require.True(t, ok)
	user, pass, err := h.p.VCenterCredentials(site, h.st.Lab.Lookup)
	require.NoError(t, err)
	u, err := soap.ParseURL(s.VCenter.URL)
	require.NoError(t, err)
	u.User = url.UserPassword(user, pass)
	c, err := govmomi.NewClient(ctx, u, true)
	require.NoError(t, err)
	defer func() { _ = c.Logout(ctx) }()
	finder := find.NewFinder(c.Client)
	dc, err := finder.Datacenter(ctx, s.VCenter.Datacenter)
	require.NoError(t, err)
	finder.SetDatacenter(dc)
	hs, err := finder.HostSystem(ctx, host)
	require.NoError(t, err)
	var m mo.HostSystem
	require.NoError(t, hs.Properties(ctx, hs.Reference(), []string{"runtime.inMaintenanceMode"}, &m))
	return m.Runtime.InMaintenanceMode
}

func sortedStrings(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
