// Package schedules keeps mdc's Temporal Schedules in line with the
// platform file: one ReplicateVM schedule per protected VM. The CLI and the
// dev stack call EnsureReplicationSchedules at start-up and after the file
// changes; running it again changes nothing.
package schedules

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/microdc/mdc/platform"
	"github.com/microdc/mdc/workflows"
)

// TaskQueue is the queue the scheduled workflows run on (workers.SharedQueue;
// this package does not import workers, which pulls in every activity).
const TaskQueue = "mdc"

// MinInterval is the shortest replication interval a schedule gets, however
// small the RPO: a copy of whole disks more often than this would never
// finish before the next one is due.
const MinInterval = 30 * time.Second

// Schedule outcomes of EnsureReplicationSchedules.
const (
	Created   = "created"
	Updated   = "updated"
	Unchanged = "unchanged"
)

// Change is what EnsureReplicationSchedules did to one schedule.
type Change struct {
	ID       string
	VM       string
	Site     string
	Interval time.Duration
	// Outcome is Created, Updated or Unchanged.
	Outcome string
}

// ReplicationScheduleID is the schedule of one protected VM,
// "replicate-<site>-<vm>"; the workflows it starts have IDs that begin
// with it (Temporal appends the scheduled time).
func ReplicationScheduleID(site, vm string) string { return "replicate-" + site + "-" + vm }

// ReplicationInterval is how often a VM with the given RPO is replicated:
// every RPO/2, so that one failed or slow run still leaves the newest
// replica within the RPO, and never more often than MinInterval.
func ReplicationInterval(rpo time.Duration) time.Duration {
	return max(rpo/2, MinInterval)
}

// EnsureReplicationSchedules creates the ReplicateVM schedule of every
// protected VM of the platform file, or updates it when its interval or
// input changed. Overlapping runs are skipped: a replication still copying
// when the next is due finishes first. Schedules of VMs no longer in the file
// are left alone (delete them with `temporal schedule delete`). It returns
// what it did to each schedule, in file order, and stops at the first
// schedule it cannot create or update.
func EnsureReplicationSchedules(ctx context.Context, c client.Client, p *platform.Platform) ([]Change, error) {
	var changes []Change
	for _, in := range workflows.NewReplicateVMInputs(p) {
		ch, err := ensure(ctx, c.ScheduleClient(), in)
		if err != nil {
			return changes, err
		}
		changes = append(changes, ch)
	}
	return changes, nil
}

func ensure(ctx context.Context, sc client.ScheduleClient, in workflows.ReplicateVMInput) (Change, error) {
	id := ReplicationScheduleID(in.Site, in.VM)
	ch := Change{ID: id, VM: in.VM, Site: in.Site, Interval: ReplicationInterval(in.RPO)}
	spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: ch.Interval}}}
	action := &client.ScheduleWorkflowAction{
		ID: id, Workflow: workflows.ReplicateVMName, Args: []any{in}, TaskQueue: TaskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(workflows.AttrSite.ValueSet(in.Site), workflows.AttrTarget.ValueSet(in.Target)),
	}
	_, err := sc.Create(ctx, client.ScheduleOptions{
		ID: id, Spec: spec, Action: action, Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		Note: fmt.Sprintf("mdc: replicate %s of site %s to %s every %s (RPO %s)", in.VM, in.Site, in.Target, ch.Interval, in.RPO),
	})
	if err == nil {
		ch.Outcome = Created
		return ch, nil
	}
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return ch, fmt.Errorf("create schedule %s: %w", id, err)
	}
	h := sc.GetHandle(ctx, id)
	desc, err := h.Describe(ctx)
	if err != nil {
		return ch, fmt.Errorf("read schedule %s: %w", id, err)
	}
	if current(desc, spec, in) {
		ch.Outcome = Unchanged
		return ch, nil
	}
	err = h.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(u client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
		s := u.Description.Schedule
		s.Spec, s.Action = &spec, action
		if s.Policy == nil {
			s.Policy = &client.SchedulePolicies{}
		}
		s.Policy.Overlap = enumspb.SCHEDULE_OVERLAP_POLICY_SKIP
		return &client.ScheduleUpdate{Schedule: &s}, nil
	}})
	if err != nil {
		return ch, fmt.Errorf("update schedule %s: %w", id, err)
	}
	ch.Outcome = Updated
	return ch, nil
}

// current reports whether the schedule already runs ReplicateVM with this
// input, interval and overlap policy.
func current(desc *client.ScheduleDescription, spec client.ScheduleSpec, in workflows.ReplicateVMInput) bool {
	s := desc.Schedule
	a, ok := s.Action.(*client.ScheduleWorkflowAction)
	if !ok || s.Spec == nil || s.Policy == nil || s.Policy.Overlap != enumspb.SCHEDULE_OVERLAP_POLICY_SKIP {
		return false
	}
	if a.Workflow != workflows.ReplicateVMName || a.TaskQueue != TaskQueue || len(a.Args) != 1 {
		return false
	}
	if len(s.Spec.Intervals) != 1 || s.Spec.Intervals[0].Every != spec.Intervals[0].Every || s.Spec.Intervals[0].Offset != 0 ||
		len(s.Spec.Calendars)+len(s.Spec.CronExpressions) > 0 {
		return false
	}
	p, ok := a.Args[0].(*commonpb.Payload)
	if !ok {
		return false
	}
	var got workflows.ReplicateVMInput
	if err := converter.GetDefaultDataConverter().FromPayload(p, &got); err != nil {
		return false
	}
	return reflect.DeepEqual(got, in)
}
