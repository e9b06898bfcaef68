package workflows

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/microdc/mdc/activities/health"
	"github.com/microdc/mdc/activities/temporalops"
	"github.com/microdc/mdc/apperrors"
)

// With three sites both observers vote; one "reachable" vote and one
// "unreachable" vote do not make a quorum of two.
func TestConfirmNeedsTheObserverQuorum(t *testing.T) {
	votes := func(us, de string) func(string) (health.ProbeSiteResult, error) {
		return func(obs string) (health.ProbeSiteResult, error) {
			v := map[string]string{"us": us, "de": de}[obs]
			if v == "error" {
				return health.ProbeSiteResult{}, apperrors.BadInput("unknown site uk")
			}
			return health.ProbeSiteResult{Site: "uk", Reachable: v == "up"}, nil
		}
	}
	for _, tc := range []struct {
		name, us, de string
		status       string
		outcome      string
	}{
		{"both see it down", "down", "down", StatusFailedOver, ""},
		{"one sees it up", "down", "up", StatusNotFailedOver, "not failed over: site reachable"},
		{"one vote missing", "down", "error", StatusNotFailedOver, "not failed over: observer quorum not met"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newFoLab(t, "uk", "us", "de")
			l.down["uk"] = true
			l.probe = votes(tc.us, tc.de)
			res, p, err := l.run(foInput(ModeDisaster, "uk", "us", "de"))
			require.NoError(t, err)
			require.Equal(t, tc.status, res.Status, res.Outcome)
			probes := l.Calls("ProbeSite")
			require.ElementsMatch(t, []string{"ProbeSite uk from us", "ProbeSite uk from de"}, probes)
			require.Len(t, res.Observers, 2)
			require.Equal(t, "us", res.Observers[0].Observer, "the target votes first")
			if tc.outcome != "" {
				require.Equal(t, tc.outcome, res.Outcome)
				require.Contains(t, foStep(t, p, "confirm").Detail, "quorum 2")
				l.requireNoSideEffects("Publish")
			}
		})
	}
}

func TestForceFailsOverAReachableSite(t *testing.T) {
	l := newFoLab(t)
	in := foInput(ModeDisaster)
	in.Force = true
	res, _, err := l.run(in)
	require.NoError(t, err)
	require.Equal(t, StatusFailedOver, res.Status)
	require.Len(t, res.Forced, 1)
	require.Contains(t, res.Forced[0], "confirmation: 0 of 1 observers see uk unreachable, 1 reachable")
	// The reachable site's own fencing works: VMs off, database read-only.
	require.True(t, res.Fence.DatabaseFenced)
	require.True(t, res.Fence.TrafficFencedByDNS)
	require.Contains(t, res.Fence.PoweredOff, "uk-web-1")
}

func recentFailover(at time.Time, outcome, mode string) func(temporalops.ListWorkflowsInput) (temporalops.ListWorkflowsResult, error) {
	return func(temporalops.ListWorkflowsInput) (temporalops.ListWorkflowsResult, error) {
		return temporalops.ListWorkflowsResult{Executions: []temporalops.Execution{{
			WorkflowID: "failover-uk", RunID: "earlier", Type: FailoverSiteName, Status: "Completed",
			StartTime: at.Add(-time.Minute), CloseTime: at,
			Attributes: map[string]string{"MdcSite": "uk", "MdcOutcome": outcome, "MdcMode": mode},
		}}}, nil
	}
}

func TestAntiFlappingRefusesASecondFailoverWithinTheBlockPeriod(t *testing.T) {
	l := newFoLab(t)
	l.down["uk"] = true
	l.list = recentFailover(foT0.Add(-4*time.Minute), StatusFailedOver, ModeDisaster)
	res, p, err := l.run(foInput(ModeDisaster))
	require.NoError(t, err)
	require.Equal(t, StatusRefused, res.Status)
	require.Equal(t, "refused: uk failed over 4m0s ago (workflow failover-uk, run earlier), within the block period of 30m0s; rerun with Force to override", res.Outcome)
	require.Equal(t, StepDone, foStep(t, p, "anti-flap").State)
	require.Equal(t, StepSkipped, foStep(t, p, "fence").State)
	l.requireNoSideEffects("Publish")
	q := l.Calls("ListWorkflows")
	require.Len(t, q, 1)
	require.True(t, strings.HasPrefix(q[0], "ListWorkflows us WorkflowType = 'FailoverSite' AND MdcSite = 'uk' AND (ExecutionStatus = 'Running' OR CloseTime >= '2025-03-01T11:30:00Z')"), q[0])
	require.Equal(t, []string{"Publish mdc.events.failover.refused"}, l.Calls("Publish"))
}

