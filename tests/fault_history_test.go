package tests

import (
	"context"
	"errors"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"
)

// historyEvents reads a workflow run's whole history.
func historyEvents(ctx context.Context, c client.Client, id, run string) ([]*historypb.HistoryEvent, error) {
	it := c.GetWorkflowHistory(ctx, id, run, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var evs []*historypb.HistoryEvent
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return nil, err
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

// historyJSON is a run's history in the format of `temporal workflow show
// --output json` (what recordHistory writes).
func historyJSON(ctx context.Context, c client.Client, id, run string) ([]byte, error) {
	evs, err := historyEvents(ctx, c, id, run)
	if err != nil {
		return nil, err
	}
	return protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(&historypb.History{Events: evs})
}

// historyHit is the event a watch was waiting for.
type historyHit struct {
	WorkflowID string
	Event      *historypb.HistoryEvent
}

// historyMatch says whether ev, in workflow id (child: started by the
// watched workflow), is the point a test waits for.
type historyMatch func(id string, child bool, ev *historypb.HistoryEvent) bool

// watchHistory follows id's history as it is written (a long poll, so the
// hit comes milliseconds after the event is stored) and, as they start,
// the histories of its child workflows; the first event match accepts is
// sent on the returned channel. The watch ends with ctx or when the
// workflows close.
func watchHistory(ctx context.Context, c client.Client, id string, match historyMatch) <-chan historyHit {
	hits := make(chan historyHit, 1)
	var once sync.Once
	var follow func(id string, child bool)
	follow = func(id string, child bool) {
		var seen int64
		for ctx.Err() == nil {
			it := c.GetWorkflowHistory(ctx, id, "", true, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
			for it.HasNext() {
				ev, err := it.Next()
				if err != nil {
					var nf *serviceerror.NotFound
					if !errors.As(err, &nf) {
						return
					}
					// Asked before the workflow exists (a child is followed
					// from its initiation): ask again.
					time.Sleep(20 * time.Millisecond)
					break
				}
				if ev.GetEventId() <= seen {
					continue
				}
				seen = ev.GetEventId()
				if match(id, child, ev) {
					once.Do(func() { hits <- historyHit{id, ev} })
				}
				if a := ev.GetStartChildWorkflowExecutionInitiatedEventAttributes(); a != nil {
					go follow(a.GetWorkflowId(), true)
				}
			}
			if seen > 0 {
				return // the iterator ends when the workflow closes
			}
		}
	}
	go follow(id, false)
	return hits
}

// activityScheduled matches the scheduling of activity typ, in the watched
// workflow (child false) or in a child workflow (child true).
func activityScheduled(typ string, child bool) historyMatch {
	return func(_ string, isChild bool, ev *historypb.HistoryEvent) bool {
		a := ev.GetActivityTaskScheduledEventAttributes()
		return isChild == child && a != nil && a.GetActivityType().GetName() == typ
	}
}

// activityAttempts is how many attempts the activity scheduled as event
// scheduledID took and how the attempt before the last one ended (its
// ActivityTaskStarted event records both): a worker killed while it ran
// the activity leaves that attempt to time out before the next one.
func activityAttempts(evs []*historypb.HistoryEvent, scheduledID int64) (attempts int32, lastFailure string) {
	for _, ev := range evs {
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil && a.GetScheduledEventId() == scheduledID {
			attempts, lastFailure = a.GetAttempt(), a.GetLastFailure().GetMessage()
		}
	}
	return attempts, lastFailure
}
