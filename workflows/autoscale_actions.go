package workflows

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/workflow"

	"github.com/microdc/mdc/activities/vsphere"
	"github.com/microdc/mdc/apperrors"
)

// TagScaled marks a VM as an extra copy made by ScaleOut ("true"). Only
// VMs carrying it are ever scaled in; base nodes never carry it.
const TagScaled = "mdc.scaled"

// scaleRole is the role (TagRole) of the web nodes a service runs on.
const scaleRole = "web"

var asVSphere *vsphere.Activities

// copyName is the name of copy i: "<site>-<service>-x<i>". The counter is
// workflow state, so names are deterministic and never reused.
func (a *autoscaler) copyName(i int) string {
	return fmt.Sprintf("%s-%s-x%d", a.in.Site, a.in.Service, i)
}

// copyIndex returns i for a name made by copyName, or 0.
func (a *autoscaler) copyIndex(name string) int {
	prefix := a.in.Site + "-" + a.in.Service + "-x"
	if !strings.HasPrefix(name, prefix) {
		return 0
	}
	i, err := strconv.Atoi(name[len(prefix):])
	if err != nil || i < 1 {
		return 0
	}
	return i
}

// discover lists the service's VMs at the site and reconciles the state
// with them: base nodes are the powered-on VMs without TagScaled, copies
// those with it (an earlier run's, whatever their power state). Nodes no
// longer listed are dropped. A continued run that cannot reach
// vCenter keeps the state it was given; a first run fails, and the next
// signal-with-start from the trigger starts it again.
func (a *autoscaler) discover(ctx workflow.Context) error {
	var r vsphere.FindVMsResult
	err := workflow.ExecuteActivity(withSite(ctx, a.in.Site), asVSphere.FindVMs, vsphere.FindVMsInput{
		Site: a.in.Site, Tags: map[string]string{vsphere.TagRole: scaleRole, vsphere.TagService: a.in.Service, vsphere.TagSite: a.in.Site},
	}).Get(ctx, &r)
	if err != nil {
		if a.st.Runs > 1 {
			workflow.GetLogger(ctx).Warn("cannot list the service's VMs; keeping the previous run's nodes", "error", err)
			return nil
		}
		return fmt.Errorf("discover the nodes of %s@%s in vCenter (FindVMs): %w", a.in.Service, a.in.Site, err)
	}
	found := map[string]bool{}
	for _, vm := range r.VMs {
		if vm.Template || vm.Tags[vsphere.TagReplicaOf] != "" {
			continue // golden images and other sites' replicas are not nodes
		}
		extra := vm.Tags[TagScaled] == "true"
		if !extra && vm.PowerState != vsphere.PoweredOn {
			continue
		}
		found[vm.Name] = true
		n := a.st.Nodes[vm.Name]
		if n == nil {
			n = &NodeState{}
			a.st.Nodes[vm.Name] = n
		}
		n.Extra, n.Host = extra, vm.Host
		if vm.PowerState == vsphere.PoweredOn && vm.IP != "" {
			n.IP = vm.IP
		}
		if extra && vm.PowerState != vsphere.PoweredOn && n.Band == "" {
			// A copy left powered off (an interrupted scale-in) serves
			// nothing and sends no samples: let the rule remove it.
			n.Band, n.Since = BandLow, workflow.Now(ctx)
		}
		if i := a.copyIndex(vm.Name); i >= a.st.NextIndex {
			a.st.NextIndex = i + 1
		}
	}
	for _, name := range a.st.nodeNames() {
		switch {
		case found[name]:
		case a.st.Nodes[name].Extra:
			a.st.forget(name)
		default:
			// A base node powered off or deleted since: dropped, but not
			// remembered as removed, so its samples bring it back when
			// it is powered on again.
			delete(a.st.Nodes, name)
		}
	}
	return nil
}

// scaleChildOptions start a ScaleOut/ScaleIn child under a deterministic ID.
// The child is abandoned, not cancelled, if Autoscale ends: a copy half
// made is finished (or compensated) by its own workflow, and the next
// Autoscale run's discovery finds it.
func scaleChildOptions(ctx workflow.Context, id string) workflow.Context {
	return workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:               id,
		WorkflowExecutionTimeout: time.Hour,
		ParentClosePolicy:        enumspb.PARENT_CLOSE_POLICY_ABANDON,
	})
}

// scaleOut runs one ScaleOut child and records its outcome. avoid is the
// hot node, whose host the copy should not share.
func (a *autoscaler) scaleOut(ctx workflow.Context, trigger, avoid string) (string, error) {
	st := a.st
	name := a.copyName(st.NextIndex)
	st.NextIndex++
	// Child IDs follow the autoscaler's ID scheme rather than the running
	// workflow's ID, so they are a function of the input: a replay, or an
	// autoscaler started under another ID, names the same child.
	id := AutoscaleWorkflowID(a.in.Service, a.in.Site) + "-out-" + name
	started := workflow.Now(ctx)
	st.Pending = &PendingScale{Kind: ScaleKindOut, Node: name, WorkflowID: id, Trigger: trigger, Started: started}
	var res ScaleOutResult
	err := workflow.ExecuteChildWorkflow(scaleChildOptions(ctx, id), ScaleOutName, ScaleOutInput{
		Site: a.in.Site, Service: a.in.Service, Name: name, Template: a.in.Template, Snapshot: a.in.Snapshot,
		Folder: a.in.Folder, Datastore: a.in.Datastore, Hosts: a.in.Hosts, Avoid: avoid,
		Port: a.in.Port, HealthPath: a.in.HealthPath, IPTimeout: a.in.IPTimeout, HealthTimeout: a.in.HealthTimeout,
		Reason: trigger,
	}).Get(ctx, &res)
	now := workflow.Now(ctx)
	st.Pending, st.LastOutAt = nil, now
	ev := ScaleEvent{Kind: ScaleKindOut, Node: name, Trigger: trigger, Started: started, Ended: now, Outcome: StepDone}
	if err != nil {
		ev.Outcome, ev.Error = StepFailed, err.Error()
		st.record(ev)
		st.forget(name)
		return "", fmt.Errorf("scale out %s@%s with %s: %w", a.in.Service, a.in.Site, name, err)
	}
	st.record(ev)
	n := st.Nodes[name]
	if n == nil {
		n = &NodeState{}
		st.Nodes[name] = n
	}
	n.Extra, n.Host, n.IP = true, res.Host, res.IP
	return name, nil
}

