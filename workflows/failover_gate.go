package workflows

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/microdc/mdc/activities/health"
	"github.com/microdc/mdc/activities/temporalops"
)

var (
	healthA *health.Activities
	opsA    *temporalops.Activities
)

// Approval is what an approver sends with the approve or reject update (or
// signal).
type Approval struct {
	// By names the approver; required.
	By      string
	Comment string `json:",omitempty"`
}

// Approval decisions.
const (
	DecisionApproved       = "approved"
	DecisionRejected       = "rejected"
	DecisionDefaultProceed = "default-proceed"
	DecisionDefaultAbort   = "default-abort"
)

// ApprovalDecision records how the approval gate was passed or closed.
type ApprovalDecision struct {
	Decision string
	By       string
	Comment  string `json:",omitempty"`
	// Via is update, signal or deadline.
	Via string
	At  time.Time
}

// probeOptions are for an observer's probe of the failed site: the probe
// itself reports a dead site as a result, so only the observer's own worker
// can keep it from answering, and that must not hold the failover long.
func probeOptions(site string) workflow.ActivityOptions {
	o := apiOptions(site)
	o.ScheduleToStartTimeout = 10 * time.Second
	return o
}

// confirm asks every observer site to probe the failed one and requires the
// policy's quorum of "unreachable" votes. A site that answers is not failed
// over (unless forced): a monitor's view alone must not move production.
func (f *failover) confirm(ctx workflow.Context) (string, error) {
	futures := make([]workflow.Future, len(f.observers))
	for i, obs := range f.observers {
		futures[i] = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, probeOptions(obs)),
			healthA.ProbeSite, health.ProbeSiteInput{Site: f.in.FailedSite})
	}
	unreachable, reachable := 0, 0
	var seenBy []string
	for i, fut := range futures {
		v := ObserverVote{Observer: f.observers[i]}
		var r health.ProbeSiteResult
		if err := fut.Get(ctx, &r); err != nil {
			v.Detail = "probe failed: " + errMsg(err)
		} else {
			v.Answered, v.Reachable = true, r.Reachable
			v.Detail = probeSummary(r)
			if r.Reachable {
				reachable++
				seenBy = append(seenBy, f.observers[i])
			} else {
				unreachable++
			}
		}
		f.res.Observers = append(f.res.Observers, v)
	}
	quorum, capped := f.in.Policy.ObserverQuorum, ""
	if quorum > len(f.observers) {
		// With two sites only the target can observe: a quorum larger than
		// the observers could never be met, so it is capped (and said so).
		capped = fmt.Sprintf(" (quorum %d capped to the %d observer site(s))", quorum, len(f.observers))
		quorum = len(f.observers)
	}
	votes := fmt.Sprintf("%d of %d observers see %s unreachable, %d reachable, quorum %d%s",
		unreachable, len(f.observers), f.in.FailedSite, reachable, quorum, capped)
	switch {
	case unreachable >= quorum:
		return "confirmed: " + votes, nil
	case f.in.Force:
		f.force("confirmation: " + votes)
		return "forced: " + votes, nil
	case reachable > 0:
		f.end(StatusNotFailedOver, "not failed over: site reachable")
		return fmt.Sprintf("%s answers %s: %s", f.in.FailedSite, strings.Join(seenBy, ","), votes), nil
	default:
		f.end(StatusNotFailedOver, "not failed over: observer quorum not met")
		return votes, nil
	}
}

func probeSummary(r health.ProbeSiteResult) string {
	var up, down []string
	for _, c := range r.Components {
		if c.Reachable {
			up = append(up, c.Kind)
		} else {
			down = append(down, c.Kind)
		}
	}
	return fmt.Sprintf("answered: [%s], silent: [%s]", strings.Join(up, " "), strings.Join(down, " "))
}

// antiFlap refuses a second failover of the same site within the block
// period. The ledger is Temporal's own visibility store: FailoverSite runs
// carry MdcSite and, once they end, MdcOutcome; an activity lists the runs
// for this site that are still open or closed within the block period.
// Counted: runs that failed over (outcome failed-over) and other open,
// non-drill runs of the same site (a concurrent failover). Drills, dry
// runs, refusals and failed runs do not count, so retrying a failed
// failover is never blocked.
func (f *failover) antiFlap(ctx workflow.Context) (string, error) {
	now := workflow.Now(ctx)
	since := now.Add(-f.in.Policy.BlockPeriod)
	query := fmt.Sprintf("WorkflowType = '%s' AND %s = '%s' AND (ExecutionStatus = 'Running' OR CloseTime >= '%s')",
		FailoverSiteName, AttrSite.GetName(), quoteQuery(f.in.FailedSite), since.UTC().Format(time.RFC3339Nano))
	var r temporalops.ListWorkflowsResult
	err := workflow.ExecuteActivity(withSite(ctx, f.in.TargetSite), opsA.ListWorkflows,
		temporalops.ListWorkflowsInput{Query: query, Limit: 100}).Get(ctx, &r)
	if err != nil {
		if f.in.Force {
			f.force("anti-flapping check failed: " + err.Error())
			return "forced: the check could not run", nil
		}
		return "", fmt.Errorf("anti-flapping check (list recent failovers of %s in Temporal): %w; rerun with Force to skip the check", f.in.FailedSite, err)
	}
	self := workflow.GetInfo(ctx).WorkflowExecution.RunID
	runs := r.Executions
	sort.SliceStable(runs, func(i, j int) bool { return runs[i].CloseTime.After(runs[j].CloseTime) })
	var block string
	for _, e := range runs {
		if e.RunID == self || e.Attributes[AttrMode.GetName()] == ModeTest {
			continue
		}
		if e.Status == "Running" {
			block = fmt.Sprintf("another failover of %s is running (workflow %s, run %s)", f.in.FailedSite, e.WorkflowID, e.RunID)
			break
		}
		if e.Attributes[AttrOutcome.GetName()] == StatusFailedOver && !e.CloseTime.Before(since) {
			block = fmt.Sprintf("%s failed over %s ago (workflow %s, run %s), within the block period of %s",
				f.in.FailedSite, now.Sub(e.CloseTime).Round(time.Second), e.WorkflowID, e.RunID, f.in.Policy.BlockPeriod)
			break
		}
	}
	switch {
	case block == "":
		return fmt.Sprintf("no failover of %s in the last %s", f.in.FailedSite, f.in.Policy.BlockPeriod), nil
	case f.in.Force:
		f.force("anti-flapping: " + block)
		return "forced: " + block, nil
	default:
		f.end(StatusRefused, "refused: "+block+"; rerun with Force to override")
		return block, nil
	}
}

