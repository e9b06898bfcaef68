package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/microdc/mdc/activities/dns"
	"github.com/microdc/mdc/activities/events"
	"github.com/microdc/mdc/devstack"
	"github.com/microdc/mdc/lab"
	"github.com/microdc/mdc/workers"
	"github.com/microdc/mdc/workflows"
)

// foStack is the dev stack with its lab: Temporal, NATS, the workflow
// worker and a worker per site wired exactly as `mdc dev` wires them.
type foStack struct {
	st   *devstack.Stack
	lab  *lab.Lab
	nats string
	// deps call activities directly, to set the lab up for a scenario.
	deps workers.Deps
}

func startFailoverStack(t *testing.T, base int) *foStack {
	t.Helper()
	st := startStack(t, base)
	p := st.Lab.Platform()
	deps, err := workers.BuildDeps(p, st.Lab.Lookup, p.SiteNames())
	require.NoError(t, err)
	return &foStack{st: st, lab: st.Lab, nats: st.NATS.URL, deps: deps}
}

func foGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// runFailover starts FailoverSite with the start options triggers use and
// waits for its result.
func (fs *foStack) runFailover(t *testing.T, ctx context.Context, in workflows.FailoverSiteInput) (workflows.FailoverSiteResult, time.Duration) {
	t.Helper()
	t0 := time.Now()
	run, err := fs.st.Client.ExecuteWorkflow(ctx, workflows.FailoverStartOptions(in), workflows.FailoverSiteName, in)
	require.NoError(t, err)
	var res workflows.FailoverSiteResult
	require.NoError(t, run.Get(ctx, &res))
	took := time.Since(t0)
	var b strings.Builder
	for _, s := range res.Progress.Steps {
		fmt.Fprintf(&b, "\n  %-20s %-8s %8s  %s", s.Name, s.State, s.Took.Round(time.Millisecond), s.Detail)
	}
	t.Logf("%s %s -> %s: %s in %s (RTO %.3fs, RPO %.3fs)%s", in.Mode, in.FailedSite, in.TargetSite, res.Status,
		took.Round(time.Millisecond), res.RTOSeconds, res.RPOSeconds, b.String())
	return res, took
}

// lastEvent reads the newest event on subject from JetStream.
func (fs *foStack) lastEvent(t *testing.T, subject string) events.Event {
	t.Helper()
	nc, err := nats.Connect(fs.nats)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	s, err := js.Stream(context.Background(), events.DefaultStream)
	require.NoError(t, err)
	msg, err := s.GetLastMsgForSubject(context.Background(), subject)
	require.NoError(t, err)
	var ev events.Event
	require.NoError(t, json.Unmarshal(msg.Data, &ev))
	return ev
}

// A power cut at uk: FailoverSite (disaster) confirms it from us, moves DNS,
// promotes us's MariaDB, adds a node, and proves the service end to end.
// A second failover of uk right after is refused by the anti-flapping check.
func TestFailoverSiteDisasterAgainstTheLab(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the lab")
	}
	fs := startFailoverStack(t, 83)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	p := fs.lab.Platform()
	uk, us := p.Sites[0], p.Sites[1]
	usIP := fs.lab.Plan().FrontendIP(1)
	// A write at uk just before the power cut: the replica's last applied
	// event is then seconds old, so the measured lag fits the max RPO.
	code, body := foGet(t, "http://"+uk.LB.Frontend+"/db")
	require.Equal(t, http.StatusOK, code, body)

	require.NoError(t, fs.lab.KillSite(ctx, "uk"))
	detected := time.Now()
	in, err := workflows.NewFailoverSiteInput(p, "uk", "us", workflows.ModeDisaster)
	require.NoError(t, err)
	in.Reason, in.RequestedBy, in.DetectedAt, in.DBAppUser = "lab power cut", "failover_test", detected, "mdc_app"
	// As if the monitor had last seen three nodes at uk: one is cloned at us.
	in.ServingAtFailedSite = map[string]int{"web": 3}
	in.Timeouts.Verify = 30 * time.Second
	res, took := fs.runFailover(t, ctx, in)
	require.Equal(t, workflows.StatusFailedOver, res.Status, res.Outcome)
	recordHistory(t, fs.st.Client, workflows.FailoverWorkflowID(in), "failover_disaster.json")

	usDNS := us.DNS.Servers[0].Address
	for _, region := range []string{uk.Region, us.Region} {
		require.Equal(t, []string{usIP}, geoAnswer(t, usDNS, "www.mdc.test.", p.Regions[region].Subnets[0]), "region %s", region)
	}
	code, body = foGet(t, "http://"+us.LB.Frontend+"/healthz")
	require.Equal(t, http.StatusOK, code, body)
	code, body = foGet(t, "http://"+us.LB.Frontend+"/db")
	require.Equal(t, http.StatusOK, code, "a write on the promoted us database: %s", body)

	require.True(t, res.Database.Promoted)
	require.GreaterOrEqual(t, res.RPOSeconds, 0.0)
	require.Less(t, res.RPOSeconds, 30.0)
	require.Greater(t, res.RTOSeconds, 0.0)
	require.True(t, res.RTOFrom.Equal(detected), "RTO counts from detection (%s), before the workflow started", res.RTOFrom)
	require.LessOrEqual(t, res.RTO, time.Since(detected))
	require.Less(t, res.RTO, took+time.Second, "detection to verification, not to the result")
	require.True(t, res.Fence.TrafficFencedByDNS)
	require.Contains(t, res.DNSUnreachable, "site uk")
	require.Equal(t, []string{"us-web-3"}, res.Capacity[0].Cloned)
	require.Len(t, res.Capacity[0].Nodes, 3)
	require.Len(t, res.Observers, 1)
	require.False(t, res.Observers[0].Reachable)

	ev := fs.lastEvent(t, "mdc.events.failover.failed-over")
	require.Equal(t, "failover.failed-over", ev.Type)
	require.Equal(t, "uk", ev.Site)

	// The ledger: wait until visibility has the closed run's outcome, as it
	// will long before a monitor could report uk again.
	require.Eventually(t, func() bool {
		r, err := fs.st.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: "WorkflowType = 'FailoverSite' AND MdcSite = 'uk' AND MdcOutcome = 'failed-over'",
		})
		return err == nil && len(r.Executions) == 1
	}, 20*time.Second, 200*time.Millisecond)
	again, _ := fs.runFailover(t, ctx, in)
	require.Equal(t, workflows.StatusRefused, again.Status)
	recordHistory(t, fs.st.Client, workflows.FailoverWorkflowID(in), "failover_refused_flapping.json")
	require.Contains(t, again.Outcome, "refused: uk failed over")
	require.Contains(t, again.Outcome, "within the block period of 10m0s")
}

