package schedules

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/microdc/mdc/embedded"
	"github.com/microdc/mdc/platform"
	"github.com/microdc/mdc/workflows"
)

func TestReplicationIntervalIsHalfTheRPOAndNeverTooShort(t *testing.T) {
	require.Equal(t, 7*time.Minute+30*time.Second, ReplicationInterval(15*time.Minute))
	require.Equal(t, 30*time.Minute, ReplicationInterval(time.Hour))
	require.Equal(t, MinInterval, ReplicationInterval(20*time.Second))
	require.Equal(t, "replicate-uk-uk-db-1", ReplicationScheduleID("uk", "uk-db-1"))
}

func startTemporal(t *testing.T) client.Client {
	t.Helper()
	if testing.Short() {
		t.Skip("starts an embedded Temporal server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := embedded.StartTemporal(ctx, embedded.TemporalOptions{
		DatabaseFile: t.TempDir() + "/temporal.db", Namespace: "default", SearchAttributes: workflows.SearchAttributes(),
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	c, err := client.Dial(client.Options{HostPort: srv.Address})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

func protected(t *testing.T, rpo time.Duration) *platform.Platform {
	t.Helper()
	p, err := platform.Parse("example.yaml", platform.Example)
	require.NoError(t, err)
	p.Replication = []platform.ProtectedVM{
		{VM: "uk-db-1", Site: "uk", Target: "us", RPO: platform.Duration{Duration: rpo}, Keep: 3},
		{VM: "web-template", Site: "uk", Target: "us", RPO: platform.Duration{Duration: time.Hour}, Keep: 2},
	}
	return p
}

// scheduled reads back the schedule's interval, overlap policy and input.
func scheduled(t *testing.T, c client.Client, id string) (time.Duration, enumspb.ScheduleOverlapPolicy, workflows.ReplicateVMInput) {
	t.Helper()
	desc, err := c.ScheduleClient().GetHandle(context.Background(), id).Describe(context.Background())
	require.NoError(t, err)
	a, ok := desc.Schedule.Action.(*client.ScheduleWorkflowAction)
	require.True(t, ok)
	require.Equal(t, workflows.ReplicateVMName, a.Workflow)
	require.Equal(t, TaskQueue, a.TaskQueue)
	require.Len(t, a.Args, 1)
	var in workflows.ReplicateVMInput
	require.NoError(t, converter.GetDefaultDataConverter().FromPayload(a.Args[0].(*commonpb.Payload), &in))
	require.Len(t, desc.Schedule.Spec.Intervals, 1)
	return desc.Schedule.Spec.Intervals[0].Every, desc.Schedule.Policy.Overlap, in
}

func TestEnsureReplicationSchedulesCreatesUpdatesAndLeavesAlone(t *testing.T) {
	c := startTemporal(t)
	ctx := context.Background()

	changes, err := EnsureReplicationSchedules(ctx, c, protected(t, 15*time.Minute))
	require.NoError(t, err)
	require.Equal(t, []Change{
		{ID: "replicate-uk-uk-db-1", VM: "uk-db-1", Site: "uk", Interval: 7*time.Minute + 30*time.Second, Outcome: Created},
		{ID: "replicate-uk-web-template", VM: "web-template", Site: "uk", Interval: 30 * time.Minute, Outcome: Created},
	}, changes)
	every, overlap, in := scheduled(t, c, "replicate-uk-uk-db-1")
	require.Equal(t, 7*time.Minute+30*time.Second, every)
	require.Equal(t, enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, overlap)
	require.Equal(t, workflows.ReplicateVMInput{VM: "uk-db-1", Site: "uk", Target: "us", RPO: 15 * time.Minute, Keep: 3}, in)

	changes, err = EnsureReplicationSchedules(ctx, c, protected(t, 15*time.Minute))
	require.NoError(t, err)
	for _, ch := range changes {
		require.Equal(t, Unchanged, ch.Outcome, ch.ID)
	}

	changes, err = EnsureReplicationSchedules(ctx, c, protected(t, 10*time.Minute))
	require.NoError(t, err)
	require.Equal(t, Updated, changes[0].Outcome)
	require.Equal(t, Unchanged, changes[1].Outcome)
	every, overlap, in = scheduled(t, c, "replicate-uk-uk-db-1")
	require.Equal(t, 5*time.Minute, every)
	require.Equal(t, enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, overlap)
	require.Equal(t, 10*time.Minute, in.RPO)
}
