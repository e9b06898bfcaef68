package tests

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"
)

// RecordEnv names the directory where the integration tests save the
// histories of the workflows they ran, for the replay tests in workflows/.
// Regenerate every recorded history with:
//
//	MDC_RECORD_HISTORIES=$PWD/workflows/testdata/histories go test ./tests/ -count=1
//
// Unset (CI), nothing is written.
const RecordEnv = "MDC_RECORD_HISTORIES"

// recordHistory saves workflowID's full history as name (JSON, the format
// of `temporal workflow show --output json`) when RecordEnv is set.
func recordHistory(t *testing.T, c client.Client, workflowID, name string) {
	t.Helper()
	dir := os.Getenv(RecordEnv)
	if dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	it := c.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		h.Events = append(h.Events, ev)
	}
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(h)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
	t.Logf("recorded %d events of %s to %s", len(h.Events), workflowID, filepath.Join(dir, name))
}
