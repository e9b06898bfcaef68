package workflows

import "go.temporal.io/sdk/workflow"

func workflowOpts(name string) workflow.RegisterOptions {
	return workflow.RegisterOptions{Name: name}
}

// Register registers every workflow under its constant name. The worker and
// the replay tests both call it, so what runs is what replays.
func Register(r interface {
	RegisterWorkflowWithOptions(w interface{}, options workflow.RegisterOptions)
}) {
	r.RegisterWorkflowWithOptions(DNSCutoverWorkflow, workflowOpts(DNSCutoverName))
	r.RegisterWorkflowWithOptions(FailoverSiteWorkflow, workflowOpts(FailoverSiteName))
	r.RegisterWorkflowWithOptions(ProvisionSiteWorkflow, workflowOpts(ProvisionSiteName))
	r.RegisterWorkflowWithOptions(ReplicateVMWorkflow, workflowOpts(ReplicateVMName))
	r.RegisterWorkflowWithOptions(DrainHostWorkflow, workflowOpts(DrainHostName))
	r.RegisterWorkflowWithOptions(UndrainHostWorkflow, workflowOpts(UndrainHostName))
	r.RegisterWorkflowWithOptions(FailbackWorkflow, workflowOpts(FailbackName))
	r.RegisterWorkflowWithOptions(AutoscaleWorkflow, workflowOpts(AutoscaleName))
	r.RegisterWorkflowWithOptions(ScaleOutWorkflow, workflowOpts(ScaleOutName))
	r.RegisterWorkflowWithOptions(ScaleInWorkflow, workflowOpts(ScaleInName))
}
