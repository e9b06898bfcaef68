package tests

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	historypb "go.temporal.io/api/history/v1"

	"github.com/microdc/mdc/activities/dns"
	"github.com/microdc/mdc/activities/vsphere"
	"github.com/microdc/mdc/workflows"
)

// killStep is one step of a planned FailoverSite and the history event
// that says the workflow is in it: the scheduling of the step's activity
// that changes something (or, for steps that change nothing, its first).
type killStep struct {
	step  string
	match historyMatch
	// disaster runs a disaster failover of a dead uk instead: only it has
	// the confirm step.
	disaster bool
	// adjust changes the input for steps only some policies have.
	adjust func(*workflows.FailoverSiteInput)
}

var failoverKillSteps = []killStep{
	{step: "confirm", match: activityScheduled("ProbeSite", false), disaster: true},
	{step: "anti-flap", match: activityScheduled("ListWorkflows", false)},
	{step: "approval", match: timerStarted, adjust: func(in *workflows.FailoverSiteInput) {
		// Nobody answers: the deadline passes while the workers are down
		// or just back, and the policy's default carries the run on.
		in.Policy.ApprovalMode, in.Policy.ApprovalDeadline, in.Policy.ApprovalDefault = workflows.ApprovalRequired, 3*time.Second, workflows.ApprovalProceed
	}},
	{step: "lower TTL", match: activityScheduled("SetTTL", false)},
	{step: "fence", match: activityScheduled("FenceSite", false)},
	{step: "promote", match: activityScheduled("Promote", false)},
	{step: "capacity", match: activityScheduled("CloneVM", false)},
	{step: "switch LB", match: activityScheduled("AddServer", false)},
	{step: "switch DNS", match: activityScheduled("SetGeoRecord", true)},
	{step: "verify", match: activityScheduled("Verify", false)},
	{step: "record", match: outcomeRecorded},
	{step: "publish", match: activityScheduled("Publish", false)},
}

// timerStarted matches the workflow's first durable timer (the approval
// deadline, in a run with an approval gate).
func timerStarted(_ string, child bool, ev *historypb.HistoryEvent) bool {
	return !child && ev.GetTimerStartedEventAttributes() != nil
}

// outcomeRecorded matches the record step's upsert of MdcOutcome.
func outcomeRecorded(_ string, child bool, ev *historypb.HistoryEvent) bool {
	a := ev.GetUpsertWorkflowSearchAttributesEventAttributes()
	_, ok := a.GetSearchAttributes().GetIndexedFields()[workflows.AttrOutcome.GetName()]
	return !child && ok
}

// kill -9 of every worker (each runs the shared workflow queue and its
// site's activities) at each step of a planned failover of uk to us (and
// at the confirm step, which only a disaster failover of a dead uk has),
// one run per step on a fresh lab: the run completes once new workers
// start, and every change it makes happened exactly once, counted from the
// components themselves (see effects).
func TestFaultWorkerKilledAtEveryFailoverStep(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the lab and mdc worker processes")
	}
	// Most of a run is waiting for the killed attempt to time out (the
	// workflows' own 30 s timeouts), so the runs share the machine in
	// lanes, each lane a lab base of its own. Lanes are goroutines calling
	// t.Run (which may run concurrently) rather than parallel subtests,
	// which -parallel (GOMAXPROCS, 2 here) would hold to two at a time.
	steps := make(chan killStep, len(failoverKillSteps))
	for _, ks := range killSchedule() {
		steps <- ks
	}
	close(steps)
	var wg sync.WaitGroup
	for _, base := range killLanes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ks := range steps {
				t.Run(strings.ReplaceAll(ks.step, " ", "_"), func(t *testing.T) { killedFailover(t, base, ks) })
			}
		}()
	}
	wg.Wait()
}

// killLanes are the lab bases the kill runs take turns on.
var killLanes = []int{151, 153, 155, 157}

// killSchedule is the order the runs start in: the longest first (a
// Promote killed mid-way waits out its 90 s start-to-close timeout; the
// others 30 s), so that it does not finish alone at the end.
func killSchedule() []killStep {
	var first, rest []killStep
	for _, ks := range failoverKillSteps {
		if ks.step == "promote" {
			first = append(first, ks)
		} else {
			rest = append(rest, ks)
		}
	}
	return append(first, rest...)
}

