package triggers

import (
	"context"
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
	"github.com/microdc/mdc/platform"
	"github.com/microdc/mdc/workflows"
)

const testQueue = "mdc-trigger-test"

// fakeFailover stands in for FailoverSite: it runs until signalled "stop".
func fakeFailover(ctx workflow.Context, _ map[string]any) error {
	workflow.GetSignalChannel(ctx, "stop").Receive(ctx, nil)
	return nil
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

func testFailoverInput(_ *platform.Platform, failed string) (any, error) {
	return map[string]any{"FailedSite": failed}, nil
}

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
	starter := &TemporalStarter{Client: tmp.c, TaskQueue: testQueue, FailoverInput: testFailoverInput}
	tr := runTrigger(t, Options{NATSURL: nsrv.URL, Starter: starter})

	const n = 1000
	for i := range n {
		// Every observer re-reports the outage: distinct event IDs, one site.
		pub.event(t, siteDown(fmt.Sprintf("down-uk-%d", i), "uk"))
	}
	waitFor(t, 60*time.Second, "1000 processed", func() bool { return tr.Stats().Processed == n })
	s := tr.Stats()
	require.EqualValues(t, 1, s.Started, "%+v", s)
	require.EqualValues(t, n-1, s.Deduplicated, "%+v", s)
	require.Zero(t, s.Rejected)
	waitFor(t, 10*time.Second, "visibility shows the run", func() bool { return countExecutions(t, tmp.c, "failover-uk") >= 1 })
	require.Equal(t, 1, countExecutions(t, tmp.c, "failover-uk"))

	// The trigger keeps running: the next site's outage starts its own failover.
	pub.event(t, siteDown("down-us-1", "us"))
	waitFor(t, 20*time.Second, "failover-us", func() bool { return tr.Stats().Started == 2 })
	_, err := tmp.c.DescribeWorkflowExecution(context.Background(), "failover-us", "")
	require.NoError(t, err)
}

func TestUnwiredFailoverInputDeadLetters(t *testing.T) {
	if testing.Short() {
		t.Skip("embedded NATS")
	}
	nsrv := startNATS(t, embedded.NATSOptions{})
	t.Cleanup(nsrv.Stop)
	pub := newPublisher(t, nsrv.URL)
	tr := runTrigger(t, Options{NATSURL: nsrv.URL, Starter: &TemporalStarter{TaskQueue: testQueue}})
	pub.event(t, siteDown("d1", "uk"))
	waitFor(t, 10*time.Second, "rejected", func() bool { return tr.Stats().Rejected == 1 })
	dl := deadLetters(t, pub.js)
	require.Len(t, dl, 1)
	require.Contains(t, dl[0].Header.Get("Mdc-Reject-Reason"), "FailoverSite input builder not wired")
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
