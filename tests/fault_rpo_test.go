package tests

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/microdc/mdc/workflows"
)

// A replica behind by more than the RPO: us stopped receiving from uk (its
// IO thread is stopped), uk took writes us never got, and then uk died. A
// disaster failover with uk's last GTID (as the monitor reports it) finds
// transactions missing that are older than the 2 s max RPO and refuses to
// promote, saying so in its result; us's database is left a read-only
// replica. Forced, the next run promotes and records the RPO it measured.
func TestFaultFailoverRefusesPromotionBeyondTheRPO(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the lab")
	}
	fs := startFaultStack(t, 161, false)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	p := fs.p
	uk := p.Sites[0]
	us := fs.rootDB("us")
	const maxRPO = 2 * time.Second

	_, err := us.ExecContext(ctx, "STOP SLAVE IO_THREAD")
	require.NoError(t, err)
	stopped := time.Now()
	for range 3 {
		code, body := foGet(t, "http://"+uk.LB.Frontend+"/db")
		require.Equal(t, http.StatusOK, code, body)
	}
	var ukGTID string
	require.NoError(t, fs.rootDB("uk").QueryRowContext(ctx, "SELECT @@global.gtid_binlog_pos").Scan(&ukGTID))
	// The missing writes must be older than the max RPO by the replica's
	// own clock: its SQL thread idles from the moment it applied the last
	// event it got.
	require.Eventually(t, func() bool { return time.Since(stopped) > maxRPO+time.Second }, 10*time.Second, 100*time.Millisecond)
	require.NoError(t, fs.lab.KillSite(ctx, "uk"))

	in, err := workflows.NewFailoverSiteInput(p, "uk", "us", workflows.ModeDisaster)
	require.NoError(t, err)
	in.Reason, in.RequestedBy, in.DBAppUser = "fault test: replica beyond the RPO", "fault_test", "mdc_app"
	in.PrimaryGTID, in.DetectedAt, in.Policy.MaxRPO = ukGTID, time.Now(), maxRPO
	in.Timeouts.Verify = time.Minute

	fx := fs.beginEffects()
	res := fs.runFailover(ctx, in)
	refusedFx := fx.end()
	recordHistory(t, fs.st.Client, workflows.FailoverWorkflowID(in), "failover_refused_rpo.json")
	t.Logf("refused: %s; database %+v%s", res.Outcome, res.Database, refusedFx)
	require.Equal(t, workflows.StatusRefused, res.Status, res.Outcome)
	require.True(t, res.Database.Refused, "the result says the promotion was refused")
	require.False(t, res.Database.Promoted)
	require.Greater(t, res.Database.LagSeconds, maxRPO.Seconds(), "the result carries the measured lag")
	require.Contains(t, res.Outcome, "exceeds the max RPO of 2s")
	require.Contains(t, res.Outcome, "rerun with Force")
	require.Empty(t, res.Forced)
	// Nothing was promoted: us is still a read-only replica of uk.
	require.Zero(t, refusedFx.DBStatements["us"]["RESET SLAVE ALL"]+refusedFx.DBStatements["us"]["SET GLOBAL read_only=OFF"], "%v", refusedFx.DBStatements["us"])
	var readOnly bool
	require.NoError(t, us.QueryRowContext(ctx, "SELECT @@global.read_only").Scan(&readOnly))
	require.True(t, readOnly)
	rows, err := us.QueryContext(ctx, "SHOW SLAVE STATUS")
	require.NoError(t, err)
	require.True(t, rows.Next(), "us still replicates from uk")
	require.NoError(t, rows.Close())

	in.Force = true
	fx = fs.beginEffects()
	res = fs.runFailover(ctx, in)
	forcedFx := fx.end()
	recordHistory(t, fs.st.Client, workflows.FailoverWorkflowID(in), "failover_forced_rpo.json")
	t.Logf("forced: %s; RPO %.3fs; forced %q%s", res.Outcome, res.RPOSeconds, res.Forced, forcedFx)
	require.Equal(t, workflows.StatusFailedOver, res.Status, res.Outcome)
	require.True(t, res.Database.Promoted)
	require.Greater(t, res.RPOSeconds, maxRPO.Seconds(), "the data loss accepted is recorded")
	require.Equal(t, res.Database.LagSeconds, res.RPOSeconds)
	require.Len(t, res.Forced, 1)
	require.Contains(t, res.Forced[0], fmt.Sprintf("RPO: promoted with replica lag %.3fs exceeds the max RPO of 2s", res.RPOSeconds))
	require.Equal(t, 1, forcedFx.DBStatements["us"]["RESET SLAVE ALL"], "%v", forcedFx.DBStatements["us"])
	require.NoError(t, us.QueryRowContext(ctx, "SELECT @@global.read_only").Scan(&readOnly))
	require.False(t, readOnly, "us is the primary")
	// The RPO is on the run for operators to find.
	require.Eventually(t, func() bool {
		r, err := fs.st.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: "WorkflowType = 'FailoverSite' AND MdcOutcome = 'failed-over' AND MdcRPOSeconds > 2",
		})
		return err == nil && len(r.Executions) == 1
	}, 20*time.Second, 200*time.Millisecond, "visibility has the forced run's RPO")
}

// runFailover runs FailoverSite to its end as the trigger would start it.
func (fs *faultStack) runFailover(ctx context.Context, in workflows.FailoverSiteInput) workflows.FailoverSiteResult {
	t := fs.t
	t.Helper()
	run, err := fs.st.Client.ExecuteWorkflow(ctx, workflows.FailoverStartOptions(in), workflows.FailoverSiteName, in)
	require.NoError(t, err)
	var res workflows.FailoverSiteResult
	require.NoError(t, run.Get(ctx, &res))
	return res
}
