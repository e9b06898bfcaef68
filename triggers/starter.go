package triggers

import (
	"context"
	"errors"
	"fmt"
	"sync"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/microdc/mdc/platform"
	"github.com/microdc/mdc/workflows"
)

// FailoverWorkflowID is the ID of the one FailoverSite workflow of a failed
// site: "failover-<site>".
func FailoverWorkflowID(site string) string { return "failover-" + site }

// Starter performs the rules' Temporal actions. TemporalStarter is the real
// one; tests substitute a fake.
type Starter interface {
	// StartFailover starts FailoverSite for failedSite, or joins the running
	// one (started=false).
	StartFailover(ctx context.Context, p *platform.Platform, failedSite string) (started bool, err error)
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

// ErrFailoverInputNotWired is returned by StartFailover when the wiring gave
// no FailoverInput builder.
var ErrFailoverInputNotWired = errors.New("FailoverSite input builder not wired: set triggers.TemporalStarter.FailoverInput")

// TemporalStarter starts and signals workflows through a Temporal client.
type TemporalStarter struct {
	Client client.Client
	// TaskQueue the workflows run on (workers.SharedQueue in production).
	TaskQueue string
	// FailoverInput builds FailoverSite's input for a failed site; the
	// wiring provides it so this package does not depend on the input type.
	FailoverInput func(p *platform.Platform, failedSite string) (any, error)

	mu   sync.Mutex
	runs map[string]string // workflow ID -> run ID this trigger last saw
}

// StartFailover runs ExecuteWorkflow("FailoverSite") with ID
// failover-<site> and WorkflowIDConflictPolicy USE_EXISTING. The SDK does not
// say whether it started or joined, so a run ID this starter has already
// seen counts as joined (after a restart the first join counts as started).
func (s *TemporalStarter) StartFailover(ctx context.Context, p *platform.Platform, failedSite string) (bool, error) {
	if s.FailoverInput == nil {
		return false, Permanent(ErrFailoverInputNotWired)
	}
	in, err := s.FailoverInput(p, failedSite)
	if err != nil {
		return false, Permanent(fmt.Errorf("build FailoverSite input for site %s: %w", failedSite, err))
	}
	id := FailoverWorkflowID(failedSite)
	run, err := s.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: s.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}, workflows.FailoverSiteName, in)
	if err != nil {
		return false, classify(fmt.Errorf("start %s %s on task queue %s: %w", workflows.FailoverSiteName, id, s.TaskQueue, err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runs == nil || len(s.runs) > 10000 {
		s.runs = map[string]string{}
	}
	seen := s.runs[id] == run.GetRunID()
	s.runs[id] = run.GetRunID()
	return !seen, nil
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
