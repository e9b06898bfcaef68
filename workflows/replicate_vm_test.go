package workflows

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/microdc/mdc/activities/events"
	"github.com/microdc/mdc/activities/vsphere"
	"github.com/microdc/mdc/apperrors"
)

var replicateStart = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// dbSites has uk-db-1 running at uk and nothing at us.
func dbSites() *fakeDC {
	f := newFakeDC()
	f.addVM("uk", vsphere.VM{Name: "uk-db-1", PowerState: vsphere.PoweredOn, Host: "h1",
		Tags: map[string]string{vsphere.TagRole: "db", vsphere.TagService: "db", vsphere.TagSite: "uk"}})
	return f
}

func replicateInput() ReplicateVMInput {
	return ReplicateVMInput{VM: "uk-db-1", Site: "uk", Target: "us", RPO: 15 * time.Minute, Keep: 3}
}

// replicateEnv runs ReplicateVM at replicateStart and captures the search
// attributes it sets.
func replicateEnv(f *fakeDC) (*testsuite.TestWorkflowEnvironment, *temporal.SearchAttributes) {
	env := newSiteEnv(f)
	env.SetStartTime(replicateStart)
	f.now = env.Now
	var attrs temporal.SearchAttributes
	env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		sa := args.Get(0).(temporal.SearchAttributes)
		var updates []temporal.SearchAttributeUpdate
		for k, v := range attrs.GetUntypedValues() {
			updates = append(updates, untypedUpdate(k, v))
		}
		for k, v := range sa.GetUntypedValues() {
			updates = append(updates, untypedUpdate(k, v))
		}
		attrs = temporal.NewSearchAttributes(updates...)
	}).Return(nil)
	return env, &attrs
}

func untypedUpdate(k temporal.SearchAttributeKey, v any) temporal.SearchAttributeUpdate {
	switch key := k.(type) {
	case temporal.SearchAttributeKeyKeyword:
		return key.ValueSet(v.(string))
	case temporal.SearchAttributeKeyFloat64:
		return key.ValueSet(v.(float64))
	}
	panic("unexpected search attribute type")
}

func TestReplicateVMMakesATaggedPoweredOffReplicaNamedFromWorkflowTime(t *testing.T) {
	f := dbSites()
	env, attrs := replicateEnv(f)
	env.ExecuteWorkflow(ReplicateVMName, replicateInput())
	require.NoError(t, env.GetWorkflowError())
	var res ReplicateVMResult
	require.NoError(t, env.GetWorkflowResult(&res))

	require.Equal(t, "uk-db-1-replica-20250102T030405", res.Replica)
	require.True(t, res.FirstReplica)
	require.False(t, res.RPOViolated)
	require.Equal(t, res.Replica, res.Newest)
	require.Less(t, res.Age, time.Minute)
	replica := f.vms["us/"+res.Replica]
	require.Equal(t, vsphere.PoweredOff, replica.PowerState)
	require.Equal(t, "db", replica.Tags[vsphere.TagRole], "the replica keeps the VM's role for a failover")
	require.Equal(t, "uk-db-1", replica.Tags[vsphere.TagReplicaOf])
	require.Equal(t, "2025-01-02T03:04:05Z", replica.Tags[vsphere.TagReplicatedAt])
	require.Empty(t, replica.Tags[vsphere.TagSite], "a replica is not one of the target site's own VMs")
	outcome, _ := attrs.GetKeyword(AttrOutcome)
	require.Equal(t, OutcomeOK, outcome)
	require.Empty(t, f.published, "no violation, no event")
	target, _ := attrs.GetKeyword(AttrTarget)
	require.Equal(t, "us", target)
}

func TestReplicateVMPrunesToTheNewestKeepAndSparesReplicasInUse(t *testing.T) {
	f := dbSites()
	for i, name := range []string{"r1", "r2", "r3", "r4"} {
		f.addReplica("us", "uk", "uk-db-1", name, replicateStart.Add(time.Duration(i-4)*5*time.Minute))
	}
	promoted := f.vms["us/r1"]
	promoted.PowerState = vsphere.PoweredOn
	f.vms["us/r1"] = promoted
	env, _ := replicateEnv(f)
	env.ExecuteWorkflow(ReplicateVMName, replicateInput())
	require.NoError(t, env.GetWorkflowError())
	var res ReplicateVMResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, []string{"r2"}, res.Pruned, "4 powered-off replicas, keep 3: the oldest goes")
	require.Equal(t, []string{res.Replica, "r4", "r3"}, res.Kept)
	require.Contains(t, f.vms, "us/r1", "a replica a failover powered on is in use")
	require.Equal(t, []string{"PruneReplicas us uk-db-1 3"}, f.Calls("PruneReplicas"))
	require.Equal(t, 5*time.Minute, res.PreviousAge)
	require.False(t, res.RPOViolated)
}