func TestAntiFlappingWithForceProceeds(t *testing.T) {
	l := newFoLab(t)
	l.down["uk"] = true
	l.list = recentFailover(foT0.Add(-4*time.Minute), StatusFailedOver, ModeDisaster)
	in := foInput(ModeDisaster)
	in.Force = true
	res, _, err := l.run(in)
	require.NoError(t, err)
	require.Equal(t, StatusFailedOver, res.Status)
	require.Equal(t, []string{"anti-flapping: uk failed over 4m0s ago (workflow failover-uk, run earlier), within the block period of 30m0s"}, res.Forced)
}

func TestAntiFlappingIgnoresDrillsRefusalsAndOldFailovers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		list    func(temporalops.ListWorkflowsInput) (temporalops.ListWorkflowsResult, error)
		outcome string
	}{
		{"drill", recentFailover(foT0.Add(-time.Minute), StatusDrillPassed, ModeTest), StatusFailedOver},
		{"refused run", recentFailover(foT0.Add(-time.Minute), StatusRefused, ModeDisaster), StatusFailedOver},
		{"failed run", recentFailover(foT0.Add(-time.Minute), StatusFailed, ModeDisaster), StatusFailedOver},
		{"before the block", recentFailover(foT0.Add(-31*time.Minute), StatusFailedOver, ModeDisaster), StatusFailedOver},
		{"concurrent run", func(temporalops.ListWorkflowsInput) (temporalops.ListWorkflowsResult, error) {
			return temporalops.ListWorkflowsResult{Executions: []temporalops.Execution{{WorkflowID: "manual-uk", RunID: "other", Status: "Running",
				Attributes: map[string]string{"MdcSite": "uk", "MdcMode": ModePlanned}}}}, nil
		}, StatusRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newFoLab(t)
			l.down["uk"] = true
			l.list = tc.list
			res, _, err := l.run(foInput(ModeDisaster))
			require.NoError(t, err)
			require.Equal(t, tc.outcome, res.Status, res.Outcome)
		})
	}
}

// A ledger that cannot be read fails closed (after its retries), saying how
// to override.
func TestAntiFlappingCheckThatCannotRunFailsTheFailover(t *testing.T) {
	l := newFoLab(t)
	l.down["uk"] = true
	l.list = func(temporalops.ListWorkflowsInput) (temporalops.ListWorkflowsResult, error) {
		return temporalops.ListWorkflowsResult{}, apperrors.Unavailable(errors.New("visibility down"), "list")
	}
	_, p, err := l.run(foInput(ModeDisaster))
	require.Error(t, err)
	require.Contains(t, err.Error(), "anti-flapping check")
	require.Contains(t, err.Error(), "rerun with Force")
	require.Len(t, l.Calls("ListWorkflows"), 5, "retried per apiRetry")
	require.Equal(t, StepFailed, foStep(t, p, "anti-flap").State)
	l.requireNoSideEffects("Publish")
	require.Equal(t, []string{"Publish mdc.events.failover.failed"}, l.Calls("Publish"), "a failed run still reports")
}

func approvalInput(def string) FailoverSiteInput {
	in := foInput(ModeDisaster)
	in.Policy.ApprovalMode = ApprovalRequired
	in.Policy.ApprovalDeadline = 10 * time.Minute
	in.Policy.ApprovalDefault = def
	return in
}

type foUpdate struct {
	accepted bool
	rejected error
	result   any
}

func (l *foLab) update(name string, a Approval, after time.Duration) *foUpdate {
	u := &foUpdate{}
	l.env.RegisterDelayedCallback(func() { l.sendUpdate(u, name, a) }, after)
	return u
}

func (l *foLab) sendUpdate(u *foUpdate, name string, a Approval) {
	l.env.UpdateWorkflow(name, name+"-"+a.By, &testsuite.TestUpdateCallback{
		OnAccept:   func() { u.accepted = true },
		OnReject:   func(err error) { u.rejected = err },
		OnComplete: func(v any, err error) { u.result = v },
	}, a)
}

