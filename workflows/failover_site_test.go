package workflows

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/microdc/mdc/activities/events"
	"github.com/microdc/mdc/apperrors"
)

// The lab scenario: uk is dead; us confirms it, moves DNS first, promotes
// with a small lag, clones one more node, serves through its LB and proves
// a write; RTO runs from detection to verification.
func TestDisasterFailoverFencesByDNSFirstPromotesAndRecordsRTOAndRPO(t *testing.T) {
	l := newFoLab(t)
	l.down["uk"] = true
	in := foInput(ModeDisaster)
	in.DetectedAt = foT0.Add(-20 * time.Second)
	in.ServingAtFailedSite = map[string]int{"web": 3}
	res, p, err := l.run(in)
	require.NoError(t, err)

	require.Equal(t, StatusFailedOver, res.Status, res.Outcome)
	require.Equal(t, []ObserverVote{{Observer: "us", Answered: true, Reachable: false, Detail: "answered: [], silent: [lb-frontend]"}}, res.Observers)
	require.Contains(t, foStep(t, p, "confirm").Detail, "quorum 2 capped to the 1 observer site")
	require.Equal(t, []string{"ProbeSite uk from us"}, l.Calls("ProbeSite"), "the target probes the failed site from its own queue")

	// Traffic is fenced by DNS before anything is promoted.
	require.Greater(t, l.first("Promote us"), l.first("SetGeoRecord us eu=127.2.0.2,na=127.2.0.2"))
	require.Greater(t, l.first("Promote us"), l.first("Verify us"))
	require.True(t, res.Fence.TrafficFencedByDNS)
	require.False(t, res.Fence.DatabaseFenced)
	require.Len(t, res.Fence.Unfenced, 2, "vCenter and database of uk: %v", res.Fence.Unfenced)
	require.ElementsMatch(t, []string{"VMs at uk: list the VMs at uk: vCenter at uk did not answer", "database at uk: database at uk did not answer"}, res.Fence.Unfenced)
	require.Equal(t, []string{"site uk"}, res.DNSUnreachable)
	require.Empty(t, l.Calls("FenceSite"), "a vCenter that does not list its VMs is not asked to fence them")

	require.True(t, res.Database.Promoted)
	require.Equal(t, []string{"Promote us maxlag=30s force=false gtid="}, l.Calls("Promote"))
	require.Equal(t, 2.5, res.RPOSeconds)

	require.Len(t, res.Capacity, 1)
	c := res.Capacity[0]
	require.Equal(t, 3, c.Wanted)
	require.Equal(t, "last seen serving at uk", c.WantedFrom)
	require.Equal(t, []string{"us-web-3"}, c.Cloned)
	require.Equal(t, []string{"CloneVM us us-web-3 from web-template@golden drill="}, l.Calls("CloneVM"))
	require.Len(t, c.Nodes, 3)
	require.Len(t, l.Calls("AddServer"), 3)
	require.Contains(t, foStep(t, p, "switch DNS").Detail, "done while fencing")
	require.Equal(t, []string{"SetGeoRecord us eu=127.2.0.2,na=127.2.0.2"}, filterPrefix(l.Calls("SetGeoRecord"), "SetGeoRecord us"), "one cutover: at fencing")
	require.Len(t, l.Calls("SetGeoRecord"), 3, "uk's dead server is tried twice (deadSiteRetry)")

	verifies := l.Calls("Verify")
	require.Equal(t, []string{"Verify us 127.2.0.2", "Verify us 127.2.0.2", "Verify 127.2.0.1:5300 127.2.0.2"}, verifies,
		"the cutover verifies each region at us; the end-to-end check asks the surviving server only")
	require.Contains(t, l.Calls("CheckHTTP"), "CheckHTTP http://127.2.0.2:8080/healthz")
	require.Contains(t, l.Calls("CheckHTTP"), "CheckHTTP http://127.2.0.2:8080/db")
	require.Greater(t, l.first("CheckHTTP http://127.2.0.2:8080/db"), l.first("AddServer"))

	require.Equal(t, in.DetectedAt, res.RTOFrom)
	require.Equal(t, res.Verified.Sub(in.DetectedAt), res.RTO)
	// In test time every step is instant and only timers take time: the
	// dead site's retries (a timer) run in the background, outside the RTO.
	require.Equal(t, 20.0, res.RTOSeconds, "RTO is detection to verification, and nothing on the way waits for the dead site")
	for _, s := range p.Steps {
		require.Equal(t, StepDone, s.State, "%s: %s", s.Name, s.Detail)
	}

	site, _ := l.keyword(AttrSite)
	outcome, _ := l.keyword(AttrOutcome)
	rto, _ := l.float(AttrRTO)
	rpo, hasRPO := l.float(AttrRPO)
	require.Equal(t, "uk", site)
	require.Equal(t, StatusFailedOver, outcome)
	require.Equal(t, res.RTOSeconds, rto)
	require.True(t, hasRPO)
	require.Equal(t, 2.5, rpo)

	require.Len(t, l.published, 1)
	require.Equal(t, "mdc.events.failover.failed-over", l.published[0].Subject)
	require.Equal(t, l.published[0].Subject, res.EventSubject)
	var ev events.Event
	require.NoError(t, json.Unmarshal(l.published[0].Data, &ev))
	require.Equal(t, 1, ev.Version)
	require.Equal(t, "failover.failed-over", ev.Type)
	require.Equal(t, "uk", ev.Site)
	require.True(t, strings.HasSuffix(ev.ID, "/outcome"))
	var payload FailoverEventPayload
	require.NoError(t, json.Unmarshal(ev.Payload, &payload))
	require.Equal(t, "us", payload.TargetSite)
	require.NotNil(t, payload.RPOSeconds)
	require.Equal(t, 2.5, *payload.RPOSeconds)
	require.Equal(t, res.RTOSeconds, payload.RTOSeconds)
}

