package tests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/devstack"
	"github.com/microdc/mdc/embedded"
	"github.com/microdc/mdc/events"
	"github.com/microdc/mdc/triggers"
	"github.com/microdc/mdc/workflows"
)

// One observer reporting uk down while the others see it up starts
// nothing, however long it insists; a second observer agreeing starts
// exactly one FailoverSite, dated from the first missed heartbeat. Then
// 1,000 duplicate site.down events from the quorum, with the site flapping
// (down, up, down) among them and after the run ended, still make that one
// run. The lab's uk is alive, so the real FailoverSite's own confirmation
// finds it reachable and fails nothing over.
func TestTriggerE2EQuorumDuplicatesAndFlapping(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the lab")
	}
	ts := startTrigStack(t, trigOptions(t, 111))
	pol := ts.st.Lab.Platform().Failover
	interval := pol.DetectionInterval.Duration
	window := interval * time.Duration(pol.Misses)
	const id = "failover-uk"

	// e2e-a lost uk; e2e-b and e2e-c still reach it. Each reports every
	// detection interval, for three detection windows.
	outage := time.Now().Add(-window)
	tick := time.NewTicker(interval)
	for end := time.Now().Add(3 * window); time.Now().Before(end); <-tick.C {
		ts.vote(t, true, "uk", "e2e-a", outage, "0-1-100")
		ts.vote(t, false, "uk", "e2e-b", time.Time{}, "")
		ts.vote(t, false, "uk", "e2e-c", time.Time{}, "")
	}
	tick.Stop()
	s := ts.drained(t)
	require.False(t, ts.workflowExists(t, id), "one observer never fails a site over: %+v", s)
	require.Zero(t, s.Started)
	require.GreaterOrEqual(t, s.QuorumWaits, int64(9), "%+v", s)

	// e2e-b agrees: the quorum of 2 starts one failover.
	ts.vote(t, true, "uk", "e2e-b", time.Now().Add(-window), "0-1-101")
	require.Eventually(t, func() bool { return ts.stats().Started == 1 }, time.Minute, 20*time.Millisecond, "%+v", ts.stats())
	require.True(t, ts.workflowExists(t, id))
	var in workflows.FailoverSiteInput
	ts.startInput(t, id, &in)
	require.Equal(t, "us", in.TargetSite)
	require.Equal(t, workflows.ModeDisaster, in.Mode)
	require.Equal(t, "mdc-trigger", in.RequestedBy)
	require.WithinDuration(t, outage, in.DetectedAt, time.Millisecond, "the RTO clock starts at the earliest since")
	require.Equal(t, "0-1-101", in.PrimaryGTID, "the freshest vote's GTID")

	// The quorum keeps reporting, as monitors re-publish during an outage,
	// until the test is done.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var lost atomic.Int64
	wg.Go(func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				for _, o := range []string{"e2e-a", "e2e-b"} {
					if ts.send(ts.voteEvent(true, "uk", o, outage, "0-1-101"), interval) != nil {
						lost.Add(1)
					}
				}
			}
		}
	})
	defer func() { close(stop); wg.Wait(); require.Zero(t, lost.Load(), "re-publishes NATS did not take") }()

	// 1,000 duplicates, with uk flapping at e2e-a every hundred.
	for i := range 1000 {
		if i%100 == 50 {
			ts.vote(t, false, "uk", "e2e-a", time.Time{}, "")
		}
		ts.vote(t, true, "uk", []string{"e2e-a", "e2e-b"}[i%2], outage, "0-1-101")
	}
	ts.drained(t)
	res := ts.failoverResult(t, id)
	t.Logf("the one FailoverSite: %s (%s)", res.Status, res.Outcome)
	require.Equal(t, workflows.StatusNotFailedOver, res.Status, "uk is alive: the workflow's own probes see it")

	// The run has ended; the site flaps again within the block period.
	ts.vote(t, false, "uk", "e2e-b", time.Time{}, "")
	ts.vote(t, true, "uk", "e2e-b", outage, "0-1-101")
	ts.vote(t, false, "uk", "e2e-a", time.Time{}, "")
	ts.vote(t, true, "uk", "e2e-a", outage, "0-1-100")
	s = ts.drained(t)
	t.Logf("trigger counters: %+v", s)
	require.EqualValues(t, 1, s.Started, "%+v", s)
	require.GreaterOrEqual(t, s.Deduplicated, int64(1000), "%+v", s)
	require.Zero(t, s.Rejected)
	require.Eventually(t, func() bool { return ts.executions(t, "WorkflowId = '"+id+"'") >= 1 }, 30*time.Second, 100*time.Millisecond)
	require.Equal(t, 1, ts.executions(t, "WorkflowId = '"+id+"'"), "exactly one FailoverSite run")
	require.Equal(t, 1, ts.executions(t, "WorkflowType = 'FailoverSite'"))
}

