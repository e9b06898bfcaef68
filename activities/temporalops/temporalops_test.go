package temporalops

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/microdc/mdc/apperrors"
	"github.com/microdc/mdc/embedded"
)

var (
	attrSite    = temporal.NewSearchAttributeKeyKeyword("MdcSite")
	attrOutcome = temporal.NewSearchAttributeKeyKeyword("MdcOutcome")
	attrRTO     = temporal.NewSearchAttributeKeyFloat64("MdcRTOSeconds")
)

// recordWorkflow upserts an outcome and RTO, then waits for a signal when
// asked to, so the test has open and closed runs.
func recordWorkflow(ctx workflow.Context, outcome string, rto float64, wait bool) error {
	if err := workflow.UpsertTypedSearchAttributes(ctx, attrOutcome.ValueSet(outcome), attrRTO.ValueSet(rto)); err != nil {
		return err
	}
	if wait {
		workflow.GetSignalChannel(ctx, "done").Receive(ctx, nil)
	}
	return nil
}

func TestListWorkflowsFindsRecentRunsWithTheirAttributes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := embedded.StartTemporal(ctx, embedded.TemporalOptions{
		DatabaseFile: t.TempDir() + "/temporal.db",
		SearchAttributes: map[string]enumspb.IndexedValueType{
			"MdcSite": enumspb.INDEXED_VALUE_TYPE_KEYWORD, "MdcOutcome": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
			"MdcRTOSeconds": enumspb.INDEXED_VALUE_TYPE_DOUBLE,
		},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	c, err := client.Dial(client.Options{HostPort: srv.Address})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	w := worker.New(c, "q", worker.Options{})
	w.RegisterWorkflowWithOptions(recordWorkflow, workflow.RegisterOptions{Name: "Record"})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	start := func(id, site, outcome string, wait bool) client.WorkflowRun {
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: id, TaskQueue: "q", TypedSearchAttributes: temporal.NewSearchAttributes(attrSite.ValueSet(site)),
		}, "Record", outcome, 12.5, wait)
		require.NoError(t, err)
		return run
	}
	require.NoError(t, start("closed-uk", "uk", "failed-over", false).Get(ctx, nil))
	require.NoError(t, start("closed-us", "us", "failed-over", false).Get(ctx, nil))
	open := start("open-uk", "uk", "running", true)
	t.Cleanup(func() { _ = c.SignalWorkflow(context.Background(), "open-uk", "", "done", nil) })

	a := New(c)
	since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	query := "WorkflowType = 'Record' AND MdcSite = 'uk' AND (ExecutionStatus = 'Running' OR CloseTime >= '" + since + "')"
	var res ListWorkflowsResult
	// Visibility is written asynchronously: poll until both uk runs show.
	require.Eventually(t, func() bool {
		res, err = a.ListWorkflows(ctx, ListWorkflowsInput{Query: query})
		require.NoError(t, err)
		return len(res.Executions) == 2 && res.Executions[0].Attributes["MdcOutcome"] == "running"
	}, 20*time.Second, 200*time.Millisecond, "got %+v", res)
	byID := map[string]Execution{}
	for _, e := range res.Executions {
		byID[e.WorkflowID] = e
	}
	require.Equal(t, "Running", byID["open-uk"].Status)
	require.Equal(t, open.GetRunID(), byID["open-uk"].RunID)
	require.True(t, byID["open-uk"].CloseTime.IsZero())
	closed := byID["closed-uk"]
	require.Equal(t, "Completed", closed.Status)
	require.Equal(t, "Record", closed.Type)
	require.False(t, closed.CloseTime.IsZero())
	require.Equal(t, map[string]string{"MdcSite": "uk", "MdcOutcome": "failed-over", "MdcRTOSeconds": "12.5"}, closed.Attributes)

	res, err = a.ListWorkflows(ctx, ListWorkflowsInput{Query: "WorkflowType = 'Record'", Limit: 1})
	require.NoError(t, err)
	require.Len(t, res.Executions, 1)
	require.True(t, res.Truncated)

	_, err = a.ListWorkflows(ctx, ListWorkflowsInput{Query: "NoSuchAttribute = 'x'"})
	require.Error(t, err)
	require.Equal(t, apperrors.TypeBadInput, apperrors.TypeOf(err), "%v", err)
	_, err = a.ListWorkflows(ctx, ListWorkflowsInput{})
	require.Equal(t, apperrors.TypeBadInput, apperrors.TypeOf(err))
}
