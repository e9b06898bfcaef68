package triggers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/microdc/mdc/embedded"
	"github.com/microdc/mdc/events"
	"github.com/microdc/mdc/platform"
	"github.com/microdc/mdc/workflows"
)

const testQueue = "mdc-trigger-test"

// fakeFailover stands in for FailoverSite: it answers the "input" query and
// runs until signalled "stop" with the outcome to record as MdcOutcome.
func fakeFailover(ctx workflow.Context, in workflows.FailoverSiteInput) error {
	if err := workflow.SetQueryHandler(ctx, "input", func() (workflows.FailoverSiteInput, error) { return in, nil }); err != nil {
		return err
	}
	var outcome string
	workflow.GetSignalChannel(ctx, "stop").Receive(ctx, &outcome)
	return workflow.UpsertTypedSearchAttributes(ctx, workflows.AttrOutcome.ValueSet(outcome))
}

// fakeAutoscale stands in for Autoscale: it counts load samples per node
// and answers the "nodes" query with the number of distinct nodes.
func fakeAutoscale(ctx workflow.Context, _ workflows.AutoscaleInput) error {
	nodes := map[string]int{}
	if err := workflow.SetQueryHandler(ctx, "nodes", func() (int, error) { return len(nodes), nil }); err != nil {
		return err
	}
	ch := workflow.GetSignalChannel(ctx, workflows.LoadSignal)
	for {
		var s workflows.LoadSample
		ch.Receive(ctx, &s)
		nodes[s.Node]++
	}
}

type temporalEnv struct {
	srv  *embedded.Temporal
	c    client.Client
	opts embedded.TemporalOptions
}

func startTemporal(t testing.TB, o embedded.TemporalOptions) *temporalEnv {
	t.Helper()
	o.Logger = quietLogger()
	o.SearchAttributes = workflows.SearchAttributes()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, err := embedded.StartTemporal(ctx, o)
	require.NoError(t, err)
	c, err := client.DialContext(ctx, client.Options{HostPort: srv.Address, Logger: nopLogger{}})
	require.NoError(t, err)
	w := worker.New(c, testQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(fakeFailover, workflow.RegisterOptions{Name: workflows.FailoverSiteName})
	w.RegisterWorkflowWithOptions(fakeAutoscale, workflow.RegisterOptions{Name: workflows.AutoscaleName})
	require.NoError(t, w.Start())
	env := &temporalEnv{srv: srv, c: c, opts: o}
	t.Cleanup(func() {
		w.Stop()
		c.Close()
		env.srv.Stop()
	})
	return env
}

type nopLogger struct{}

func (nopLogger) Debug(string, ...any) {}
func (nopLogger) Info(string, ...any)  {}
func (nopLogger) Warn(string, ...any)  {}
func (nopLogger) Error(string, ...any) {}

func countExecutions(t testing.TB, c client.Client, id string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: fmt.Sprintf("WorkflowId = '%s'", id)})
	require.NoError(t, err)
	return len(resp.Executions)
}

func TestDuplicateSiteDownStartsOneFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("embedded NATS and Temporal")
	}
	tmp := startTemporal(t, embedded.TemporalOptions{})
	nsrv := startNATS(t, embedded.NATSOptions{})
	t.Cleanup(nsrv.Stop)
	pub := newPublisher(t, nsrv.URL)
	starter := &TemporalStarter{Client: tmp.c, TaskQueue: testQueue}
	tr := runTrigger(t, Options{NATSURL: nsrv.URL, Starter: starter})

	const n = 1000
	t0 := time.Now().UTC()
	observers := []string{"us", "witness"} // quorum 2
	for i := range n {
		// Both observers keep re-reporting the outage: distinct event IDs, one site.
		pub.event(t, downFrom(fmt.Sprintf("down-uk-%d", i), "uk", observers[i%2], t0.Add(time.Duration(i)*time.Millisecond)))
	}
	waitFor(t, 120*time.Second, "1000 processed", func() bool { return tr.Stats().Processed == n })
	s := tr.Stats()
	require.EqualValues(t, 1, s.QuorumWaits, "the first vote waits for the second observer: %+v", s)
	require.EqualValues(t, 1, s.Started, "%+v", s)
	require.EqualValues(t, n-2, s.Deduplicated, "%+v", s)
	require.EqualValues(t, n, s.VotesRecorded, "%+v", s)
	require.Zero(t, s.Rejected)
	waitFor(t, 10*time.Second, "visibility shows the run", func() bool { return countExecutions(t, tmp.c, "failover-uk") >= 1 })
	require.Equal(t, 1, countExecutions(t, tmp.c, "failover-uk"))

	in := failoverInput(t, tmp.c, "failover-uk")
	require.Equal(t, "us", in.TargetSite)
	require.Equal(t, workflows.ModeDisaster, in.Mode)
	require.True(t, in.DetectedAt.Equal(t0.Add(-time.Second)), "DetectedAt is the earliest since of the quorum: %s", in.DetectedAt)
	require.Equal(t, "0-1-witness", in.PrimaryGTID, "the freshest vote's GTID")
	require.Equal(t, map[string]int{"web": 3}, in.ServingAtFailedSite, "the most nodes a vote saw the site serve")
	require.Equal(t, "site.down from 2 observers (us, witness), quorum 2", in.Reason)

	// The trigger keeps running: the next site's outage starts its own failover.
	pub.event(t, downFrom("down-us-1", "us", "uk", time.Now()))
	pub.event(t, downFrom("down-us-2", "us", "witness", time.Now()))
	waitFor(t, 20*time.Second, "failover-us", func() bool { return tr.Stats().Started == 2 })
	require.Equal(t, "uk", failoverInput(t, tmp.c, "failover-us").TargetSite)
}