// A planned failover loses no data: the TTL is lowered while uk still
// serves, uk is fenced, us waits for uk's last GTID and is promoted with no
// lag allowed; DNS moves with the planned cutover (only the short TTL is
// waited out there).
func TestPlannedFailoverWaitsForTheGTIDAndLosesNoData(t *testing.T) {
	l := newFoLab(t)
	res, p, err := l.run(foInput(ModePlanned))
	require.NoError(t, err)
	require.Equal(t, StatusFailedOver, res.Status)

	require.Empty(t, l.Calls("ProbeSite"), "a planned failover of a healthy site confirms nothing")
	order := []string{"SetTTL uk 5", "FenceSite uk", "ReplicationStatus uk", "WaitForGTID us 0-1-100",
		"Promote us maxlag=1ms force=false gtid=0-1-100", "AddServer us", "SetGeoRecord uk", "CheckHTTP http://127.2.0.2:8080/db"}
	for i := 1; i < len(order); i++ {
		require.Greater(t, l.first(order[i]), l.first(order[i-1]), "%s after %s", order[i], order[i-1])
		require.GreaterOrEqual(t, l.first(order[i-1]), 0, order[i-1])
	}
	require.Greater(t, l.first("Promote"), l.first("Fence uk kill=true"), "the old primary is read-only before promotion")
	require.Equal(t, 60*time.Second, foStep(t, p, "lower TTL").Took, "one old TTL waited while uk still served")
	require.Equal(t, res.Verified.Sub(foStep(t, p, "fence").Started), res.Outage)
	require.Less(t, res.Outage, res.RTO)
	cut := foStep(t, p, "switch DNS")
	require.Less(t, cut.Took, 10*time.Second, "the cutover waits only the short TTL: %s", cut.Took)
	require.True(t, res.Database.Promoted)
	require.Equal(t, db0, res.RPOSeconds)
	require.True(t, res.Fence.DatabaseFenced)
	require.Equal(t, 3, res.Fence.SessionsKilled)
	require.Equal(t, []string{"uk-db-1", "uk-web-1", "uk-web-2"}, res.Fence.PoweredOff)
	require.Equal(t, 2, res.Capacity[0].Wanted, "uk served two nodes")
	require.Empty(t, res.Capacity[0].Cloned, "us already serves two")
	require.Equal(t, StepSkipped, foStep(t, p, "rollback").State)
	require.Equal(t, 60, l.ttl["uk"], "the cutover restores the normal TTL")
	require.Equal(t, 60, l.ttl["us"])
	_, hasRPO := l.float(AttrRPO)
	require.True(t, hasRPO)
}

const db0 = 0.0

// A reachable site is not failed over in disaster mode: a clear result,
// not an error, and nothing is touched.
func TestDisasterFailoverOfAReachableSiteEndsNotFailedOver(t *testing.T) {
	l := newFoLab(t)
	res, p, err := l.run(foInput(ModeDisaster))
	require.NoError(t, err)
	require.Equal(t, StatusNotFailedOver, res.Status)
	require.Equal(t, "not failed over: site reachable", res.Outcome)
	require.Equal(t, StepDone, foStep(t, p, "confirm").State)
	require.Equal(t, StepSkipped, foStep(t, p, "fence").State)
	require.Equal(t, "not needed: the run ended not-failed-over", foStep(t, p, "fence").Detail)
	l.requireNoSideEffects("Publish")
	require.Equal(t, []string{"Publish mdc.events.failover.not-failed-over"}, l.Calls("Publish"))
	outcome, _ := l.keyword(AttrOutcome)
	require.Equal(t, StatusNotFailedOver, outcome)
	_, hasRTO := l.float(AttrRTO)
	require.False(t, hasRTO)
}

