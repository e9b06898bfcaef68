package workflows_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/microdc/mdc/workers"
)

// TestReplayRecordedHistories replays every history recorded from real runs
// against the lab (see tests/record_test.go for how to regenerate them)
// through the same registration the worker uses: a change to a released
// workflow that is not behind workflow.GetVersion fails here.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "histories", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no recorded histories under testdata/histories")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			workers.RegisterWorkflows(r)
			fh, err := os.Open(f)
			require.NoError(t, err)
			defer fh.Close()
			h, err := client.HistoryFromJSON(fh, client.HistoryJSONOptions{})
			require.NoError(t, err)
			require.NotEmpty(t, h.Events)
			// Replay under the recorded workflow ID and run ID, as a worker
			// would: workflows may derive child IDs from their own ID
			// (Failback's "<id>/switch-back"), which the replayer's default
			// ID would change.
			started := h.Events[0].GetWorkflowExecutionStartedEventAttributes()
			require.NotNil(t, started, "the first event of %s is not WorkflowExecutionStarted", f)
			exec := workflow.Execution{ID: started.GetWorkflowId(), RunID: started.GetOriginalExecutionRunId()}
			require.NoError(t, r.ReplayWorkflowHistoryWithOptions(nil, h, worker.ReplayWorkflowHistoryOptions{OriginalExecution: exec}))
		})
	}
}
