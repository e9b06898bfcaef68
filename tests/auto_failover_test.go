package tests

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/activities/lb"
	"github.com/microdc/mdc/activities/vsphere"
	"github.com/microdc/mdc/events"
	"github.com/microdc/mdc/monitor"
	"github.com/microdc/mdc/rto"
	"github.com/microdc/mdc/workers"
	"github.com/microdc/mdc/workflows"
)

// A power cut at uk with nobody watching: the us monitor and the witness
// each miss three heartbeats and vote site.down, the trigger starts
// FailoverSite on their quorum, and the failover ends with us serving every
// region from a promoted database. The RTO is logged by phase.
func TestAutoFailoverWhenASiteDies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the lab")
	}
	as := startAutoStack(t, 103)
	c := as.st.Client
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	p := as.st.Lab.Platform()
	uk, us := p.Sites[0], p.Sites[1]
	// The monitors are watching: each site's nodes report their load.
	for _, site := range []string{"uk", "us"} {
		require.Eventually(t, func() bool { return len(as.seen.where(events.TypeNodeLoad, site, "")) > 0 }, time.Minute, 100*time.Millisecond, site)
	}
	// uk scaled out to three nodes before the cut; us runs two. The us
	// monitor and the witness count uk's nodes in its vCenter while it
	// answers, their votes carry the count, and the failover starts as
	// many at us although uk's vCenter is gone with it.
	deps, err := workers.BuildDeps(p, as.st.Lab.Lookup, []string{uk.Name, us.Name})
	require.NoError(t, err)
	_, err = deps.VSphere.CloneVM(ctx, vsphere.CloneVMInput{Site: "uk", Source: "web-template", Snapshot: "golden", Name: "uk-web-3",
		Tags: map[string]string{vsphere.TagRole: "web", vsphere.TagService: "web", vsphere.TagSite: "uk"}, PowerOn: true})
	require.NoError(t, err)
	_, err = deps.VSphere.WaitForIP(ctx, vsphere.WaitForIPInput{Site: "uk", Name: "uk-web-3", Deadline: time.Now().Add(time.Minute)})
	require.NoError(t, err)
	// Within a discover interval both observers (us and the witness) have
	// counted the third node.
	require.Eventually(t, func() bool {
		counted := 0
		for _, m := range as.st.Monitors() {
			if n, ok := m.ServingSeen("uk")["web"]; ok {
				if n != 3 {
					return false
				}
				counted++
			}
		}
		return counted == 2
	}, 3*monitor.DefaultDiscoverInterval, 100*time.Millisecond, "the us monitor and the witness count uk's three web nodes")
	code, body := foGet(t, "http://"+uk.LB.Frontend+"/db")
	require.Equal(t, http.StatusOK, code, "a write at uk before the power cut: %s", body)
	// One heartbeat after the write, so the monitors sampled its GTID.
	time.Sleep(p.Failover.DetectionInterval.Duration + 500*time.Millisecond)

	require.NoError(t, as.labc.KillSite(ctx, "uk"))
	killed := time.Now()
	id := "failover-uk"
	require.Eventually(t, func() bool {
		_, err := c.DescribeWorkflowExecution(ctx, id, "")
		return err == nil
	}, time.Minute, 50*time.Millisecond, "the trigger starts %s from the monitors' votes", id)
	t.Logf("%s started %s after the kill", id, time.Since(killed).Round(time.Millisecond))

	b, res, err := rto.Measure(ctx, c, as.js, id, p.Failover.ObserverQuorum)
	require.Equal(t, workflows.StatusFailedOver, res.Status, res.Outcome)
	require.NoError(t, err)
	t.Logf("%s", b)
	for _, s := range res.Progress.Steps {
		t.Logf("  step %-12s %-8s %8s  %s", s.Name, s.State, s.Took.Round(time.Millisecond), s.Detail)
	}

	usIP := as.st.Lab.Plan().FrontendIP(1)
	for _, region := range []string{uk.Region, us.Region} {
		require.Equal(t, []string{usIP}, geoAnswer(t, us.DNS.Servers[0].Address, "www.mdc.test.", p.Regions[region].Subnets[0]), "region %s", region)
	}
	code, body = foGet(t, "http://"+us.LB.Frontend+"/healthz")
	require.Equal(t, http.StatusOK, code, body)
	code, body = foGet(t, "http://"+us.LB.Frontend+"/db")
	require.Equal(t, http.StatusOK, code, "a write on the promoted us database: %s", body)

	// The votes: two observers, neither of them uk itself.
	require.ElementsMatch(t, []string{"us", "witness"}, b.Observers)
	// RTO counts from the first missed heartbeat, which came after the kill
	// and within one detection interval of it, and ends at verification.
	interval := p.Failover.DetectionInterval.Duration
	require.True(t, res.RTOFrom.Equal(b.Since), "the workflow's RTO clock starts at the monitors' since (%s), not at %s", b.Since, res.RTOFrom)
	require.True(t, !res.RTOFrom.Before(killed.Add(-interval)) && res.RTOFrom.Before(killed.Add(2*interval)),
		"first missed heartbeat %s, kill %s", res.RTOFrom, killed)
	require.Greater(t, res.RTOSeconds, 0.0)
	require.Equal(t, res.Verified.Sub(res.RTOFrom), res.RTO)
	require.Less(t, res.RTO, time.Since(res.RTOFrom))
	require.GreaterOrEqual(t, b.Detection, time.Duration(p.Failover.Misses-1)*interval, "votes need the misses")
	// RPO: uk's last GTID came with the votes; the promotion measured it.
	require.True(t, res.Database.Promoted)
	require.NotEmpty(t, res.Database.PrimaryGTID, "the monitors' primary_gtid reached the promotion")
	require.GreaterOrEqual(t, res.RPOSeconds, 0.0)
	require.LessOrEqual(t, res.RPOSeconds, p.Failover.MaxRPO.Duration.Seconds())
	require.NotEmpty(t, as.seen.where(events.TypeSiteDown, "uk", ""))
	require.Empty(t, as.seen.where(events.TypeSiteDown, "us", ""), "nobody lost us")
	// Capacity: what uk served, from the votes, not the service minimum.
	require.Len(t, res.Capacity, 1)
	capa := res.Capacity[0]
	require.Equal(t, 3, capa.Wanted, capa.WantedFrom)
	require.Contains(t, capa.WantedFrom, "last seen serving at uk")
	require.Len(t, capa.Nodes, 3, "us serves as many nodes as uk did")
	require.Len(t, capa.Cloned, 1, "one more than the two us had")
	servers, err := deps.LB.ListServers(ctx, lb.ListServersInput{Site: "us"})
	require.NoError(t, err)
	up := 0
	for _, s := range servers.Servers {
		if s.State == lb.StateUp {
			up++
		}
	}
	require.Equal(t, 3, up, "three nodes UP in the us load balancer: %+v", servers.Servers)
}
