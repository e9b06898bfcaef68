package workflows

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/activities/health"
	"github.com/microdc/mdc/activities/vsphere"
	"github.com/microdc/mdc/apperrors"
)

// Powered-off web VMs at the target (replicas, standby nodes) are powered
// on before anything is cloned; a clone that fails leaves the target short,
// which is recorded, not fatal.
func TestCapacityPowersOnReplicasFirstThenClones(t *testing.T) {
	l := newFoLab(t)
	l.down["uk"] = true
	l.addVM("us", vsphere.VM{Name: "uk-web-1-replica-1", PowerState: vsphere.PoweredOff, Tags: foWebTags("uk")})
	l.clone = func(in vsphere.CloneVMInput) error {
		if in.Name == "us-web-4" {
			return apperrors.Rejected("datastore full")
		}
		return nil
	}
	in := foInput(ModeDisaster)
	in.ServingAtFailedSite = map[string]int{"web": 5}
	res, p, err := l.run(in)
	require.NoError(t, err)
	require.Equal(t, StatusFailedOver, res.Status)
	c := res.Capacity[0]
	require.Equal(t, 5, c.Wanted)
	require.Equal(t, []string{"uk-web-1-replica-1"}, c.PoweredOn)
	require.Equal(t, []string{"us-web-3", "us-web-4"}, c.Cloned)
	require.Len(t, c.Nodes, 4)
	require.Len(t, c.Failed, 1)
	require.Equal(t, "us-web-4: clone us-web-4 from web-template: datastore full", c.Failed[0], "the activity's message, not Temporal's error chain")
	require.Contains(t, foStep(t, p, "capacity").Detail, "4 of 5 wanted")
	require.Less(t, l.first("PowerOn us uk-web-1-replica-1"), l.first("AddServer"))
	require.Len(t, l.Calls("AddServer"), 4, "only nodes that serve go behind the balancer")
}

// A node that never answers its health check does not count.
func TestCapacityFailsWhenNoNodeServes(t *testing.T) {
	l := newFoLab(t)
	l.down["uk"] = true
	for _, n := range []string{"us-web-1", "us-web-2"} {
		delete(l.vms["us"], n)
	}
	l.http = func(url string) health.CheckHTTPResult { return health.CheckHTTPResult{Reason: "connection refused"} }
	in := foInput(ModeDisaster)
	in.Timeouts.Capacity = 30 * time.Second
	_, p, err := l.run(in)
	require.Error(t, err)
	require.Contains(t, err.Error(), "no web node serves at us (wanted 1: service minimum; what uk served is unknown)")
	require.Contains(t, err.Error(), "never became healthy")
	s := foStep(t, p, "capacity")
	require.Equal(t, StepFailed, s.State)
	require.GreaterOrEqual(t, len(l.Calls("CheckHTTP")), 30, "polled about once a second until the deadline")
	require.Empty(t, l.Calls("AddServer"))
}

// A drill brings capacity up isolated at the target, checks it directly,
// reads the replica's lag and cleans up; production is not touched.
func TestDrillIsIsolatedVerifiedDirectlyAndCleanedUp(t *testing.T) {
	l := newFoLab(t)
	l.addVM("us", vsphere.VM{Name: "uk-web-1-replica-1", PowerState: vsphere.PoweredOff, Tags: foWebTags("uk")})
	res, p, err := l.run(foInput(ModeTest))
	require.NoError(t, err)
	require.Equal(t, StatusDrillPassed, res.Status)

	for _, a := range []string{"AddServer", "ListServers", "EnableServer", "SetGeoRecord", "SetTTL", "ReadRecord",
		"Promote", "Fence", "FenceSite", "WaitForGTID", "ProbeSite", "ListWorkflows"} {
		require.Empty(t, l.Calls(a), "a drill never calls %s", a)
	}
	c := res.Capacity[0]
	require.Equal(t, 2, c.Wanted, "uk serves two nodes")
	require.Equal(t, "serving at uk", c.WantedFrom)
	require.Equal(t, []string{"uk-web-1-replica-1"}, c.PoweredOn)
	require.Equal(t, []string{"us-web-drill-1"}, c.Cloned)
	require.Equal(t, []string{"CloneVM us us-web-drill-1 from web-template@golden drill=default-test-workflow-id"}, l.Calls("CloneVM"))
	for _, n := range c.Nodes {
		require.NotContains(t, []string{"us-web-1", "us-web-2"}, n.Name, "production nodes are not the drill's")
		require.Contains(t, l.Calls("CheckHTTP"), "CheckHTTP http://"+n.IP+":8080/healthz")
	}
	for _, call := range l.Calls("CheckHTTP") {
		require.NotContains(t, call, "127.2.0.2", "the production frontend is not used")
	}
	require.Equal(t, []string{"ReplicationStatus us"}, l.Calls("ReplicationStatus"))
	require.Equal(t, int64(1), *res.Database.ReplicaSecondsBehind)
	require.Equal(t, []string{"PowerOff us uk-web-1-replica-1"}, l.Calls("PowerOff"))
	require.Equal(t, []string{"DestroyVM us us-web-drill-1"}, l.Calls("DestroyVM"))
	require.ElementsMatch(t, []string{"uk-web-1-replica-1", "us-web-drill-1"}, c.CleanedUp)
	require.Equal(t, StepDone, foStep(t, p, "cleanup").State)
	require.Equal(t, vsphere.PoweredOn, l.vms["uk"]["uk-web-1"].PowerState, "the failed site is not fenced")
	require.False(t, res.Verified.IsZero(), "the drill measures its RTO (0 here: mocked activities take no time)")
	_, hasRTO := l.float(AttrRTO)
	require.True(t, hasRTO)
	_, hasRPO := l.float(AttrRPO)
	require.False(t, hasRPO, "nothing was promoted")
	mode, _ := l.keyword(AttrMode)
	require.Equal(t, ModeTest, mode)
	require.Equal(t, []string{"Publish mdc.events.failover.drill-passed"}, l.Calls("Publish"))
}

// A drill that fails still cleans up what it started.
func TestFailedDrillStillCleansUp(t *testing.T) {
	l := newFoLab(t)
	l.http = func(url string) health.CheckHTTPResult {
		return health.CheckHTTPResult{Status: 503, Reason: "status 503"}
	}
	in := foInput(ModeTest)
	in.Timeouts.Capacity = 5 * time.Second
	_, p, err := l.run(in)
	require.Error(t, err)
	require.Contains(t, err.Error(), "no web node serves at us")
	require.ElementsMatch(t, []string{"DestroyVM us us-web-drill-1", "DestroyVM us us-web-drill-2"}, l.Calls("DestroyVM"))
	require.Equal(t, StepDone, foStep(t, p, "cleanup").State)
	require.Empty(t, l.vms["us"]["us-web-drill-1"].Name)
	l.requireNoSideEffects("CloneVM", "DestroyVM", "Publish")
}