func killedFailover(t *testing.T, base int, ks killStep) {
	fs := startFaultStack(t, base, true)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	in, ukOn := fs.prepPlannedFailover(ctx, "kill -9 at "+ks.step)
	if ks.disaster {
		in = fs.prepDisasterFailover(ctx, in)
	}
	if ks.adjust != nil {
		ks.adjust(&in)
	}
	id := workflows.FailoverWorkflowID(in)

	fx := fs.beginEffects()
	hits := watchHistory(ctx, fs.st.Client, id, ks.match)
	t0 := time.Now()
	run, err := fs.st.Client.ExecuteWorkflow(ctx, workflows.FailoverStartOptions(in), workflows.FailoverSiteName, in)
	require.NoError(t, err)
	var hit historyHit
	select {
	case hit = <-hits:
	case <-time.After(4 * time.Minute):
		t.Fatalf("the run never reached step %s", ks.step)
	}
	fs.killWorkers()
	killedAt := time.Since(t0)
	fs.restartWorkers()
	var res workflows.FailoverSiteResult
	require.NoError(t, run.Get(ctx, &res), "the failover completes after the workers were killed at %s", ks.step)
	took := time.Since(t0)
	fx1 := fx.end()

	evs, err := historyEvents(ctx, fs.st.Client, hit.WorkflowID, "")
	require.NoError(t, err)
	landed := fmt.Sprintf("event %d %s", hit.Event.GetEventId(), hit.Event.GetEventType())
	if hit.Event.GetActivityTaskScheduledEventAttributes() != nil {
		attempts, last := activityAttempts(evs, hit.Event.GetEventId())
		landed += fmt.Sprintf(": %d attempts", attempts)
		if last != "" {
			landed += " (the killed one: " + last + ")"
		}
	}
	t.Logf("killed at %s (%s) after %s; %s; run ended %s in %s%s", ks.step, hit.WorkflowID, killedAt.Round(time.Millisecond),
		landed, res.Status, took.Round(time.Millisecond), fx1)

	require.Equal(t, workflows.StatusFailedOver, res.Status, res.Outcome)
	require.True(t, res.Database.Promoted)
	require.Equal(t, []string{"us-web-3"}, res.Capacity[0].Cloned)
	if ks.disaster {
		requireOnceDisaster(t, fx1)
	} else {
		requireOnce(t, fx1, ukOn)
	}
}

// prepDisasterFailover turns the planned input into the disaster failover
// of uk, and kills uk as a power cut would. As the monitor would, it
// passes uk's last GTID (so the promotion counts what is missing instead
// of dating the replica's idle time, which the killed probe's timeout
// stretches past the max RPO) and the three nodes uk served.
func (fs *faultStack) prepDisasterFailover(ctx context.Context, in workflows.FailoverSiteInput) workflows.FailoverSiteInput {
	t := fs.t
	t.Helper()
	code, body := foGet(t, "http://"+fs.p.Sites[0].LB.Frontend+"/db")
	require.Equal(t, http.StatusOK, code, body)
	var gtid string
	require.NoError(t, fs.rootDB("uk").QueryRowContext(ctx, "SELECT @@global.gtid_binlog_pos").Scan(&gtid))
	require.NoError(t, fs.lab.KillSite(ctx, "uk"))
	in.Mode, in.PrimaryGTID, in.DetectedAt = workflows.ModeDisaster, gtid, time.Now()
	in.ServingAtFailedSite = map[string]int{"web": 3}
	return in
}

// prepPlannedFailover readies the lab for the planned failover of uk to us
// the fault tests run, and returns its input and uk's running VMs. A short
// record TTL keeps the planned TTL waits to seconds, and a third web node
// at uk makes the failover clone one at us and add it to us's load
// balancer.
func (fs *faultStack) prepPlannedFailover(ctx context.Context, why string) (workflows.FailoverSiteInput, []string) {
	t := fs.t
	t.Helper()
	for _, site := range fs.p.SiteNames() {
		_, err := fs.deps.DNS.SetTTL(ctx, dns.SetTTLInput{Site: site, Zone: "mdc.test.", Name: "www.mdc.test.", Type: "LUA", TTL: 2})
		require.NoError(t, err)
	}
	_, err := fs.deps.VSphere.CloneVM(ctx, vsphere.CloneVMInput{Site: "uk", Source: "web-template", Snapshot: "golden", Name: "uk-web-3",
		Tags: map[string]string{vsphere.TagRole: "web", vsphere.TagService: "web", vsphere.TagSite: "uk"}, PowerOn: true})
	require.NoError(t, err)
	in, err := workflows.NewFailoverSiteInput(fs.p, "uk", "us", workflows.ModePlanned)
	require.NoError(t, err)
	in.Reason, in.RequestedBy, in.DBAppUser = "fault test: "+why, "fault_test", "mdc_app"
	in.Services[0].TTL, in.Timeouts.CutoverTTL, in.Timeouts.Verify = 2, 1, time.Minute
	return in, fs.poweredOn("uk")
}

