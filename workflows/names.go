package workflows

// Registered workflow names. They are part of mdc's interface (triggers, the
// CLI and `temporal workflow start --type` use them) and never change.
const (
	DNSCutoverName = "DNSCutover"
	AutoscaleName  = "Autoscale"
	ScaleOutName   = "ScaleOut"
	ScaleInName    = "ScaleIn"
)

// Query names.
const (
	// ProgressQuery returns a workflow's steps with their state and timings.
	ProgressQuery = "progress"
)