func TestReplicateVMRecordsAnRPOViolation(t *testing.T) {
	f := dbSites()
	f.addReplica("us", "uk", "uk-db-1", "old", replicateStart.Add(-20*time.Minute))
	env, attrs := replicateEnv(f)
	env.ExecuteWorkflow(ReplicateVMName, replicateInput())
	require.NoError(t, env.GetWorkflowError(), "a late replica is recorded, and this run fixes it")
	var res ReplicateVMResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.True(t, res.RPOViolated)
	require.Equal(t, 20*time.Minute, res.PreviousAge)
	require.Contains(t, res.Violation, "newest replica old was 20m0s old before this run, more than the RPO of 15m0s")
	outcome, _ := attrs.GetKeyword(AttrOutcome)
	require.Equal(t, OutcomeRPOViolated, outcome)
	rpo, _ := attrs.GetFloat64(AttrRPO)
	require.Equal(t, 1200.0, rpo)
	require.Contains(t, res.Progress.Steps[3].Detail, "violated")
	require.True(t, res.EventPublished)
	ev := violationEvent(t, f)
	require.Equal(t, OutcomeRPOViolated, ev.Outcome)
	require.Equal(t, 1200.0, ev.PreviousAge)
	require.Equal(t, res.Replica, ev.Replica)
}

// violationEvent decodes the one event f received.
func violationEvent(t *testing.T, f *fakeDC) RPOViolationEvent {
	t.Helper()
	require.Len(t, f.published, 1)
	require.Equal(t, ReplicationViolationSubject, f.published[0].Subject)
	var env events.Event
	require.NoError(t, json.Unmarshal(f.published[0].Data, &env))
	require.Equal(t, "replication.rpo-violated", env.Type)
	require.Equal(t, "uk", env.Site)
	var ev RPOViolationEvent
	require.NoError(t, json.Unmarshal(env.Payload, &ev))
	return ev
}

func TestReplicateVMFailureCountsAsAViolationAndFailsTheRun(t *testing.T) {
	f := dbSites()
	f.failReplicate = apperrors.Unavailable(errors.New("connection refused"), "vCenter of site us did not answer")
	env, attrs := replicateEnv(f)
	env.ExecuteWorkflow(ReplicateVMName, replicateInput())
	err := env.GetWorkflowError()
	require.Error(t, err)
	require.Contains(t, err.Error(), "replicate uk-db-1 from site uk to us as uk-db-1-replica-20250102T030405")
	outcome, _ := attrs.GetKeyword(AttrOutcome)
	require.Equal(t, OutcomeFailed, outcome)
	require.Len(t, f.Calls("ReplicateVM"), 3, "retried, then given up until the next scheduled run")
	require.Empty(t, f.Calls("PruneReplicas"), "nothing is pruned when no new replica was made")
	ev := violationEvent(t, f)
	require.Equal(t, OutcomeFailed, ev.Outcome)
	require.Contains(t, ev.Violation, "replication failed")
}

func TestReplicateVMOfAMissingVMFailsWithoutCopying(t *testing.T) {
	f := newFakeDC()
	env, _ := replicateEnv(f)
	env.ExecuteWorkflow(ReplicateVMName, replicateInput())
	err := env.GetWorkflowError()
	require.Error(t, err)
	require.Contains(t, err.Error(), "VM uk-db-1 does not exist at site uk")
	require.Empty(t, f.Calls("ReplicateVM", "PruneReplicas"))
}

func TestReplicateVMRejectsATargetThatIsTheVMsOwnSite(t *testing.T) {
	f := dbSites()
	env, _ := replicateEnv(f)
	in := replicateInput()
	in.Target = "uk"
	env.ExecuteWorkflow(ReplicateVMName, in)
	err := env.GetWorkflowError()
	require.Error(t, err)
	requireNonRetryable(t, err, apperrors.TypeBadInput)
	require.Contains(t, err.Error(), "target uk is the VM's own site")
	require.Empty(t, f.Calls(sideEffects...))
}