// requireOnce checks the counts of one planned failover of uk (whose
// powered-on VMs were ukOn) to us that cloned us-web-3: every change once.
func requireOnce(t *testing.T, c effectCounts, ukOn []string) {
	t.Helper()
	// Fence: each running VM at uk powered off once; nothing else at uk.
	want := map[string]int{}
	for _, vm := range ukOn {
		want["VmPoweredOffEvent "+vm] = 1
	}
	require.Equal(t, want, c.VMEvents["uk"], "uk's vCenter: one power-off per running VM")
	// Capacity: one clone at us, powered on once.
	require.Equal(t, map[string]int{"VmClonedEvent us-web-3": 1, "VmPoweredOnEvent us-web-3": 1}, c.VMEvents["us"], "us's vCenter")
	// The database: uk made read-only once; us promoted once.
	require.Equal(t, map[string]int{"SET GLOBAL read_only=ON": 1}, c.DBStatements["uk"], "uk's MariaDB")
	require.Equal(t, 1, c.DBStatements["us"]["RESET SLAVE ALL"], "us's MariaDB promoted once: %v", c.DBStatements["us"])
	require.Equal(t, 1, c.DBStatements["us"]["SET GLOBAL read_only=OFF"], "us's MariaDB made writable once: %v", c.DBStatements["us"])
	require.Zero(t, c.DBStatements["us"]["SET GLOBAL read_only=ON"]+c.DBStatements["us"]["CHANGE MASTER TO"], "us: %v", c.DBStatements["us"])
	// DNS, at each site's server: TTL lowered, record switched, TTL
	// restored; a repeated write that changes nothing leaves the serial.
	require.Equal(t, map[string]int{"uk": 3, "us": 3}, c.DNSChanges, "PowerDNS zone serials")
	// Load balancers: us-web-3 added to us's once, never removed; uk's untouched.
	require.Equal(t, 1, c.LB["us"]["added us-web-3"], "us's HAProxy: %v", c.LB["us"])
	for k, n := range c.LB["us"] {
		if strings.HasPrefix(k, "removed") {
			t.Errorf("us's HAProxy: %s %d times", k, n)
		}
	}
	require.Empty(t, c.LB["uk"], "uk's HAProxy is not touched by a planned failover")
	// One outcome event.
	require.Equal(t, map[string]uint64{"mdc.events.failover.failed-over": 1}, c.Events)
}

// requireOnceDisaster checks the counts of one disaster failover of a dead
// uk to us that cloned us-web-3 (uk's components are gone, so only us's
// count).
func requireOnceDisaster(t *testing.T, c effectCounts) {
	t.Helper()
	require.NotContains(t, c.VMEvents, "uk", "uk is dead")
	require.Equal(t, map[string]int{"VmClonedEvent us-web-3": 1, "VmPoweredOnEvent us-web-3": 1}, c.VMEvents["us"], "us's vCenter")
	require.Equal(t, 1, c.DBStatements["us"]["RESET SLAVE ALL"], "us's MariaDB promoted once: %v", c.DBStatements["us"])
	require.Equal(t, 1, c.DBStatements["us"]["SET GLOBAL read_only=OFF"], "us's MariaDB made writable once: %v", c.DBStatements["us"])
	// DNS at us: the record switched to us at once, with the cutover TTL.
	require.Equal(t, map[string]int{"us": 1}, c.DNSChanges, "PowerDNS zone serials")
	require.Equal(t, 1, c.LB["us"]["added us-web-3"], "us's HAProxy: %v", c.LB["us"])
	require.Zero(t, c.LB["us"]["removed us-web-3"], "us's HAProxy: %v", c.LB["us"])
	require.Equal(t, map[string]uint64{"mdc.events.failover.failed-over": 1}, c.Events)
}
