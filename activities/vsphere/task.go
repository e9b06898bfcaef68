package vsphere

import (
	"context"
	"fmt"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"
	"go.temporal.io/sdk/activity"
)

// heartbeatEvery is how often a running vSphere task (or a long wait)
// heartbeats. Workflows give vSphere activities a heartbeat timeout of a few
// times this, so a worker that died mid-clone is noticed within a minute
// rather than at the end of a long start-to-close timeout.
var heartbeatEvery = 10 * time.Second // a var so tests can shorten it

// heartbeat records progress when running inside an activity; called
// directly (tests) it does nothing.
func heartbeat(ctx context.Context, progress string) {
	if activity.IsActivity(ctx) {
		activity.RecordHeartbeat(ctx, progress)
	}
}

// keepBeating heartbeats progress() now and every heartbeatEvery until the
// returned stop is called. Outside an activity it does nothing.
func keepBeating(ctx context.Context, progress func() string) (stop func()) {
	if !activity.IsActivity(ctx) {
		return func() {}
	}
	activity.RecordHeartbeat(ctx, progress())
	done := make(chan struct{})
	finished := make(chan struct{})
	every := heartbeatEvery
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx, progress())
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// runTask starts a vSphere task with start and waits for its result,
// heartbeating while it runs. what describes the task in heartbeats.
func runTask(ctx context.Context, what string, start func(context.Context) (*object.Task, error)) (types.AnyType, error) {
	began := time.Now()
	stop := keepBeating(ctx, func() string {
		return fmt.Sprintf("%s: running for %s", what, time.Since(began).Round(time.Second))
	})
	defer stop()
	task, err := start(ctx)
	if err != nil {
		return nil, err
	}
	// WaitForResult, unlike WaitForResultEx, uses its own property collector:
	// the session is shared by concurrent activities.
	info, err := task.WaitForResult(ctx)
	if err != nil {
		return nil, err
	}
	return info.Result, nil
}
