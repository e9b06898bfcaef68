package workflows

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/microdc/mdc/activities/db"
	"github.com/microdc/mdc/activities/dns"
	"github.com/microdc/mdc/apperrors"
)

// failedBack is a platform after uk failed over to us and came back: us is
// the primary, uk's database came back writable, and uk-db-1 is protected.
func failedBack() *fakeDC {
	f := dbSites()
	f.dbRole["us"], f.dbRole["uk"] = db.RolePrimary, db.RolePrimary
	return f
}

func failbackInput() FailbackInput {
	return FailbackInput{
		ReturnedSite: "uk", CurrentPrimarySite: "us",
		Replicate: []ReplicateVMInput{replicateInput()},
		DNS: []FailbackRecord{{Zone: "mdc.test.", Name: "www.mdc.test.", TTL: 60, Fallback: "127.2.0.2", Answers: []dns.GeoAnswer{
			{Region: "eu", Subnets: []string{"192.0.2.0/24"}, IP: "127.2.0.2"},
			{Region: "na", Subnets: []string{"198.51.100.0/24"}, IP: "127.2.0.2"},
		}}},
		SwitchBack: &FailoverSiteInput{Reason: "uk is back"},
	}
}

// failbackEnv stands a recording FailoverSite in for the real one.
func failbackEnv(f *fakeDC, switched *[]FailoverSiteInput) *testsuite.TestWorkflowEnvironment {
	env := newSiteEnv(f)
	env.SetStartTime(replicateStart)
	env.RegisterWorkflowWithOptions(func(ctx workflow.Context, in FailoverSiteInput) (FailoverSiteResult, error) {
		f.mu.Lock()
		f.record("FailoverSite " + in.FailedSite + " " + in.TargetSite + " " + in.Mode)
		f.mu.Unlock()
		*switched = append(*switched, in)
		return FailoverSiteResult{Status: "failed-over", Outcome: "failed over from us to uk"}, nil
	}, workflow.RegisterOptions{Name: FailoverSiteName, DisableAlreadyRegisteredCheck: true})
	return env
}

func TestFailbackResyncsReReplicatesRepairsDNSAndSwitchesBack(t *testing.T) {
	f := failedBack()
	var switched []FailoverSiteInput
	env := failbackEnv(f, &switched)
	env.ExecuteWorkflow(FailbackName, failbackInput())
	require.NoError(t, env.GetWorkflowError())
	var res FailbackResult
	require.NoError(t, env.GetWorkflowResult(&res))

	require.True(t, res.DBRepointed)
	require.Equal(t, db.RoleReplica, f.dbRole["uk"])
	require.Equal(t, "us", f.dbMaster["uk"])
	require.Equal(t, []string{"uk-db-1-replica-20250102T030405"}, res.Replicas)
	require.Equal(t, []string{"www.mdc.test."}, res.DNSRepaired)
	require.Equal(t, "failed-over", res.SwitchBack)
	require.Len(t, switched, 1)
	require.Equal(t, "us", switched[0].FailedSite)
	require.Equal(t, "uk", switched[0].TargetSite)
	require.Equal(t, ModePlanned, switched[0].Mode)
	require.Equal(t, "uk is back", switched[0].Reason)
	require.Equal(t, []string{
		"Repoint uk us", "ReplicateVM uk-db-1 us uk-db-1-replica-20250102T030405", "PruneReplicas us uk-db-1 3",
		"SetGeoRecord uk www.mdc.test.", "FailoverSite us uk planned",
	}, f.Calls("Repoint", "ReplicateVM", "PruneReplicas", "SetGeoRecord", "FailoverSite"))
	for _, s := range res.Progress.Steps {
		require.Equal(t, StepDone, s.State, s.Name)
	}
}

func TestFailbackWithoutSwitchBackStopsAfterReprotecting(t *testing.T) {
	f := failedBack()
	var switched []FailoverSiteInput
	env := failbackEnv(f, &switched)
	in := failbackInput()
	in.SwitchBack = nil
	env.ExecuteWorkflow(FailbackName, in)
	require.NoError(t, env.GetWorkflowError())
	var res FailbackResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Empty(t, switched)
	require.Empty(t, res.SwitchBack)
	last := res.Progress.Steps[len(res.Progress.Steps)-1]
	require.Equal(t, StepSkipped, last.State)
	require.Contains(t, last.Detail, "run FailoverSite (planned) when ready")
}

func TestFailbackRefusesToResyncFromASiteThatIsNotPrimary(t *testing.T) {
	f := failedBack()
	f.dbRole["us"] = db.RoleReplica
	var switched []FailoverSiteInput
	env := failbackEnv(f, &switched)
	env.ExecuteWorkflow(FailbackName, failbackInput())
	err := env.GetWorkflowError()
	require.Error(t, err)
	require.Contains(t, err.Error(), "site us's database is replica, not a writable primary")
	require.Empty(t, f.Calls(sideEffects...))
	require.Empty(t, switched)
}

func TestFailbackDoesNotSwitchBackWhenReplicationFails(t *testing.T) {
	f := failedBack()
	f.failReplicate = apperrors.Rejected("datastore full at us")
	var switched []FailoverSiteInput
	env := failbackEnv(f, &switched)
	env.ExecuteWorkflow(FailbackName, failbackInput())
	err := env.GetWorkflowError()
	require.Error(t, err)
	require.Contains(t, err.Error(), "re-replicate uk-db-1")
	require.Empty(t, switched, "no switch-back onto a site whose VMs are not protected")
	require.Empty(t, f.Calls("SetGeoRecord"))
}

func TestFailbackRejectsASwitchBackInTheWrongDirection(t *testing.T) {
	f := failedBack()
	var switched []FailoverSiteInput
	env := failbackEnv(f, &switched)
	in := failbackInput()
	in.SwitchBack = &FailoverSiteInput{FailedSite: "uk", TargetSite: "us", Mode: ModeDisaster}
	env.ExecuteWorkflow(FailbackName, in)
	err := env.GetWorkflowError()
	require.Error(t, err)
	requireNonRetryable(t, err, apperrors.TypeBadInput)
	require.Contains(t, err.Error(), "switch back must be a planned failover from us to uk")
	require.Empty(t, f.Calls(sideEffects...))
}
