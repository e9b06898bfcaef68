package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/microdc/mdc/activities/events"
	"github.com/microdc/mdc/activities/vsphere"
	"github.com/microdc/mdc/apperrors"
)

// ReplicateVMInput names a protected VM, where its replicas go and how
// fresh they must be; NewReplicateVMInput builds it from the platform file.
type ReplicateVMInput struct {
	VM string
	// Site is where VM runs; Target is where its replicas are kept.
	Site   string
	Target string
	// RPO is how old the newest replica may get; 0 means no check.
	RPO time.Duration
	// Keep is how many powered-off replicas to keep at Target; 3 when zero.
	Keep int `json:",omitempty"`
}

// Outcomes ReplicateVM records in the MdcOutcome search attribute.
const (
	OutcomeOK          = "ok"
	OutcomeRPOViolated = "rpo-violated"
	OutcomeFailed      = "failed"
)

// ReplicateVMResult describes the new replica and the VM's protection.
type ReplicateVMResult struct {
	Replica string
	// Changed is false when a retried run found its replica made already.
	Changed bool
	Method  string `json:",omitempty"`
	Bytes   int64  `json:",omitempty"`
	// Pruned are the old replicas destroyed; Kept the ones left, newest first.
	Pruned []string `json:",omitempty"`
	Kept   []string `json:",omitempty"`
	// Newest is the newest powered-off replica after the run and Age how
	// old its data is (it was taken at the start of the copy).
	Newest string
	Age    time.Duration
	// PreviousAge is how old the newest replica was when the run started:
	// the data a site failure just before this run would have lost. Zero
	// with FirstReplica.
	PreviousAge  time.Duration `json:",omitempty"`
	FirstReplica bool          `json:",omitempty"`
	RPO          time.Duration `json:",omitempty"`
	// RPOViolated is set when PreviousAge or Age exceeded the RPO;
	// Violation says which. It is also in the MdcOutcome search attribute
	// ("rpo-violated"), so `temporal workflow list --query
	// 'MdcOutcome="rpo-violated"'` finds every violation.
	RPOViolated bool   `json:",omitempty"`
	Violation   string `json:",omitempty"`
	// EventPublished is true once the violation event is in JetStream
	// (subject ReplicationViolationSubject).
	EventPublished bool `json:",omitempty"`
	Progress       Progress
}

// ReplicateVMWorkflow copies a VM to another site as a powered-off, tagged
// replica named "<vm>-replica-<UTC time>" (from workflow time, so a retry
// finds its own replica), keeps the newest Keep replicas and measures the
// replicas' age against the RPO. A schedule per protected VM runs it (see
// package schedules). A violation, or a failed replication, is published
// as an event on ReplicationViolationSubject and recorded in the result
// (when there is one), the progress and the MdcOutcome and MdcRPOSeconds
// search attributes.
func ReplicateVMWorkflow(ctx workflow.Context, in ReplicateVMInput) (ReplicateVMResult, error) {
	r := &replication{in: in, res: ReplicateVMResult{RPO: in.RPO}}
	if err := r.setup(ctx); err != nil {
		return r.res, err
	}
	err := r.run(ctx)
	r.res.Progress.skipRest(ctx, "not reached: an earlier step failed")
	outcome := OutcomeOK
	switch {
	case err != nil:
		outcome = OutcomeFailed
		r.violation(fmt.Sprintf("replication failed: %v", err))
	case r.res.RPOViolated:
		outcome = OutcomeRPOViolated
	}
	rpo := r.res.PreviousAge
	if rpo == 0 {
		rpo = r.res.Age
	}
	if uerr := workflow.UpsertTypedSearchAttributes(ctx, AttrOutcome.ValueSet(outcome), AttrRPO.ValueSet(rpo.Seconds())); uerr != nil && err == nil {
		err = uerr
	}
	if r.res.RPOViolated {
		workflow.GetLogger(ctx).Warn("RPO violated", "vm", in.VM, "site", in.Site, "target", in.Target, "violation", r.res.Violation)
		r.publish(ctx, outcome)
	}
	return r.res, err
}

// ReplicationViolationSubject is the subject of the event ReplicateVM
// publishes when a VM's protection violated its RPO (or its replication
// failed): monitors and operators alert on it.
const ReplicationViolationSubject = events.SubjectPrefix + "replication.rpo-violated"

// RPOViolationEvent is the payload of that event.
type RPOViolationEvent struct {
	VM, Site, Target string
	// Outcome is rpo-violated (a late replica, fixed by this run) or
	// failed (no new replica: the VM is still unprotected).
	Outcome     string
	RPOSeconds  float64
	PreviousAge float64 `json:",omitempty"`
	AgeSeconds  float64 `json:",omitempty"`
	Replica     string  `json:",omitempty"`
	Violation   string
}