func TestApprovalByUpdateProceeds(t *testing.T) {
	l := newFoLab(t)
	l.down["uk"] = true
	empty := l.update(ApproveName, Approval{}, time.Minute)
	var waiting Step
	l.env.RegisterDelayedCallback(func() {
		v, err := l.env.QueryWorkflow(ProgressQuery)
		require.NoError(t, err)
		var p Progress
		require.NoError(t, v.Get(&p))
		waiting = foStep(t, p, "approval")
	}, 90*time.Second)
	ok, late := &foUpdate{}, &foUpdate{}
	l.env.RegisterDelayedCallback(func() {
		l.sendUpdate(ok, ApproveName, Approval{By: "alice", Comment: "go"})
		l.sendUpdate(late, RejectName, Approval{By: "bob"})
	}, 2*time.Minute)
	res, p, err := l.run(approvalInput(ApprovalAbort))
	require.NoError(t, err)
	require.Equal(t, StatusFailedOver, res.Status)
	require.ErrorContains(t, empty.rejected, "approver's name")
	require.True(t, ok.accepted)
	require.Equal(t, DecisionApproved, ok.result.(ApprovalDecision).Decision)
	require.ErrorContains(t, late.rejected, "already decided: approved by alice")
	require.Equal(t, &ApprovalDecision{Decision: DecisionApproved, By: "alice", Comment: "go", Via: "update", At: foT0.Add(2 * time.Minute)}, res.Approval)
	require.Equal(t, 2*time.Minute, foStep(t, p, "approval").Took)
	require.Equal(t, StepRunning, waiting.State, "the progress query shows the gate while it waits")
	require.Equal(t, "waiting for approve or reject until 2025-03-01T12:10:00Z (then abort)", waiting.Detail)
	require.Greater(t, l.first("SetGeoRecord"), l.first("ProbeSite"))
}

func TestRejectionBySignalEndsTheFailover(t *testing.T) {
	l := newFoLab(t)
	l.down["uk"] = true
	l.env.RegisterDelayedCallback(func() { l.env.SignalWorkflow(RejectName, Approval{By: "bob", Comment: "uk is coming back"}) }, time.Minute)
	res, p, err := l.run(approvalInput(ApprovalProceed))
	require.NoError(t, err)
	require.Equal(t, StatusRejected, res.Status)
	require.Equal(t, "not failed over: rejected by bob (uk is coming back)", res.Outcome)
	require.Equal(t, "signal", res.Approval.Via)
	require.Equal(t, StepSkipped, foStep(t, p, "fence").State)
	l.requireNoSideEffects("Publish")
}

func TestApprovalDeadlineAppliesThePolicyDefault(t *testing.T) {
	t.Run("proceed", func(t *testing.T) {
		l := newFoLab(t)
		l.down["uk"] = true
		res, p, err := l.run(approvalInput(ApprovalProceed))
		require.NoError(t, err)
		require.Equal(t, StatusFailedOver, res.Status)
		require.Equal(t, DecisionDefaultProceed, res.Approval.Decision)
		require.Equal(t, "deadline", res.Approval.Via)
		require.Equal(t, 10*time.Minute, foStep(t, p, "approval").Took, "a durable timer of the policy's deadline")
		require.GreaterOrEqual(t, res.RTOSeconds, 600.0, "waiting for approval is outage time")
	})
	t.Run("abort", func(t *testing.T) {
		l := newFoLab(t)
		l.down["uk"] = true
		res, _, err := l.run(approvalInput(ApprovalAbort))
		require.NoError(t, err)
		require.Equal(t, StatusAborted, res.Status)
		require.Equal(t, "not failed over: no approval within 10m0s; the policy default is abort", res.Outcome)
		l.requireNoSideEffects("Publish")
	})
}

// Approvals are refused where no gate exists, so an operator is not misled
// into thinking they approved something.
func TestApprovalIsRejectedWhenThePolicyIsAutomatic(t *testing.T) {
	l := newFoLab(t)
	l.down["uk"] = true
	u := l.update(ApproveName, Approval{By: "alice"}, 0)
	res, _, err := l.run(foInput(ModeDisaster))
	require.NoError(t, err)
	require.Equal(t, StatusFailedOver, res.Status)
	require.ErrorContains(t, u.rejected, "does not wait for approval (policy mode automatic")
	require.Nil(t, res.Approval)
}