// A dry run returns every step with its target and touches nothing: no
// activity, no child workflow, no search attribute.
func TestDryRunReturnsThePlanWithoutSideEffects(t *testing.T) {
	for _, mode := range []string{ModeDisaster, ModePlanned, ModeTest} {
		t.Run(mode, func(t *testing.T) {
			l := newFoLab(t)
			in := foInput(mode)
			in.DryRun = true
			in.Policy.ApprovalMode = ApprovalRequired
			res, _, err := l.run(in)
			require.NoError(t, err)
			require.Equal(t, StatusDryRun, res.Status)
			require.True(t, res.DryRun)
			require.Empty(t, l.Calls(), "a dry run calls no activity")
			require.Empty(t, l.upserts, "a dry run sets no search attribute")
			var names []string
			for _, s := range res.Progress.Steps {
				require.Equal(t, StepPending, s.State)
				require.NotEmpty(t, s.Target, s.Name)
				names = append(names, s.Name)
			}
			want := map[string][]string{
				ModeDisaster: {"confirm", "anti-flap", "approval", "fence", "promote", "capacity", "switch LB", "switch DNS", "verify", "record", "publish"},
				ModePlanned:  {"anti-flap", "approval", "lower TTL", "fence", "promote", "capacity", "switch LB", "switch DNS", "verify", "rollback", "record", "publish"},
				ModeTest:     {"capacity (isolated)", "verify (direct)", "cleanup", "record", "publish"},
			}[mode]
			require.Equal(t, want, names)
		})
	}
	in := foInput(ModeDisaster)
	in.DryRun = true
	l := newFoLab(t)
	res, _, _ := l.run(in)
	require.Equal(t, "uk: DNS to 127.2.0.2:8080 first, then VMs powered off, database read-only", res.Progress.Steps[2].Target)
	require.Equal(t, "database at us, max RPO 30s", res.Progress.Steps[3].Target)
}

func TestFailoverRejectsBadInputWithoutTouchingAnything(t *testing.T) {
	l := newFoLab(t)
	in := foInput("sideways")
	in.TargetSite = "mars"
	in.Policy.ApprovalMode = "maybe"
	in.Services[0].Template = ""
	_, _, err := l.run(in)
	require.Error(t, err)
	var ae *temporal.ApplicationError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, apperrors.TypeBadInput, ae.Type())
	for _, want := range []string{`mode "sideways"`, `"uk" and "mars" must both be among the input's sites (uk, us)`, `approval mode "maybe"`, `service "web"`} {
		require.Contains(t, err.Error(), want)
	}
	require.Empty(t, l.Calls())
}

func TestFailoverWorkflowIDsAndStartOptions(t *testing.T) {
	in := foInput(ModeDisaster)
	o := FailoverStartOptions(in)
	require.Equal(t, "failover-uk", o.ID)
	require.Equal(t, "mdc", o.TaskQueue)
	require.Equal(t, enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING, o.WorkflowIDConflictPolicy)
	require.Equal(t, enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE, o.WorkflowIDReusePolicy)
	site, ok := o.TypedSearchAttributes.GetKeyword(AttrSite)
	require.True(t, ok)
	require.Equal(t, "uk", site)
	in.Mode = ModePlanned
	require.Equal(t, "failover-uk", FailoverWorkflowID(in), "planned and disaster share the ID: one failover of a site at a time")
	in.Mode = ModeTest
	require.Equal(t, "failover-drill-uk", FailoverWorkflowID(in))
	in.DryRun = true
	require.Equal(t, "failover-dry-run-uk", FailoverWorkflowID(in))
	require.Zero(t, FailoverStartOptions(in).TypedSearchAttributes.Size(), "dry runs are invisible to the anti-flapping check")
}

func filterPrefix(list []string, prefix string) []string {
	var out []string
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			out = append(out, s)
		}
	}
	return out
}

// foInput is a failover of uk to us over the lab's sites.
func foInput(mode string, sites ...string) FailoverSiteInput {
	if len(sites) == 0 {
		sites = []string{"uk", "us"}
	}
	in := FailoverSiteInput{
		FailedSite: "uk", TargetSite: "us", Mode: mode, Reason: "test", RequestedBy: "tester",
		Policy: FailoverPolicy{
			ObserverQuorum: 2, ApprovalMode: ApprovalAutomatic, ApprovalDeadline: 15 * time.Minute,
			ApprovalDefault: ApprovalAbort, BlockPeriod: 30 * time.Minute, MaxRPO: 30 * time.Second,
		},
		Regions: []FailoverRegion{{Name: "eu", Subnets: []string{"192.0.2.0/24"}}, {Name: "na", Subnets: []string{"198.51.100.0/24"}}},
		Services: []FailoverService{{
			Name: "web", Zone: "mdc.test.", Record: "www.mdc.test.", TTL: 60, Port: 8080, HealthPath: "/healthz",
			WritePath: "/db", Template: "web-template", Snapshot: "golden", MinNodes: 1,
		}},
		DBAppUser: "mdc_app",
	}
	for i, s := range sites {
		in.Sites = append(in.Sites, FailoverSiteFacts{
			Name: s, Frontend: fmt.Sprintf("127.%d.0.2:8080", i+1), DNSServers: []string{fmt.Sprintf("127.%d.0.1:5300", i+1)},
			DBAddress: fmt.Sprintf("127.%d.0.1:3306", i+1),
		})
	}
	return in
}