// publish sends the violation event from the target site's worker (the
// site that holds the replicas, still up when the source is the problem).
// An event that cannot be published is logged, not fatal: the search
// attributes and the progress already record the violation.
func (r *replication) publish(ctx workflow.Context, outcome string) {
	p := &r.res.Progress
	step := p.planned("publish violation", ReplicationViolationSubject)
	_ = p.run(ctx, step, func() (string, error) {
		info := workflow.GetInfo(ctx)
		id := fmt.Sprintf("%s/%s/rpo-violated", info.WorkflowExecution.ID, info.WorkflowExecution.RunID)
		// encoding/json of a struct without maps is deterministic; workflowcheck
		// flags it only for the encoder cache it keeps.
		//workflowcheck:ignore
		data, err := events.NewEvent(id, "replication.rpo-violated", r.in.Site, workflow.Now(ctx), RPOViolationEvent{
			VM: r.in.VM, Site: r.in.Site, Target: r.in.Target, Outcome: outcome, RPOSeconds: r.in.RPO.Seconds(),
			PreviousAge: r.res.PreviousAge.Seconds(), AgeSeconds: r.res.Age.Seconds(), Replica: r.res.Replica, Violation: r.res.Violation,
		})
		if err != nil {
			return "", err
		}
		var pr events.PublishResult
		err = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, disasterOptions(r.in.Target)), eventsOps.Publish,
			events.PublishInput{Subject: ReplicationViolationSubject, Data: data}).Get(ctx, &pr)
		if err != nil {
			workflow.GetLogger(ctx).Error("could not publish the RPO violation event", "vm", r.in.VM, "error", err)
			return "", fmt.Errorf("publish %s: %w", ReplicationViolationSubject, err)
		}
		r.res.EventPublished = true
		return fmt.Sprintf("%s #%d", pr.Stream, pr.Sequence), nil
	})
}

type replication struct {
	in  ReplicateVMInput
	res ReplicateVMResult
	now time.Time
}

func (r *replication) setup(ctx workflow.Context) error {
	in := &r.in
	if in.Keep == 0 {
		in.Keep = 3
	}
	var problems []string
	if in.VM == "" || in.Site == "" || in.Target == "" {
		problems = append(problems, "vm, site and target are required")
	} else if in.Site == in.Target {
		problems = append(problems, fmt.Sprintf("target %s is the VM's own site: replicas protect against losing the site, keep them elsewhere", in.Target))
	}
	if in.RPO < 0 || in.Keep < 0 {
		problems = append(problems, fmt.Sprintf("rpo %s and keep %d must not be negative", in.RPO, in.Keep))
	}
	if len(problems) > 0 {
		return apperrors.BadInput("ReplicateVM %s: %s", in.VM, strings.Join(problems, "; "))
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, AttrSite.ValueSet(in.Site), AttrTarget.ValueSet(in.Target)); err != nil {
		return err
	}
	p := &r.res.Progress
	p.planned("check replicas", in.Target)
	p.planned("replicate", fmt.Sprintf("%s %s -> %s", in.VM, in.Site, in.Target))
	p.planned("prune", fmt.Sprintf("keep %d", in.Keep))
	p.planned("check RPO", in.RPO.String())
	return registerProgress(ctx, p)
}

func (r *replication) run(ctx workflow.Context) error {
	p := &r.res.Progress
	// One time for the whole run: the replica's name, its replicated-at
	// tag and the ages below all refer to the moment the copy started.
	r.now = workflow.Now(ctx).UTC().Truncate(time.Second)
	if err := p.run(ctx, 0, func() (string, error) { return r.before(ctx) }); err != nil {
		return err
	}
	if err := p.run(ctx, 1, func() (string, error) { return r.replicate(ctx) }); err != nil {
		return err
	}
	if err := p.run(ctx, 2, func() (string, error) { return r.prune(ctx) }); err != nil {
		return err
	}
	return p.run(ctx, 3, func() (string, error) { return r.check(ctx) })
}

// newest is the newest powered-off replica with a known time: powered-on
// replicas were promoted by a failover and are no longer recovery points.
func newest(rs []vsphere.Replica) (vsphere.Replica, bool) {
	for i := len(rs) - 1; i >= 0; i-- {
		if rs[i].PowerState != vsphere.PoweredOn && !rs[i].ReplicatedAt.IsZero() {
			return rs[i], true
		}
	}
	return vsphere.Replica{}, false
}

func (r *replication) list(ctx workflow.Context) ([]vsphere.Replica, error) {
	var lr vsphere.ListReplicasResult
	err := workflow.ExecuteActivity(withSite(ctx, r.in.Target), vsphereOps.ListReplicas,
		vsphere.ListReplicasInput{Site: r.in.Target, Of: r.in.VM}).Get(ctx, &lr)
	if err != nil {
		return nil, fmt.Errorf("list the replicas of %s at site %s: %w", r.in.VM, r.in.Target, err)
	}
	return lr.Replicas, nil
}