// Events that can never be valid are dead-lettered with their reasons,
// nothing starts, and the trigger goes on to handle a valid event.
func TestTriggerE2EMalformedEventsAreDeadLettered(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the lab")
	}
	ts := startTrigStack(t, trigOptions(t, 113))
	now := time.Now().UTC().Format(time.RFC3339Nano)
	envelope := func(id, typ, site, observer, extra string) string {
		return fmt.Sprintf(`{"version":1,"id":%q,"type":%q,"site":%q,"observer":%q,"observed_at":%q%s}`, id, typ, site, observer, now, extra)
	}
	cases := []struct{ name, subject, data, reason string }{
		{"bad JSON", "mdc.events.site.down.uk", `{"version":1,"id":"m1","type":"site.down",`, "not a valid event envelope"},
		{"unknown type", "mdc.events.site.exploded.uk", envelope("m2", "site.exploded", "uk", "e2e-a", ""), `"site.exploded" is not a known event type`},
		{"unknown site", "mdc.events.site.down.mars", envelope("m3", "site.down", "mars", "e2e-a", ""), `unknown site "mars"; the platform file has uk, us`},
		{"oversize", "mdc.events.site.down.uk", envelope("m4", "site.down", "uk", "e2e-a", `,"payload":{"primary_gtid":"`+strings.Repeat("0", events.MaxSize)+`"}`), "65536-byte limit"},
		{"wrong subject", "mdc.events.site.down.us", envelope("m5", "site.down", "uk", "e2e-a", ""), "belong on mdc.events.site.down.uk"},
		{"no observer", "mdc.events.site.down.uk", envelope("m6", "site.down", "uk", "", ""), "site.down without observer"},
	}
	for _, c := range cases {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := ts.js.Publish(ctx, c.subject, []byte(c.data))
		cancel()
		require.NoError(t, err, c.name)
		ts.sent.Add(1)
	}
	s := ts.drained(t)
	require.EqualValues(t, len(cases), s.Rejected, "%+v", s)

	dead := trigDeadLetters(t, ts.js)
	require.Len(t, dead, len(cases))
	for _, c := range cases {
		m, ok := dead[c.data]
		require.True(t, ok, "%s: dead-lettered with the original bytes", c.name)
		require.Equal(t, c.subject, m.Header.Get(events.HeaderOriginalSubject), c.name)
		require.Contains(t, m.Header.Get(events.HeaderReason), c.reason, c.name)
		t.Logf("%-13s → %s", c.name, trimReason(m.Header.Get(events.HeaderReason)))
	}
	require.Zero(t, ts.executions(t, "WorkflowType = 'FailoverSite'"), "nothing started")
	require.Zero(t, s.Started)

	// The trigger keeps running: a valid quorum is acted on.
	ts.vote(t, true, "us", "e2e-a", time.Now().Add(-3*time.Second), "")
	ts.vote(t, true, "us", "e2e-b", time.Now().Add(-3*time.Second), "")
	require.Eventually(t, func() bool { return ts.stats().Started == 1 }, time.Minute, 20*time.Millisecond, "%+v", ts.stats())
	require.True(t, ts.workflowExists(t, "failover-us"))
	require.EqualValues(t, len(cases), ts.stats().Rejected)
}

// NATS restarts while events flow: every event reaches the trigger. The
// events are site.up votes from 300 observers (they start nothing), so each
// one's arrival shows as its own key in the votes bucket.
func TestTriggerE2ENATSRestartLosesNoEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the lab")
	}
	ts := startTrigStack(t, trigOptions(t, 115))
	const n, burst = 300, 200
	// A burst the trigger cannot have handled yet when NATS goes down.
	for i := range burst {
		ev := ts.voteEvent(false, "uk", fmt.Sprintf("o%03d", i), time.Time{}, "")
		data, err := events.Encode(ev)
		require.NoError(t, err)
		_, err = ts.js.PublishAsync(events.Subject(ev.Type, ev.Site), data, jetstream.WithMsgID(ev.ID))
		require.NoError(t, err)
		ts.sent.Add(1)
	}
	select {
	case <-ts.js.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		t.Fatal("the burst was not acknowledged")
	}
	t.Logf("NATS restarts with %d of %d events not yet handled", ts.sent.Load()-ts.stats().Processed, ts.sent.Load())
	ts.restartNATS(t)
	for i := burst; i < n; i++ {
		ts.vote(t, false, "uk", fmt.Sprintf("o%03d", i), time.Time{}, "")
	}
	s := ts.drained(t)
	t.Logf("trigger counters after the NATS restart: %+v", s)
	require.EqualValues(t, n, s.VotesRecorded, "%+v", s)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv, err := ts.js.KeyValue(ctx, triggers.VotesBucket)
	require.NoError(t, err)
	for i := range n {
		e, err := kv.Get(ctx, fmt.Sprintf("uk.o%03d", i))
		require.NoError(t, err, "observer o%03d's vote", i)
		require.Contains(t, string(e.Value()), `"state":"up"`)
	}
	require.False(t, ts.workflowExists(t, "failover-uk"))
}