// A planned failover of a healthy lab moves the primary without losing a
// write: the visits table us's nodes write to after the switch holds every
// row uk's nodes wrote before it, plus the new one.
func TestFailoverSitePlannedAgainstTheLab(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the lab")
	}
	fs := startFailoverStack(t, 83)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p := fs.lab.Platform()
	uk, us := p.Sites[0], p.Sites[1]
	code, before := foGet(t, "http://"+uk.LB.Frontend+"/db")
	require.Equal(t, http.StatusOK, code, before)
	// A platform whose record TTL is 10s (the lab's is 60s): the failover
	// waits one old TTL while uk still serves; 10s keeps the test short.
	for _, site := range p.SiteNames() {
		_, err := fs.deps.DNS.SetTTL(ctx, dns.SetTTLInput{Site: site, Zone: "mdc.test.", Name: "www.mdc.test.", Type: "LUA", TTL: 10})
		require.NoError(t, err)
	}

	in, err := workflows.NewFailoverSiteInput(p, "uk", "us", workflows.ModePlanned)
	require.NoError(t, err)
	in.Reason, in.RequestedBy, in.DBAppUser = "planned migration", "failover_test", "mdc_app"
	in.Services[0].TTL = 10
	in.Timeouts.Verify = 30 * time.Second
	res, _ := fs.runFailover(t, ctx, in)
	require.Equal(t, workflows.StatusFailedOver, res.Status, res.Outcome)
	recordHistory(t, fs.st.Client, workflows.FailoverWorkflowID(in), "failover_planned.json")
	require.True(t, res.Database.Promoted)
	require.Equal(t, 0.0, res.RPOSeconds, "no data loss")
	require.True(t, res.Fence.DatabaseFenced)

	usIP := fs.lab.Plan().FrontendIP(1)
	for _, region := range []string{uk.Region, us.Region} {
		require.Equal(t, []string{usIP}, geoAnswer(t, us.DNS.Servers[0].Address, "www.mdc.test.", p.Regions[region].Subnets[0]))
		require.Equal(t, []string{usIP}, geoAnswer(t, uk.DNS.Servers[0].Address, "www.mdc.test.", p.Regions[region].Subnets[0]))
	}
	code, after := foGet(t, "http://"+us.LB.Frontend+"/db")
	require.Equal(t, http.StatusOK, code, after)
	var b, a struct{ Count int64 }
	require.NoError(t, json.Unmarshal([]byte(before), &b))
	require.NoError(t, json.Unmarshal([]byte(after), &a))
	// Rows: uk's before the failover, the verification's write, this one.
	require.Equal(t, b.Count+2, a.Count, "uk's rows all reached us: before %s, after %s", before, after)
	require.Less(t, res.Outage, 15*time.Second, "clients saw uk fenced until us was verified")
	code, _ = foGet(t, "http://"+uk.LB.Frontend+"/healthz")
	require.NotEqual(t, http.StatusOK, code, "uk is fenced: its web VMs are powered off")
}