func (r *replication) before(ctx workflow.Context) (string, error) {
	rs, err := r.list(ctx)
	if err != nil {
		return "", err
	}
	last, ok := newest(rs)
	if !ok {
		r.res.FirstReplica = true
		return "no replica yet", nil
	}
	r.res.PreviousAge = r.now.Sub(last.ReplicatedAt)
	if r.in.RPO > 0 && r.res.PreviousAge > r.in.RPO {
		r.violation(fmt.Sprintf("newest replica %s was %s old before this run, more than the RPO of %s", last.Name, r.res.PreviousAge, r.in.RPO))
	}
	return fmt.Sprintf("newest %s, %s old", last.Name, r.res.PreviousAge), nil
}

func (r *replication) violation(v string) {
	r.res.RPOViolated = true
	if r.res.Violation != "" {
		v = r.res.Violation + "; " + v
	}
	r.res.Violation = v
}

func (r *replication) replicate(ctx workflow.Context) (string, error) {
	in := r.in
	// The replica carries the VM's role and service so that a failover
	// that powers it on knows what it is.
	var found vsphere.FindVMsResult
	err := workflow.ExecuteActivity(withSite(ctx, in.Site), vsphereOps.FindVMs, vsphere.FindVMsInput{Site: in.Site, Names: []string{in.VM}}).Get(ctx, &found)
	if err != nil {
		return "", fmt.Errorf("look up VM %s at site %s: %w", in.VM, in.Site, err)
	}
	if len(found.VMs) == 0 {
		return "", temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("VM %s does not exist at site %s: fix the platform file's replication list", in.VM, in.Site), apperrors.TypeNotFound, nil)
	}
	tags := map[string]string{}
	for _, k := range []string{vsphere.TagRole, vsphere.TagService} {
		if v := found.VMs[0].Tags[k]; v != "" {
			tags[k] = v
		}
	}
	r.res.Replica = fmt.Sprintf("%s-replica-%s", in.VM, r.now.Format("20060102T150405"))
	var res vsphere.ReplicateVMResult
	// The copy runs on the source site's worker: it reads the VM's disks
	// there (the worker also needs the target's vCenter to write them).
	err = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, vmTaskOptions(in.Site, replicateTimeout)), vsphereOps.ReplicateVM, vsphere.ReplicateVMInput{
		Site: in.Site, VM: in.VM, TargetSite: in.Target, ReplicaName: r.res.Replica, ReplicatedAt: r.now, Tags: tags,
	}).Get(ctx, &res)
	if err != nil {
		return "", fmt.Errorf("replicate %s from site %s to %s as %s: %w", in.VM, in.Site, in.Target, r.res.Replica, err)
	}
	r.res.Changed, r.res.Method, r.res.Bytes = res.Changed, res.Method, res.Bytes
	return fmt.Sprintf("%s on %s (%s, %d bytes)", res.ReplicaName, res.Host, res.Method, res.Bytes), nil
}

func (r *replication) prune(ctx workflow.Context) (string, error) {
	var pr vsphere.PruneReplicasResult
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, vmTaskOptions(r.in.Target, 30*time.Minute)), vsphereOps.PruneReplicas,
		vsphere.PruneReplicasInput{Site: r.in.Target, Of: r.in.VM, Keep: r.in.Keep}).Get(ctx, &pr)
	if err != nil {
		return "", fmt.Errorf("prune the replicas of %s at site %s to %d: %w", r.in.VM, r.in.Target, r.in.Keep, err)
	}
	r.res.Pruned, r.res.Kept = pr.Destroyed, pr.Kept
	detail := fmt.Sprintf("destroyed %d, kept %d", len(pr.Destroyed), len(pr.Kept))
	if len(pr.InUse) > 0 {
		detail += fmt.Sprintf(", %d in use (%s)", len(pr.InUse), strings.Join(pr.InUse, " "))
	}
	return detail, nil
}

func (r *replication) check(ctx workflow.Context) (string, error) {
	rs, err := r.list(ctx)
	if err != nil {
		return "", err
	}
	last, ok := newest(rs)
	if !ok {
		return "", apperrors.Conflict("site %s lists no powered-off replica of %s right after %s was made: check the target's inventory",
			r.in.Target, r.in.VM, r.res.Replica)
	}
	r.res.Newest = last.Name
	r.res.Age = workflow.Now(ctx).Sub(last.ReplicatedAt)
	if r.in.RPO > 0 && r.res.Age > r.in.RPO {
		r.violation(fmt.Sprintf("newest replica %s is %s old after this run, more than the RPO of %s: the copy takes longer than the RPO allows",
			last.Name, r.res.Age.Round(time.Second), r.in.RPO))
	}
	if r.res.RPOViolated {
		return "violated: " + r.res.Violation, nil
	}
	return fmt.Sprintf("%s is %s old (RPO %s)", last.Name, r.res.Age.Round(time.Second), r.in.RPO), nil
}
