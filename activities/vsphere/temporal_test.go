package vsphere

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/microdc/mdc/apperrors"
)

// The activities run through Temporal's activity test environment:
// registration, JSON round trips of inputs and results, typed errors.
func TestActivitiesThroughTemporal(t *testing.T) {
	integration(t)
	s := startSim(t)

	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(s.a)
	var beats atomic.Int32
	env.SetOnActivityHeartbeatListener(func(*activity.Info, converter.EncodedValues) { beats.Add(1) })

	val, err := env.ExecuteActivity(s.a.CloneVM, CloneVMInput{Site: "sim", Source: "DC0_C0_RP0_VM0", Name: "via-temporal", Tags: webTags, PowerOn: true})
	require.NoError(t, err)
	var res CloneVMResult
	require.NoError(t, val.Get(&res))
	require.Equal(t, "via-temporal", res.Name)
	require.Equal(t, PoweredOn, res.PowerState)
	require.True(t, res.Changed)
	require.GreaterOrEqual(t, beats.Load(), int32(1), "the clone heartbeats")

	val, err = env.ExecuteActivity(s.a.FindVMs, FindVMsInput{Site: "sim", Tags: webTags})
	require.NoError(t, err)
	var found FindVMsResult
	require.NoError(t, val.Get(&found))
	require.Len(t, found.VMs, 1)
	require.Equal(t, webTags, found.VMs[0].Tags)

	val, err = env.ExecuteActivity(s.a.FenceSite, FenceSiteInput{Site: "sim", Exclude: []string{"via-temporal"}})
	require.NoError(t, err)
	var fenced FenceSiteResult
	require.NoError(t, val.Get(&fenced))
	require.Equal(t, []string{"DC0_C0_RP0_VM0", "DC0_C0_RP0_VM1"}, fenced.PoweredOff)

	_, err = env.ExecuteActivity(s.a.PowerOn, PowerInput{Site: "elsewhere", Name: "x"})
	var ae *temporal.ApplicationError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, apperrors.TypeBadInput, ae.Type())
	require.True(t, ae.NonRetryable())
}

// A clone task that runs longer than the activity's heartbeat timeout
// survives because runTask heartbeats while it waits; without the
// heartbeats Temporal would time the activity out.
func TestCloneHeartbeatsWhileItsTaskRuns(t *testing.T) {
	integration(t)
	s := startSim(t)
	hook := installTaskHook(s)
	old := heartbeatEvery
	heartbeatEvery = 20 * time.Millisecond
	t.Cleanup(func() { heartbeatEvery = old })
	hook.set("CloneVm", hookAction{delay: 600 * time.Millisecond, count: 1}) // slow but successful

	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterActivity(s.a)
	var beats atomic.Int32
	var last atomic.Value
	env.SetOnActivityHeartbeatListener(func(_ *activity.Info, details converter.EncodedValues) {
		var progress string
		if details.HasValues() && details.Get(&progress) == nil {
			last.Store(progress)
		}
		beats.Add(1)
	})
	cloneOnce := func(ctx workflow.Context, in CloneVMInput) (CloneVMResult, error) {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: time.Minute, HeartbeatTimeout: 150 * time.Millisecond,
			RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1},
		})
		var a *Activities
		var res CloneVMResult
		err := workflow.ExecuteActivity(ctx, a.CloneVM, in).Get(ctx, &res)
		return res, err
	}
	env.RegisterWorkflow(cloneOnce)
	env.ExecuteWorkflow(cloneOnce, CloneVMInput{Site: "sim", Source: "DC0_C0_RP0_VM0", Name: "slow-clone", Tags: webTags})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res CloneVMResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.True(t, res.Changed)
	require.GreaterOrEqual(t, beats.Load(), int32(3), "heartbeats while the clone task ran")
	require.Contains(t, last.Load(), "clone DC0_C0_RP0_VM0 to slow-clone")
}