// quoteQuery escapes a value for a single-quoted visibility query string.
func quoteQuery(s string) string { return strings.ReplaceAll(s, "'", `\'`) }

// registerApproval accepts approve/reject both as updates (the caller gets
// the decision back, and a late or duplicate call is rejected by the
// validator) and as signals (fire and forget, e.g. from a chat bot).
func (f *failover) registerApproval(ctx workflow.Context) error {
	for _, name := range []string{ApproveName, RejectName} {
		approve := name == ApproveName
		err := workflow.SetUpdateHandlerWithOptions(ctx, name,
			func(ctx workflow.Context, a Approval) (ApprovalDecision, error) {
				f.decide(ctx, approve, a, "update")
				return *f.res.Approval, nil
			},
			workflow.UpdateHandlerOptions{Validator: func(a Approval) error { return f.checkApproval(a) }})
		if err != nil {
			return err
		}
	}
	approveCh, rejectCh := workflow.GetSignalChannel(ctx, ApproveName), workflow.GetSignalChannel(ctx, RejectName)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var a Approval
			approve := false
			s := workflow.NewSelector(ctx)
			s.AddReceive(approveCh, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, &a); approve = true })
			s.AddReceive(rejectCh, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, &a) })
			s.Select(ctx)
			if err := f.checkApproval(a); err != nil {
				workflow.GetLogger(ctx).Warn("approval signal ignored", "signal", map[bool]string{true: ApproveName, false: RejectName}[approve], "by", a.By, "reason", err.Error())
				continue
			}
			f.decide(ctx, approve, a, "signal")
		}
	})
	return nil
}

// checkApproval says why an approval cannot be taken; nil means it can.
// Approvals sent before the gate is reached are kept: the gate then passes
// at once.
func (f *failover) checkApproval(a Approval) error {
	switch {
	case f.in.Policy.ApprovalMode != ApprovalRequired || f.in.Mode == ModeTest:
		return errors.New("this failover does not wait for approval (policy mode " + f.in.Policy.ApprovalMode + ", mode " + f.in.Mode + ")")
	case strings.TrimSpace(a.By) == "":
		return errors.New("approval needs the approver's name in By")
	case f.res.Approval != nil:
		d := f.res.Approval
		return fmt.Errorf("already decided: %s by %s at %s", d.Decision, d.By, d.At.UTC().Format(time.RFC3339))
	}
	return nil
}

func (f *failover) decide(ctx workflow.Context, approve bool, a Approval, via string) {
	d := ApprovalDecision{Decision: DecisionRejected, By: a.By, Comment: a.Comment, Via: via, At: workflow.Now(ctx)}
	if approve {
		d.Decision = DecisionApproved
	}
	f.res.Approval = &d
}

// approval waits for approve or reject until the deadline, then applies the
// policy's default. The wait is a durable timer: a worker restart does not
// restart the deadline.
func (f *failover) approval(ctx workflow.Context) (string, error) {
	pol := f.in.Policy
	i := f.stepIndex("approval")
	deadline := workflow.Now(ctx).Add(pol.ApprovalDeadline)
	f.res.Progress.Steps[i].Detail = fmt.Sprintf("waiting for approve or reject until %s (then %s)", deadline.UTC().Format(time.RFC3339), pol.ApprovalDefault)
	got, err := workflow.AwaitWithTimeout(ctx, pol.ApprovalDeadline, func() bool { return f.res.Approval != nil })
	if err != nil {
		return "", err
	}
	if !got {
		d := ApprovalDecision{Decision: DecisionDefaultAbort, By: "policy", Via: "deadline", At: workflow.Now(ctx)}
		if pol.ApprovalDefault == ApprovalProceed {
			d.Decision = DecisionDefaultProceed
		}
		f.res.Approval = &d
	}
	d := f.res.Approval
	switch d.Decision {
	case DecisionApproved:
		return "approved by " + d.By + via(d), nil
	case DecisionDefaultProceed:
		return fmt.Sprintf("no decision within %s: policy default proceed", pol.ApprovalDeadline), nil
	case DecisionDefaultAbort:
		f.end(StatusAborted, fmt.Sprintf("not failed over: no approval within %s; the policy default is abort", pol.ApprovalDeadline))
		return "no decision: policy default abort", nil
	default:
		outcome := "not failed over: rejected by " + d.By
		if d.Comment != "" {
			outcome += " (" + d.Comment + ")"
		}
		f.end(StatusRejected, outcome)
		return "rejected by " + d.By + via(d), nil
	}
}

func via(d *ApprovalDecision) string { return " (" + d.Via + ")" }

func (f *failover) stepIndex(name string) int {
	for i, s := range f.res.Progress.Steps {
		if s.Name == name {
			return i
		}
	}
	return -1
}