// The rules come from a platform file: with "action: record" on site.down
// a quorum records and starts nothing, and a bad triggers section stops
// `mdc dev` before anything starts, naming file:line:col.
func TestTriggerE2ERulesFromAPlatformFile(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the lab")
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte(trigPlatformFile+"triggers:\n  - {event: site.down, action: start, workflow: Autoscale}\n"), 0o644))
	o := trigOptions(t, 117)
	o.TriggerPlatform = bad
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := devstack.Start(ctx, o)
	require.ErrorContains(t, err, bad+":35:49: triggers[0].workflow: site.down can drive FailoverSite only")
	require.NoError(t, embedded.CheckPortFree("127.0.0.1", o.NATSPort, "NATS", "--nats-port"), "nothing was started")

	off := filepath.Join(dir, "off.yaml")
	require.NoError(t, os.WriteFile(off, []byte(trigPlatformFile+"triggers:\n  - event: site.down\n    action: record\n"), 0o644))
	o.TriggerPlatform = off
	ts := startTrigStack(t, o)
	require.Equal(t, "node.load: signal-with-start Autoscale; other events recorded (from "+off+")", ts.st.TriggerRules())
	for range 5 {
		ts.vote(t, true, "uk", "e2e-a", time.Now().Add(-3*time.Second), "")
		ts.vote(t, true, "uk", "e2e-b", time.Now().Add(-3*time.Second), "")
	}
	s := ts.drained(t)
	require.EqualValues(t, 10, s.Recorded, "%+v", s)
	require.Zero(t, s.VotesRecorded, "automatic failover is off: no votes are counted")
	require.Zero(t, s.Started)
	require.False(t, ts.workflowExists(t, "failover-uk"))
}

// trigPlatformFile names the lab's sites, service and failover policy: all
// the trigger reads besides its rules (the addresses are not used while
// site.down is only recorded).
const trigPlatformFile = `version: 1
regions:
  eu: {subnets: [192.0.2.0/24]}
  na: {subnets: [198.51.100.0/24]}
sites:
  - name: uk
    region: eu
    vcenter: {url: "https://127.117.0.1:8989/sdk", username_env: MDC_LAB_VC_USER, password_env: MDC_LAB_VC_PASSWORD, datacenter: DC0, datastore: LocalDS_0}
    lb: {runtime_api: "127.117.0.1:9999", frontend: "127.117.0.2:8080"}
    dns:
      servers:
        - {api_url: "http://127.117.0.1:8081", api_key_env: MDC_LAB_PDNS_API_KEY, address: "127.117.0.1:5300"}
    database: {address: "127.117.0.1:3306", role: primary, dsn_env: MDC_LAB_UK_DB_DSN}
  - name: us
    region: na
    vcenter: {url: "https://127.118.0.1:8989/sdk", username_env: MDC_LAB_VC_USER, password_env: MDC_LAB_VC_PASSWORD, datacenter: DC0, datastore: LocalDS_0}
    lb: {runtime_api: "127.118.0.1:9999", frontend: "127.118.0.2:8080"}
    dns:
      servers:
        - {api_url: "http://127.118.0.1:8081", api_key_env: MDC_LAB_PDNS_API_KEY, address: "127.118.0.1:5300"}
    database: {address: "127.118.0.1:3306", role: replica, dsn_env: MDC_LAB_US_DB_DSN}
services:
  - name: web
    zone: mdc.test.
    dns_record: www.mdc.test.
    template: web-template
    snapshot: golden
    port: 8080
failover:
  detection_interval: 1s
  misses: 3
  observer_quorum: 2
  mode: automatic
`

// trigDeadLetters reads MDC_DEADLETTER, keyed by the original bytes.
func trigDeadLetters(t *testing.T, js jetstream.JetStream) map[string]*jetstream.RawStreamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, events.DeadLetterStream)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	out := map[string]*jetstream.RawStreamMsg{}
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		require.NoError(t, err)
		out[string(m.Data)] = m
	}
	return out
}

// trimReason shortens a reason for the log (the oversize one quotes sizes only).
func trimReason(r string) string {
	if len(r) > 160 {
		return r[:160] + "..."
	}
	return r
}