// A flapping site (down, up, down) folds into the failover that covers it:
// the running one, and after it failed the site over, the closed one for
// the block period. A run that did not fail over does not block the next.
func TestFlappingSiteFoldsIntoOneFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("embedded NATS and Temporal")
	}
	tmp := startTemporal(t, embedded.TemporalOptions{})
	nsrv := startNATS(t, embedded.NATSOptions{})
	t.Cleanup(nsrv.Stop)
	pub := newPublisher(t, nsrv.URL)
	tr := runTrigger(t, Options{NATSURL: nsrv.URL, Starter: &TemporalStarter{Client: tmp.c, TaskQueue: testQueue}})
	seq := 0
	flap := func(site string, observers ...string) {
		for _, o := range observers {
			seq++
			pub.event(t, upFrom(fmt.Sprintf("flap-up-%d", seq), site, o, time.Now()))
			pub.event(t, downFrom(fmt.Sprintf("flap-down-%d", seq), site, o, time.Now()))
		}
	}

	pub.event(t, downFrom("d1", "uk", "us", time.Now()))
	pub.event(t, downFrom("d2", "uk", "witness", time.Now()))
	waitFor(t, 20*time.Second, "failover-uk started", func() bool { return tr.Stats().Started == 1 })
	flap("uk", "us", "witness", "us")
	waitFor(t, 20*time.Second, "flaps processed", func() bool { return tr.Stats().Processed == 8 })
	require.EqualValues(t, 1, tr.Stats().Started)
	require.EqualValues(t, 3, tr.Stats().Deduplicated, "each re-completed quorum folds into the incident")

	// The failover ends having failed the site over; a later outage (a new
	// incident) within the block period folds into it.
	stopFailover(t, tmp.c, "failover-uk", workflows.StatusFailedOver)
	ageIncident(t, pub, "uk")
	flap("uk", "us", "witness")
	waitFor(t, 20*time.Second, "new quorum processed", func() bool { return tr.Stats().Processed == 12 })
	require.EqualValues(t, 1, tr.Stats().Started, "%+v", tr.Stats())
	require.EqualValues(t, 5, tr.Stats().Deduplicated, "%+v", tr.Stats())
	require.Equal(t, 1, countExecutions(t, tmp.c, "failover-uk"))

	// A failover that found the site reachable does not block the next incident.
	pub.event(t, downFrom("u1", "us", "uk", time.Now()))
	pub.event(t, downFrom("u2", "us", "witness", time.Now()))
	waitFor(t, 20*time.Second, "failover-us started", func() bool { return tr.Stats().Started == 2 })
	stopFailover(t, tmp.c, "failover-us", workflows.StatusNotFailedOver)
	ageIncident(t, pub, "us")
	flap("us", "uk", "witness")
	waitFor(t, 20*time.Second, "a second failover-us run", func() bool { return tr.Stats().Started == 3 })
	waitFor(t, 10*time.Second, "visibility shows both runs", func() bool { return countExecutions(t, tmp.c, "failover-us") == 2 })
}

