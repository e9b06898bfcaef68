package triggers

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/microdc/mdc/platform"
	"github.com/microdc/mdc/workflows"
)

// FailoverWorkflowID is the ID of the one FailoverSite workflow of a failed
// site: "failover-<site>" (workflows.FailoverWorkflowID for disaster mode).
func FailoverWorkflowID(site string) string { return "failover-" + site }

// FailoverRequest is what the quorum decided: fail FailedSite over.
type FailoverRequest struct {
	FailedSite string
	// TargetSite is where its services go (platform.FailoverTarget).
	TargetSite string
	// DetectedAt is the earliest outage start among the quorum's votes.
	DetectedAt time.Time
	// PrimaryGTID is the freshest primary_gtid among the quorum's votes.
	PrimaryGTID string
	// Serving is the most nodes per service the quorum's votes say the
	// failed site served (Tally.Serving).
	Serving map[string]int
	// Observers are the observers whose down votes made the quorum.
	Observers []string
	Quorum    int
}

// StartResult says what a start did.
type StartResult struct {
	// Started is true when this call created a new run.
	Started bool
	RunID   string
	// Reason says why no run was started: the running run was joined, or a
	// run that failed the site over within the block period absorbed it.
	Reason string
}

// Starter performs the rules' Temporal actions. TemporalStarter is the real
// one; tests substitute a fake.
type Starter interface {
	// StartFailover starts FailoverSite for the request's site, or joins
	// (or folds into) the one that already covers it.
	StartFailover(ctx context.Context, p *platform.Platform, req FailoverRequest) (StartResult, error)
	// SignalLoad signals-with-start the Autoscale workflow of service at site.
	SignalLoad(ctx context.Context, p *platform.Platform, site, service string, s workflows.LoadSample) error
}

// PermanentError marks a failure no retry fixes (bad input for the
// workflow): the trigger dead-letters the event instead of retrying it.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a PermanentError.
func Permanent(err error) error { return &PermanentError{Err: err} }

// TemporalStarter starts and signals workflows through a Temporal client.
type TemporalStarter struct {
	Client client.Client
	// TaskQueue the workflows run on (workers.SharedQueue in production).
	TaskQueue string
	// FailoverInput builds FailoverSite's input; DisasterFailoverInput when nil.
	FailoverInput func(p *platform.Platform, req FailoverRequest) (workflows.FailoverSiteInput, error)
}

// StartFailover starts FailoverSite with ID failover-<site> unless a run
// already covers the outage: a running run is joined, and a run that
// closed having failed the site over less than failover.block_period ago
// absorbs it (the workflow's anti-flapping step would refuse a new run
// anyway; not starting one keeps a flapping site to one FailoverSite). A
// run that ended without failing over (site reachable, refused, failed)
// does not block: the new quorum is a new question. The start itself uses
// workflows.FailoverStartOptions (USE_EXISTING, ALLOW_DUPLICATE and the
// search attributes the anti-flapping step looks for), so two triggers
// racing still make one run.
func (s *TemporalStarter) StartFailover(ctx context.Context, p *platform.Platform, req FailoverRequest) (StartResult, error) {
	build := s.FailoverInput
	if build == nil {
		build = DisasterFailoverInput
	}
	in, err := build(p, req)
	if err != nil {
		return StartResult{}, Permanent(fmt.Errorf("build FailoverSite input for site %s: %w", req.FailedSite, err))
	}
	opts := workflows.FailoverStartOptions(in)
	if res, covered, err := s.covering(ctx, p, opts.ID); err != nil || covered {
		return res, err
	}
	opts.TaskQueue = s.TaskQueue
	run, err := s.Client.ExecuteWorkflow(ctx, opts, workflows.FailoverSiteName, in)
	if err != nil {
		return StartResult{}, classify(fmt.Errorf("start %s %s on task queue %s: %w", workflows.FailoverSiteName, opts.ID, s.TaskQueue, err))
	}
	return StartResult{Started: true, RunID: run.GetRunID()}, nil
}

// covering looks at the latest run of id: running, or failed over within
// the block period, covers a new request.
func (s *TemporalStarter) covering(ctx context.Context, p *platform.Platform, id string) (StartResult, bool, error) {
	d, err := s.Client.DescribeWorkflowExecution(ctx, id, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return StartResult{}, false, nil
	}
	if err != nil {
		return StartResult{}, false, classify(fmt.Errorf("describe %s: %w", id, err))
	}
	info := d.GetWorkflowExecutionInfo()
	run := info.GetExecution().GetRunId()
	if info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return StartResult{RunID: run, Reason: "joined the running " + id}, true, nil
	}
	var outcome string
	if pl := info.GetSearchAttributes().GetIndexedFields()[workflows.AttrOutcome.GetName()]; pl != nil {
		_ = converter.GetDefaultDataConverter().FromPayload(pl, &outcome)
	}
	closed := info.GetCloseTime().AsTime()
	if outcome == workflows.StatusFailedOver && time.Since(closed) < p.Failover.BlockPeriod.Duration {
		return StartResult{RunID: run, Reason: fmt.Sprintf("%s failed the site over %s ago, within the block period of %s",
			id, time.Since(closed).Round(time.Second), p.Failover.BlockPeriod)}, true, nil
	}
	return StartResult{}, false, nil
}

// SignalLoad runs SignalWithStartWorkflow on AutoscaleWorkflowID(service,
// site) with LoadSignal; the start input comes from NewAutoscaleInput.
func (s *TemporalStarter) SignalLoad(ctx context.Context, p *platform.Platform, site, service string, sample workflows.LoadSample) error {
	in, err := workflows.NewAutoscaleInput(p, site, service)
	if err != nil {
		return Permanent(fmt.Errorf("build Autoscale input: %w", err))
	}
	id := workflows.AutoscaleWorkflowID(service, site)
	_, err = s.Client.SignalWithStartWorkflow(ctx, id, workflows.LoadSignal, sample, client.StartWorkflowOptions{
		ID: id, TaskQueue: s.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}, workflows.AutoscaleName, in)
	if err != nil {
		return classify(fmt.Errorf("signal-with-start %s %s: %w", workflows.AutoscaleName, id, err))
	}
	return nil
}

// classify marks Temporal's rejections of the request itself as permanent;
// everything else (unavailable, deadline, resource exhausted) is retried.
func classify(err error) error {
	var invalid *serviceerror.InvalidArgument
	if errors.As(err, &invalid) {
		return Permanent(err)
	}
	return err
}