// scaleIn runs one ScaleIn child for copy name and records its outcome.
// A failed scale-in leaves the copy in the state: it is still there (a
// timed-out drain puts it back in rotation).
func (a *autoscaler) scaleIn(ctx workflow.Context, name, trigger string) error {
	st := a.st
	id := AutoscaleWorkflowID(a.in.Service, a.in.Site) + "-in-" + name
	started := workflow.Now(ctx)
	st.Pending = &PendingScale{Kind: ScaleKindIn, Node: name, WorkflowID: id, Trigger: trigger, Started: started}
	err := workflow.ExecuteChildWorkflow(scaleChildOptions(ctx, id), ScaleInName, ScaleInInput{
		Site: a.in.Site, Service: a.in.Service, Name: name, DrainDeadline: a.in.DrainDeadline, Reason: trigger,
	}).Get(ctx, nil)
	now := workflow.Now(ctx)
	st.Pending, st.LastInAt = nil, now
	ev := ScaleEvent{Kind: ScaleKindIn, Node: name, Trigger: trigger, Started: started, Ended: now, Outcome: StepDone}
	if err != nil {
		ev.Outcome, ev.Error = StepFailed, err.Error()
		st.record(ev)
		return fmt.Errorf("scale in %s@%s by removing %s: %w", a.in.Service, a.in.Site, name, err)
	}
	st.record(ev)
	st.forget(name)
	return nil
}

// validateScale rejects a manual scale the rule's bounds forbid, before it
// is accepted (a rejected update leaves no trace in history).
func (a *autoscaler) validateScale(_ workflow.Context, req ScaleRequest) error {
	p := a.in.Policy
	base, extra := a.st.counts()
	switch {
	case req.Replicas < p.Min || req.Replicas > p.Max:
		return apperrors.BadInput("scale %s@%s to %d replicas: outside the policy's bounds %d..%d (now %d)",
			a.in.Service, a.in.Site, req.Replicas, p.Min, p.Max, base+extra)
	case req.Replicas < base:
		return apperrors.BadInput("scale %s@%s to %d replicas: the site has %d base nodes, which autoscale never removes (only extra copies); ask for %d..%d",
			a.in.Service, a.in.Site, req.Replicas, base, max(base, p.Min), p.Max)
	}
	return nil
}

// scale is the `scale` update: it waits for any running child, then runs
// ScaleOut or ScaleIn children one at a time until the site has
// req.Replicas nodes. Manual actions ignore the cooldowns but restart
// them, and the rule applies again afterwards (idle copies made by hand
// are removed after in_window like any other).
func (a *autoscaler) scale(ctx workflow.Context, req ScaleRequest) (ScaleResult, error) {
	// An update can arrive before the run has asked vCenter for its nodes
	// (update-with-start does exactly that): counting before then would
	// see none and clone too many.
	if err := workflow.Await(ctx, func() bool { return a.discovered && !a.busy }); err != nil {
		return ScaleResult{}, err
	}
	a.busy = true
	defer func() {
		a.busy = false
		a.wake.SendAsync(struct{}{})
	}()
	trigger := "manual: " + req.Reason
	res := ScaleResult{Before: len(a.st.Nodes)}
	for len(a.st.Nodes) < req.Replicas {
		name, err := a.scaleOut(ctx, trigger, "")
		if err != nil {
			res.After = len(a.st.Nodes)
			return res, err
		}
		res.Added = append(res.Added, name)
	}
	for len(a.st.Nodes) > req.Replicas {
		name := a.idlestCopy()
		if name == "" {
			res.After = len(a.st.Nodes)
			return res, errors.New("no extra copy left to remove: base nodes are never scaled in")
		}
		if err := a.scaleIn(ctx, name, trigger); err != nil {
			res.After = len(a.st.Nodes)
			return res, err
		}
		res.Removed = append(res.Removed, name)
	}
	res.After = len(a.st.Nodes)
	return res, nil
}

// idlestCopy picks the copy to remove by hand: the least loaded, the
// newest on a tie (highest index).
func (a *autoscaler) idlestCopy() string {
	best := ""
	for _, name := range a.st.nodeNames() {
		n := a.st.Nodes[name]
		if !n.Extra {
			continue
		}
		if b := a.st.Nodes[best]; best == "" || n.Load < b.Load ||
			(n.Load == b.Load && a.copyIndex(name) > a.copyIndex(best)) {
			best = name
		}
	}
	return best
}
