package tests

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/microdc/mdc/devstack"
	"github.com/microdc/mdc/embedded"
	"github.com/microdc/mdc/events"
	"github.com/microdc/mdc/lab"
	"github.com/microdc/mdc/triggers"
	"github.com/microdc/mdc/workflows"
)

// trigStack is `mdc dev` with its own trigger and no monitors: the tests
// publish what monitors would, under observer names of their own.
type trigStack struct {
	st       *devstack.Stack
	dir      string
	natsPort int
	js       jetstream.JetStream
	ids      atomic.Int64
	sent     atomic.Int64 // events published that the trigger does not ignore
}

// trigOptions are the dev stack options of a lab at 127.base/127.(base+1)
// on free ports.
func trigOptions(t *testing.T, base int) devstack.Options {
	t.Helper()
	ports := make([]int, 2)
	for i := range ports {
		p, err := embedded.FreePort("127.0.0.1")
		require.NoError(t, err)
		ports[i] = p
	}
	plan := lab.DefaultPlan()
	plan.Base = base
	dir := t.TempDir()
	return devstack.Options{
		StateDir: dir, GRPCPort: ports[0], UIPort: 0, NATSPort: ports[1], Namespace: "default", Lab: true,
		Logger:     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		LabOptions: lab.Options{Dir: dir + "/lab", Sites: []string{"uk", "us"}, Plan: plan, Zone: "mdc.test.", InitialWeb: 2},
	}
}

// startTrigStack starts the stack with o and checks its trigger runs.
func startTrigStack(t *testing.T, o devstack.Options) *trigStack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st, err := devstack.Start(ctx, o)
	require.NoError(t, err)
	t.Cleanup(st.Stop)
	_, running := st.TriggerStats()
	require.True(t, running, "mdc dev runs a trigger by default")
	nc, err := nats.Connect(st.NATS.URL, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return &trigStack{st: st, dir: o.StateDir, natsPort: o.NATSPort, js: js}
}

// send publishes ev, retrying for up to patience; it does not fail the
// test, so goroutines that play a monitor may call it.
func (ts *trigStack) send(ev events.Event, patience time.Duration) error {
	deadline := time.Now().Add(patience)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := events.Publish(ctx, ts.js, ev)
		cancel()
		if err == nil {
			ts.sent.Add(1)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("publish %s: %w", ev.ID, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// vote publishes observer's site.down (down) or site.up about site, now.
func (ts *trigStack) vote(t *testing.T, down bool, site, observer string, since time.Time, gtid string) {
	t.Helper()
	require.NoError(t, ts.send(ts.voteEvent(down, site, observer, since, gtid), 30*time.Second))
}

// voteEvent is observer's site.down (down) or site.up about site, observed
// now; a down vote says the outage began at since.
func (ts *trigStack) voteEvent(down bool, site, observer string, since time.Time, gtid string) events.Event {
	ev := events.Event{Version: events.Version, ID: fmt.Sprintf("e2e-%d", ts.ids.Add(1)), Type: events.TypeSiteUp,
		Site: site, Observer: observer, ObservedAt: time.Now().UTC()}
	if down {
		since = since.UTC()
		pl, _ := events.NewPayload(events.SitePayload{Since: &since, PrimaryGTID: gtid})
		ev.Type, ev.Payload = events.TypeSiteDown, pl
	}
	return ev
}

// stats are the stack trigger's counters.
func (ts *trigStack) stats() triggers.Stats {
	s, _ := ts.st.TriggerStats()
	return s
}

// drained waits until the trigger has handled every event sent (the
// workflows' own events it ignores are not counted).
func (ts *trigStack) drained(t *testing.T) triggers.Stats {
	t.Helper()
	require.Eventually(t, func() bool {
		s := ts.stats()
		return s.Processed-s.Ignored >= ts.sent.Load()
	}, time.Minute, 20*time.Millisecond, "the trigger handles %d events: %+v", ts.sent.Load(), ts.stats())
	return ts.stats()
}

// workflowExists reports whether a workflow with this ID was ever started.
func (ts *trigStack) workflowExists(t *testing.T, id string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := ts.st.Client.DescribeWorkflowExecution(ctx, id, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return false
	}
	require.NoError(t, err)
	return true
}

// executions counts the runs visibility lists for query.
func (ts *trigStack) executions(t *testing.T, query string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := ts.st.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query})
	require.NoError(t, err)
	return len(resp.Executions)
}

// startInput reads the input a workflow run was started with.
func (ts *trigStack) startInput(t *testing.T, id string, into any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	it := ts.st.Client.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	first, err := it.Next()
	require.NoError(t, err)
	attrs := first.GetWorkflowExecutionStartedEventAttributes()
	require.NotNil(t, attrs)
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(attrs.GetInput(), into))
}

// failoverResult waits for a FailoverSite run to end and returns its result.
func (ts *trigStack) failoverResult(t *testing.T, id string) workflows.FailoverSiteResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var res workflows.FailoverSiteResult
	require.NoError(t, ts.st.Client.GetWorkflow(ctx, id, "").Get(ctx, &res))
	return res
}

// restartNATS stops the stack's NATS and starts it again on the same port
// and JetStream store, as an operator restarting it would.
func (ts *trigStack) restartNATS(t *testing.T) {
	t.Helper()
	ts.st.NATS.Stop()
	time.Sleep(300 * time.Millisecond) // let the clients notice the outage
	srv, err := embedded.StartNATS(embedded.NATSOptions{IP: "127.0.0.1", Port: ts.natsPort, StoreDir: filepath.Join(ts.dir, "jetstream")})
	require.NoError(t, err)
	ts.st.NATS = srv // Stop stops this one
}
