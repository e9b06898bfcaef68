package workflows

import (
	"fmt"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/microdc/mdc/activities/events"
)

var evA *events.Activities

// FailoverEventPayload is the payload of the outcome event FailoverSite
// publishes on mdc.events.failover.<status> (event type failover.<status>,
// envelope version events.SchemaVersion).
type FailoverEventPayload struct {
	WorkflowID  string   `json:"workflow_id"`
	RunID       string   `json:"run_id"`
	FailedSite  string   `json:"failed_site"`
	TargetSite  string   `json:"target_site"`
	Mode        string   `json:"mode"`
	Status      string   `json:"status"`
	Outcome     string   `json:"outcome"`
	RequestedBy string   `json:"requested_by,omitempty"`
	Reason      string   `json:"reason,omitempty"`
	RTOSeconds  float64  `json:"rto_seconds,omitempty"`
	RPOSeconds  *float64 `json:"rpo_seconds,omitempty"`
	Forced      []string `json:"forced,omitempty"`
	Unfenced    []string `json:"unfenced,omitempty"`
}

// finish closes the run whatever happened: pending main steps are skipped,
// then the final steps run (drill cleanup, planned rollback, record,
// publish) on a context that a cancellation of the workflow does not
// cancel, so a cancelled drill still cleans up.
func (f *failover) finish(ctx workflow.Context, err error) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	// The failed site's background fencing ends before the outcome is
	// recorded and published, so that they say what was fenced.
	f.awaitDeadSite(dctx)
	reason := "not reached"
	switch {
	case err != nil:
		f.end(StatusFailed, "failed: "+err.Error())
	case f.res.Status != StatusFailedOver && f.res.Status != StatusDrillPassed:
		reason = "not needed: the run ended " + f.res.Status
	}
	p := &f.res.Progress
	for i := range f.steps {
		if p.Steps[i].State == StepPending {
			p.Steps[i].State, p.Steps[i].Detail = StepSkipped, reason
		}
	}
	for j, s := range f.finals {
		i := len(f.steps) + j
		if s.name == "rollback" && !f.needsRollback() {
			p.Steps[i].State, p.Steps[i].Detail = StepSkipped, "not needed"
			continue
		}
		// A failing final step is recorded in its step; the run's outcome
		// stands (an unpublished event must not undo a failover).
		_ = p.run(dctx, i, func() (string, error) { return s.fn(dctx) })
	}
}

// needsRollback: a planned failover stopped after fencing and before the
// target was promoted, so the old site is fenced and nobody takes writes.
func (f *failover) needsRollback() bool {
	return f.in.Mode == ModePlanned && f.fenceStarted && !f.res.Database.Promoted &&
		(f.res.Status == StatusFailed || f.res.Status == StatusRefused)
}

// record computes RTO (from DetectedAt, when earlier, or the workflow's
// start, to verification) and sets the outcome search attributes.
func (f *failover) record(ctx workflow.Context) (string, error) {
	upd := []temporal.SearchAttributeUpdate{AttrOutcome.ValueSet(f.res.Status)}
	detail := "outcome " + f.res.Status
	if !f.res.Verified.IsZero() {
		from := workflow.GetInfo(ctx).WorkflowStartTime
		if !f.in.DetectedAt.IsZero() && f.in.DetectedAt.Before(from) {
			from = f.in.DetectedAt
		}
		f.res.RTOFrom, f.res.RTO = from, f.res.Verified.Sub(from)
		f.res.RTOSeconds = f.res.RTO.Seconds()
		upd = append(upd, AttrRTO.ValueSet(f.res.RTOSeconds))
		detail += fmt.Sprintf(", RTO %.3fs", f.res.RTOSeconds)
		if f.in.Mode == ModePlanned {
			f.res.Outage = f.res.Verified.Sub(f.fencedAt)
			detail += fmt.Sprintf(" (outage %.3fs)", f.res.Outage.Seconds())
		}
	}
	if f.res.Database.Promoted {
		upd = append(upd, AttrRPO.ValueSet(f.res.RPOSeconds))
		detail += fmt.Sprintf(", RPO %.3fs (%s)", f.res.RPOSeconds, f.res.Database.LagSource)
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, upd...); err != nil {
		return "", fmt.Errorf("set the outcome search attributes: %w", err)
	}
	return detail, nil
}

// publish sends the outcome event. Its ID is the run's, so a retried
// publish is a JetStream duplicate, not a second event.
func (f *failover) publish(ctx workflow.Context) (string, error) {
	info := workflow.GetInfo(ctx)
	subject := events.FailoverSubject(f.res.Status)
	payload := FailoverEventPayload{
		WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID,
		FailedSite: f.in.FailedSite, TargetSite: f.in.TargetSite, Mode: f.in.Mode, Status: f.res.Status, Outcome: f.res.Outcome,
		RequestedBy: f.in.RequestedBy, Reason: f.in.Reason, RTOSeconds: f.res.RTOSeconds,
		Forced: f.res.Forced, Unfenced: f.res.Fence.Unfenced,
	}
	if f.res.Database.Promoted {
		rpo := f.res.RPOSeconds
		payload.RPOSeconds = &rpo
	}
	// encoding/json of a struct without maps is deterministic; workflowcheck
	// flags it only for the encoder cache it keeps.
	//workflowcheck:ignore
	data, err := events.NewEvent(info.WorkflowExecution.ID+"/"+info.WorkflowExecution.RunID+"/outcome",
		"failover."+f.res.Status, f.in.FailedSite, workflow.Now(ctx), payload)
	if err != nil {
		f.res.EventError = err.Error()
		return "", err
	}
	var r events.PublishResult
	if err := workflow.ExecuteActivity(withSite(ctx, f.in.TargetSite), evA.Publish,
		events.PublishInput{Subject: subject, Data: data}).Get(ctx, &r); err != nil {
		f.res.EventError = err.Error()
		return "", fmt.Errorf("publish the outcome on %s: %w", subject, err)
	}
	f.res.EventSubject = subject
	return fmt.Sprintf("%s (stream %s, seq %d)", subject, r.Stream, r.Sequence), nil
}
