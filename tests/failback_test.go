package tests

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/microdc/mdc/activities/db"
	"github.com/microdc/mdc/activities/dns"
	"github.com/microdc/mdc/activities/vsphere"
	"github.com/microdc/mdc/lab"
	"github.com/microdc/mdc/schedules"
	"github.com/microdc/mdc/workers"
	"github.com/microdc/mdc/workflows"
)

// The whole round trip of a site against the lab (base 131: uk at
// 127.131, us at 127.132): a power cut at uk fails it over to us
// (disaster), uk comes back through the lab control API, and Failback
// reprotects it (its database resynced as a replica of us, uk-db-1
// replicated again, its DNS servers repaired) and moves the service home
// with a planned FailoverSite child. Every assertion reads the components'
// own state: MariaDB's replication status and rows, vCenter's inventory,
// PowerDNS's answers and HTTP through uk's HAProxy.
func TestFailbackAgainstTheLab(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the lab")
	}
	fs := startFailoverStack(t, 131)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	// uk-db-1's replication schedule (every 7.5 minutes, aligned to the
	// clock) would add a replica of its own: pause it, the failback's is
	// the one counted.
	sched := fs.st.Client.ScheduleClient().GetHandle(ctx, schedules.ReplicationScheduleID("uk", "uk-db-1"))
	require.NoError(t, sched.Pause(ctx, client.SchedulePauseOptions{Note: "failback test"}))
	p := fs.lab.Platform()
	uk, us := p.Sites[0], p.Sites[1]
	ukIP, usIP := fs.lab.Plan().FrontendIP(0), fs.lab.Plan().FrontendIP(1)
	count := func(site string) int64 {
		t.Helper()
		s, _ := p.Site(site)
		code, body := foGet(t, "http://"+s.LB.Frontend+"/db")
		require.Equal(t, http.StatusOK, code, "a write through %s's load balancer: %s", site, body)
		var r struct{ Count int64 }
		require.NoError(t, json.Unmarshal([]byte(body), &r))
		return r.Count
	}

	// A write at uk just before the power cut keeps the disaster RPO
	// estimate small (see the disaster failover test).
	before := count("uk")
	require.NoError(t, fs.lab.KillSite(ctx, "uk"))
	in, err := workflows.NewFailoverSiteInput(p, "uk", "us", workflows.ModeDisaster)
	require.NoError(t, err)
	in.Reason, in.RequestedBy, in.DetectedAt, in.DBAppUser = "lab power cut", "failback_test", time.Now(), "mdc_app"
	in.Timeouts.Verify = 30 * time.Second
	fo, _ := fs.runFailover(t, ctx, in)
	require.Equal(t, workflows.StatusFailedOver, fo.Status, fo.Outcome)
	require.Contains(t, fo.DNSUnreachable, "site uk", "uk's DNS servers missed the cutover: Failback repairs them")
	// us takes writes while uk is away: the failover's verification wrote
	// one row, this is the second. uk must have both after the failback.
	require.Equal(t, before+2, count("us"))

	// uk's power comes back: every component restarts with the state it had,
	// so uk's database is a writable primary again and its DNS servers still
	// send eu's clients to uk.
	require.NoError(t, lab.NewClient(fs.lab.Plan().ControlAddr()).ReviveSite(ctx, "uk"))
	require.Equal(t, []string{ukIP}, geoAnswer(t, uk.DNS.Servers[0].Address, "www.mdc.test.", p.Regions[uk.Region].Subnets[0]),
		"uk's revived DNS server still has the record from before the failover")
	replicasBefore := replicasOf(t, fs, "us", "uk-db-1")

	back, err := workflows.NewFailbackInput(p, "uk", "us", true)
	require.NoError(t, err)
	require.NotNil(t, back.SwitchBack)
	// A 10 s record TTL instead of the lab's 60 s: the planned switch-back
	// waits one old TTL on a durable timer, and 10 s keeps the test short.
	setTTL(t, fs, 10)
	for i := range back.DNS {
		back.DNS[i].TTL = 10
	}
	for i := range back.SwitchBack.Services {
		back.SwitchBack.Services[i].TTL = 10
	}
	back.SwitchBack.RequestedBy, back.SwitchBack.DBAppUser = "failback_test", "mdc_app"
	back.SwitchBack.Timeouts.Verify = 30 * time.Second
	res, took := runFailback(t, fs, ctx, back)
	recordHistory(t, fs.st.Client, "failback-uk", "failback.json")
	recordHistory(t, fs.st.Client, "failback-uk/switch-back", "failback_switch_back.json")
	t.Logf("Failback uk (resync, re-replicate, repair DNS, planned switch-back): %s", took.Round(time.Millisecond))

	require.True(t, res.DBRepointed, "uk came back a writable primary and was made a replica of us")
	require.Len(t, res.Replicas, 1)
	require.Equal(t, []string{"www.mdc.test."}, res.DNSRepaired)
	require.Equal(t, workflows.StatusFailedOver, res.SwitchBack, res.SwitchBackOutcome)

	// MariaDB: uk is the writable primary, us is fenced read-only.
	ukDB, err := fs.deps.DB.ReplicationStatus(ctx, db.ReplicationStatusInput{Site: "uk"})
	require.NoError(t, err)
	require.Equal(t, db.RolePrimary, ukDB.Role, "%+v", ukDB)
	require.False(t, ukDB.ReadOnly)
	usDB, err := fs.deps.DB.ReplicationStatus(ctx, db.ReplicationStatusInput{Site: "us"})
	require.NoError(t, err)
	require.True(t, usDB.ReadOnly, "us was fenced by the planned switch-back: %+v", usDB)
	// Rows: before, the disaster's verification and this test's write at us
	// (resynced to uk), the switch-back's verification, and this one.
	require.Equal(t, before+4, count("uk"), "a write on uk holds every row us took while uk was away")

	// vCenter: a new replica of uk-db-1 at us, powered off and tagged.
	replicas := replicasOf(t, fs, "us", "uk-db-1")
	require.Len(t, replicas, len(replicasBefore)+1)
	rep, ok := replicas[res.Replicas[0]]
	require.True(t, ok, "the failback's replica %s is in us's vCenter (%v)", res.Replicas[0], replicas)
	require.Equal(t, vsphere.PoweredOff, rep.PowerState)
	require.Equal(t, "uk", rep.Tags[vsphere.TagReplicaSite])

	// PowerDNS: both sites' servers answer uk's load balancer, eu's clients
	// (uk's region) first of all; HTTP 200 through it.
	for _, server := range []string{uk.DNS.Servers[0].Address, us.DNS.Servers[0].Address} {
		for _, region := range []string{uk.Region, us.Region} {
			require.Equal(t, []string{ukIP}, geoAnswer(t, server, "www.mdc.test.", p.Regions[region].Subnets[0]), "server %s, region %s", server, region)
		}
	}
	code, body := foGet(t, "http://"+uk.LB.Frontend+"/healthz")
	require.Equal(t, http.StatusOK, code, body)
	code, _ = foGet(t, "http://"+us.LB.Frontend+"/healthz")
	require.NotEqual(t, http.StatusOK, code, "us is fenced: its web VMs are powered off")

	// The round trip ends where it began with what an operator runs next:
	// ProvisionSite at each site, from the platform file (whose roles are
	// true again). us becomes a replica of uk and serves its own region;
	// uk's record answers every region with its own site again.
	for _, site := range []string{"us", "uk"} {
		pin, err := workflows.NewProvisionSiteInput(p, site)
		require.NoError(t, err)
		pin.IPDeadline, pin.HealthDeadline = time.Minute, time.Minute
		var pres workflows.ProvisionSiteResult
		t0 := time.Now()
		run, err := fs.st.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "provision-" + site, TaskQueue: workers.SharedQueue},
			workflows.ProvisionSiteName, pin)
		require.NoError(t, err)
		require.NoError(t, run.Get(ctx, &pres))
		t.Logf("ProvisionSite %s after the failback: %s, powered on %v, DNS %v, DB repointed %v",
			site, time.Since(t0).Round(time.Millisecond), pres.PoweredOn, pres.DNSChanged, pres.DBRepointed)
	}
	usDB, err = fs.deps.DB.ReplicationStatus(ctx, db.ReplicationStatusInput{Site: "us"})
	require.NoError(t, err)
	require.Equal(t, db.RoleReplica, usDB.Role, "%+v", usDB)
	require.Equal(t, "uk", usDB.MasterSite)
	require.True(t, usDB.IORunning && usDB.SQLRunning, "%+v", usDB)
	vms, err := fs.deps.VSphere.FindVMs(ctx, vsphere.FindVMsInput{Site: "us", Names: []string{"us-web-1"}})
	require.NoError(t, err)
	require.Len(t, vms.VMs, 1)
	require.Equal(t, vsphere.PoweredOn, vms.VMs[0].PowerState, "the service's minimum at us is powered on again")
	// The provisioned record is health-checked: PowerDNS answers every
	// address until its first checks of the load balancers are in.
	for _, server := range []string{uk.DNS.Servers[0].Address, us.DNS.Servers[0].Address} {
		for region, want := range map[string]string{uk.Region: ukIP, us.Region: usIP} {
			require.Eventually(t, func() bool {
				got := geoAnswer(t, server, "www.mdc.test.", p.Regions[region].Subnets[0])
				return len(got) == 1 && got[0] == want
			}, time.Minute, 200*time.Millisecond, "server %s answers region %s with %s", server, region, want)
		}
	}
	code, body = foGet(t, "http://"+us.LB.Frontend+"/healthz")
	require.Equal(t, http.StatusOK, code, body)
}

