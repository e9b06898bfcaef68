package workflows

// Registered workflow names. They are part of mdc's interface (triggers, the
// CLI and `temporal workflow start --type` use them) and never change.
const (
	DNSCutoverName    = "DNSCutover"
	FailoverSiteName  = "FailoverSite"
	AutoscaleName     = "Autoscale"
	ScaleOutName      = "ScaleOut"
	ScaleInName       = "ScaleIn"
	ProvisionSiteName = "ProvisionSite"
	ReplicateVMName   = "ReplicateVM"
	DrainHostName     = "DrainHost"
	UndrainHostName   = "UndrainHost"
	FailbackName      = "Failback"
)

// Update and signal names. FailoverSite takes each both as an update (the
// caller gets the decision, or a rejection saying why not) and as a signal.
const (
	// ApproveName approves a failover waiting at its approval gate.
	ApproveName = "approve"
	// RejectName rejects it.
	RejectName = "reject"
)

// Query names.
const (
	// ProgressQuery returns a workflow's steps with their state and timings.
	ProgressQuery = "progress"
)
