package workflows

import (
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

// workflowQueue mirrors workers.SharedQueue, the queue every workflow runs
// on (workflows cannot import workers).
const workflowQueue = "mdc"

// FailoverWorkflowID is the workflow ID every starter of FailoverSite (the
// trigger, the CLI) must use, so that events delivered twice and operators
// racing a monitor start one failover, not two:
//
//	failover-<failed site>          disaster and planned
//	failover-drill-<failed site>    test (a drill never holds the ID a real failover needs)
//	failover-dry-run-<failed site>  dry runs
//
// Start it with FailoverStartOptions: WorkflowIDConflictPolicy USE_EXISTING
// makes a start while a failover of the site runs return that run instead
// of a second one, and WorkflowIDReusePolicy ALLOW_DUPLICATE lets a new run
// start once the previous closed. Whether that new run may fail the site
// over again is the anti-flapping step's decision (a run that failed over
// within the block period refuses unless forced), not the ID's: a refused
// or failed run must not keep the next one from starting.
func FailoverWorkflowID(in FailoverSiteInput) string {
	switch {
	case in.DryRun:
		return "failover-dry-run-" + in.FailedSite
	case in.Mode == ModeTest:
		return "failover-drill-" + in.FailedSite
	}
	return "failover-" + in.FailedSite
}

// FailoverStartOptions are the start options of a FailoverSite run (see
// FailoverWorkflowID). The site, target and mode search attributes are set
// at start, so the anti-flapping check of a concurrent run sees this one
// from its first moment; a dry run carries none, so it is never counted.
func FailoverStartOptions(in FailoverSiteInput) client.StartWorkflowOptions {
	o := client.StartWorkflowOptions{
		ID:                       FailoverWorkflowID(in),
		TaskQueue:                workflowQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
	}
	if !in.DryRun {
		o.TypedSearchAttributes = temporal.NewSearchAttributes(
			AttrSite.ValueSet(in.FailedSite), AttrTarget.ValueSet(in.TargetSite), AttrMode.ValueSet(in.Mode))
	}
	return o
}
