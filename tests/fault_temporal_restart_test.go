package tests

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/embedded"
	"github.com/microdc/mdc/workflows"
)

// The embedded Temporal server (SQLite in a file) stops in the middle of a
// planned failover, while a clone runs at us, and starts again on the same
// file and port a few seconds later. The workers (mdc worker processes)
// reconnect, the failover completes, and every change happened once.
func TestFaultTemporalRestartedMidFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the lab and mdc worker processes")
	}
	fs := startFaultStack(t, 163, true)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	in, ukOn := fs.prepPlannedFailover(ctx, "Temporal restarted")
	id := workflows.FailoverWorkflowID(in)

	fx := fs.beginEffects()
	watchCtx, stopWatch := context.WithCancel(ctx)
	hits := watchHistory(watchCtx, fs.st.Client, id, activityScheduled("CloneVM", false))
	t0 := time.Now()
	run, err := fs.st.Client.ExecuteWorkflow(ctx, workflows.FailoverStartOptions(in), workflows.FailoverSiteName, in)
	require.NoError(t, err)
	select {
	case <-hits:
	case <-time.After(4 * time.Minute):
		t.Fatal("the run never reached the capacity step")
	}
	stopWatch()

	old := fs.st.Temporal
	host, port, err := net.SplitHostPort(old.Address)
	require.NoError(t, err)
	grpc, err := strconv.Atoi(port)
	require.NoError(t, err)
	stoppedAt := time.Since(t0)
	old.Stop()
	// Down long enough for the clone to finish while nobody can take its
	// result, and for every worker poll to fail.
	time.Sleep(3 * time.Second)
	restart := time.Now()
	fs.st.Temporal, err = embedded.StartTemporal(ctx, embedded.TemporalOptions{
		IP: host, GRPCPort: grpc, Namespace: "default", DatabaseFile: filepath.Join(fs.dir, "temporal.db"),
		SearchAttributes: workflows.SearchAttributes(), Logger: fs.logger,
	})
	require.NoError(t, err, "Temporal starts again on its SQLite file")
	t.Logf("Temporal stopped %s into the failover, down 3s, up again in %s", stoppedAt.Round(time.Millisecond), time.Since(restart).Round(time.Millisecond))

	var res workflows.FailoverSiteResult
	require.NoError(t, run.Get(ctx, &res), "the failover completes after Temporal's restart")
	fx1 := fx.end()
	t.Logf("run ended %s in %s%s", res.Status, time.Since(t0).Round(time.Millisecond), fx1)
	require.Equal(t, workflows.StatusFailedOver, res.Status, res.Outcome)
	require.True(t, res.Database.Promoted)
	require.Equal(t, []string{"us-web-3"}, res.Capacity[0].Cloned)
	requireOnce(t, fx1, ukOn)
}