func TestUnbuildableFailoverInputDeadLetters(t *testing.T) {
	if testing.Short() {
		t.Skip("embedded NATS")
	}
	nsrv := startNATS(t, embedded.NATSOptions{})
	t.Cleanup(nsrv.Stop)
	pub := newPublisher(t, nsrv.URL)
	broken := func(*platform.Platform, FailoverRequest) (workflows.FailoverSiteInput, error) {
		return workflows.FailoverSiteInput{}, errors.New("no services to fail over")
	}
	tr := runTrigger(t, Options{NATSURL: nsrv.URL, Starter: &TemporalStarter{TaskQueue: testQueue, FailoverInput: broken}})
	pub.event(t, downFrom("d1", "uk", "us", time.Now()))
	pub.event(t, downFrom("d2", "uk", "witness", time.Now()))
	waitFor(t, 10*time.Second, "rejected", func() bool { return tr.Stats().Rejected == 1 })
	dl := deadLetters(t, pub.js)
	require.Len(t, dl, 1)
	require.Contains(t, dl[0].Header.Get(events.HeaderReason), "build FailoverSite input for site uk: no services to fail over")
}

// failoverInput asks the fake FailoverSite for the input it was started with.
func failoverInput(t testing.TB, c client.Client, id string) workflows.FailoverSiteInput {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := c.QueryWorkflow(ctx, id, "", "input")
	require.NoError(t, err)
	var in workflows.FailoverSiteInput
	require.NoError(t, v.Get(&in))
	return in
}

// stopFailover ends the fake FailoverSite with outcome and waits for it.
func stopFailover(t testing.TB, c client.Client, id, outcome string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, c.SignalWorkflow(ctx, id, "", "stop", outcome))
	require.NoError(t, c.GetWorkflow(ctx, id, "").Get(ctx, nil))
}

// ageIncident moves the site's incident into the past, as if its quorum
// had lapsed for longer than the vote lifetime.
func ageIncident(t testing.TB, pub *publisher, site string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := pub.js.KeyValue(ctx, VotesBucket)
	require.NoError(t, err)
	e, err := kv.Get(ctx, incidentPrefix+site)
	require.NoError(t, err)
	var inc incident
	require.NoError(t, json.Unmarshal(e.Value(), &inc))
	inc.LastQuorum = inc.LastQuorum.Add(-2 * time.Hour)
	data, err := json.Marshal(inc)
	require.NoError(t, err)
	_, err = kv.Update(ctx, incidentPrefix+site, data, e.Revision())
	require.NoError(t, err)
}

func queryNodes(c client.Client, id string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := c.QueryWorkflow(ctx, id, "", "nodes")
	if err != nil {
		return 0, err
	}
	var n int
	return n, v.Get(&n)
}

func TestTemporalRestartLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("embedded NATS and Temporal")
	}
	port, err := embedded.FreePort("127.0.0.1")
	require.NoError(t, err)
	tmp := startTemporal(t, embedded.TemporalOptions{GRPCPort: port, DatabaseFile: filepath.Join(t.TempDir(), "temporal.db")})
	nsrv := startNATS(t, embedded.NATSOptions{})
	t.Cleanup(nsrv.Stop)
	pub := newPublisher(t, nsrv.URL)
	starter := &TemporalStarter{Client: tmp.c, TaskQueue: testQueue}
	tr := runTrigger(t, Options{NATSURL: nsrv.URL, Starter: starter, CallTimeout: 2 * time.Second, MaxBackoff: 2 * time.Second})

	const n = 300
	id := workflows.AutoscaleWorkflowID("web", "uk")
	for i := range n / 3 {
		pub.event(t, loadEvent(i, "uk"))
	}
	waitFor(t, 30*time.Second, "first third signalled", func() bool { return tr.Stats().Signalled >= n/3 })

	tmp.srv.Stop()
	for i := n / 3; i < n; i++ {
		pub.event(t, loadEvent(i, "uk"))
	}
	waitFor(t, 30*time.Second, "retries while Temporal is down", func() bool { return tr.Stats().Retried > 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tmp.srv, err = embedded.StartTemporal(ctx, tmp.opts)
	require.NoError(t, err)

	waitFor(t, 90*time.Second, fmt.Sprintf("%d distinct nodes in the workflow", n), func() bool {
		got, err := queryNodes(tmp.c, id)
		return err == nil && got == n
	})
	t.Logf("stats after Temporal restart: %+v", tr.Stats())
}