// runFailback starts Failback as `mdc failback` does (ID failback-<site>)
// and waits for its result.
func runFailback(t *testing.T, fs *foStack, ctx context.Context, in workflows.FailbackInput) (workflows.FailbackResult, time.Duration) {
	t.Helper()
	t0 := time.Now()
	run, err := fs.st.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "failback-" + in.ReturnedSite, TaskQueue: workers.SharedQueue},
		workflows.FailbackName, in)
	require.NoError(t, err)
	var res workflows.FailbackResult
	err = run.Get(ctx, &res)
	var b strings.Builder
	for _, s := range res.Progress.Steps {
		b.WriteString("\n  " + s.Name + " " + s.State + " " + s.Took.Round(time.Millisecond).String() + "  " + s.Detail)
	}
	t.Logf("Failback %s: %s", in.ReturnedSite, b.String())
	require.NoError(t, err)
	return res, time.Since(t0)
}

// replicasOf lists site's replicas of vm by name, from its vCenter.
func replicasOf(t *testing.T, fs *foStack, site, vm string) map[string]vsphere.VM {
	t.Helper()
	r, err := fs.deps.VSphere.FindVMs(context.Background(), vsphere.FindVMsInput{Site: site})
	require.NoError(t, err)
	out := map[string]vsphere.VM{}
	for _, v := range r.VMs {
		if v.Tags[vsphere.TagReplicaOf] == vm {
			out[v.Name] = v
		}
	}
	return out
}

// setTTL sets the service record's TTL on every site's DNS servers.
func setTTL(t *testing.T, fs *foStack, ttl int) {
	t.Helper()
	for _, site := range fs.lab.Platform().SiteNames() {
		_, err := fs.deps.DNS.SetTTL(context.Background(), dns.SetTTLInput{Site: site, Zone: "mdc.test.", Name: "www.mdc.test.", Type: "LUA", TTL: ttl})
		require.NoError(t, err)
	}
}
