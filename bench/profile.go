package bench

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
)

// historyProfile reads a workflow's history and says where its time went:
// per activity type, how many ran, their mean wait in the task queue
// (scheduled to started) and mean run time (started to completed); and the
// workflow tasks' count and mean time (scheduled to completed), which is
// the workflow worker's share. It is how the bench explains a figure that
// misses its target.
func historyProfile(ctx context.Context, c client.Client, workflowID string) (string, error) {
	type acc struct {
		n           int
		queue, exec time.Duration
	}
	acts := map[string]*acc{}
	scheduled := map[int64]time.Time{}
	started := map[int64]time.Time{}
	actType := map[int64]string{}
	var wfTasks int
	var wfTaskTime time.Duration
	var first, lastT time.Time
	it := c.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return "", err
		}
		t := ev.GetEventTime().AsTime()
		if first.IsZero() {
			first = t
		}
		lastT = t
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			scheduled[ev.GetEventId()] = t
			if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
				actType[ev.GetEventId()] = a.GetActivityType().GetName()
			}
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			a := ev.GetWorkflowTaskCompletedEventAttributes()
			wfTasks++
			wfTaskTime += t.Sub(scheduled[a.GetScheduledEventId()])
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
			started[ev.GetActivityTaskStartedEventAttributes().GetScheduledEventId()] = t
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			id := ev.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()
			name := actType[id]
			if acts[name] == nil {
				acts[name] = &acc{}
			}
			a := acts[name]
			a.n++
			a.queue += started[id].Sub(scheduled[id])
			a.exec += t.Sub(started[id])
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s of history; %d workflow tasks, mean %s from scheduled to completed",
		workflowID, lastT.Sub(first).Round(time.Millisecond), wfTasks, mean(wfTaskTime, wfTasks))
	names := make([]string, 0, len(acts))
	for n := range acts {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		a := acts[n]
		fmt.Fprintf(&b, "; %s x%d: queue %s, run %s", n, a.n, mean(a.queue, a.n), mean(a.exec, a.n))
	}
	return b.String(), nil
}

func mean(d time.Duration, n int) time.Duration {
	if n == 0 {
		return 0
	}
	return (d / time.Duration(n)).Round(time.Millisecond)
}
