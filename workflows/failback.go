package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/microdc/mdc/activities/db"
	"github.com/microdc/mdc/activities/dns"
	"github.com/microdc/mdc/apperrors"
)

// FailbackInput says which site came back after a failover and how to
// reprotect it; NewFailbackInput builds it from the platform file.
type FailbackInput struct {
	// ReturnedSite is the site that failed and is back; CurrentPrimarySite
	// is where the service and the database primary are now.
	ReturnedSite       string
	CurrentPrimarySite string
	// Replicate are the returned site's protected VMs, re-replicated (as
	// ReplicateVM children) before anything moves back.
	Replicate []ReplicateVMInput `json:",omitempty"`
	// DNS are the records whose servers at the returned site missed the
	// failover's cutover (FailoverSite's DNSUnreachable): they are set to
	// the answers they have now everywhere else.
	DNS []FailbackRecord `json:",omitempty"`
	// SwitchBack, when set, is the planned FailoverSite run that moves the
	// service back (FailedSite CurrentPrimarySite, TargetSite ReturnedSite,
	// mode planned; Failback enforces those three). Nil stops after
	// reprotecting, leaving the switch-back to an operator.
	SwitchBack *FailoverSiteInput `json:",omitempty"`
}

// FailbackRecord is one geo record as every site must serve it now.
type FailbackRecord struct {
	Zone        string
	Name        string
	TTL         int
	Answers     []dns.GeoAnswer
	Fallback    string
	HealthCheck *dns.HealthCheck `json:",omitempty"`
}

// FailbackResult says how far the failback went.
type FailbackResult struct {
	// DBRepointed is false when the returned site already replicated from
	// the current primary.
	DBRepointed bool
	// Replicas are the new replicas of the re-replicated VMs.
	Replicas []string `json:",omitempty"`
	// DNSRepaired are the records the returned site's servers had to change.
	DNSRepaired []string `json:",omitempty"`
	// SwitchBack is the planned failover's status (Status* constants);
	// empty when no switch-back was asked for.
	SwitchBack        string `json:",omitempty"`
	SwitchBackOutcome string `json:",omitempty"`
	Progress          Progress
}

// FailbackWorkflow reprotects a site that came back after a failover: it
// makes the returned site's database a replica of the current primary,
// re-replicates the site's protected VMs, repairs the DNS records its
// servers missed and, with SwitchBack, runs a planned FailoverSite back to
// it. Every step is idempotent, so a failed failback is simply run again.
func FailbackWorkflow(ctx workflow.Context, in FailbackInput) (FailbackResult, error) {
	var res FailbackResult
	if err := checkFailback(&in); err != nil {
		return res, err
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, AttrSite.ValueSet(in.ReturnedSite), AttrTarget.ValueSet(in.CurrentPrimarySite)); err != nil {
		return res, err
	}
	p := &res.Progress
	dbStep := p.planned("resync database", fmt.Sprintf("%s replica of %s", in.ReturnedSite, in.CurrentPrimarySite))
	repStep := p.planned("re-replicate", vmNames(in.Replicate))
	dnsStep := p.planned("repair DNS", in.ReturnedSite)
	swStep := p.planned("switch back", fmt.Sprintf("planned FailoverSite %s -> %s", in.CurrentPrimarySite, in.ReturnedSite))
	if err := registerProgress(ctx, p); err != nil {
		return res, err
	}
	err := p.run(ctx, dbStep, func() (string, error) { return resync(ctx, in, &res) })
	if err == nil {
		err = p.run(ctx, repStep, func() (string, error) { return reReplicate(ctx, in, &res) })
	}
	if err == nil {
		err = p.run(ctx, dnsStep, func() (string, error) { return repairDNS(ctx, in, &res) })
	}
	if err == nil && in.SwitchBack == nil {
		p.end(ctx, swStep, StepSkipped, "not asked for: run FailoverSite (planned) when ready")
	} else if err == nil {
		err = p.run(ctx, swStep, func() (string, error) { return switchBack(ctx, in, &res) })
	}
	p.skipRest(ctx, "not reached: an earlier step failed")
	return res, err
}

func checkFailback(in *FailbackInput) error {
	var problems []string
	if in.ReturnedSite == "" || in.CurrentPrimarySite == "" || in.ReturnedSite == in.CurrentPrimarySite {
		problems = append(problems, fmt.Sprintf("returned site %q and current primary site %q must be two different sites", in.ReturnedSite, in.CurrentPrimarySite))
	}
	for _, r := range in.DNS {
		if r.Zone == "" || r.Name == "" || r.TTL <= 0 || len(r.Answers) == 0 {
			problems = append(problems, fmt.Sprintf("dns record %q needs a zone, a TTL > 0 and answers", r.Name))
		}
	}
	if sb := in.SwitchBack; sb != nil {
		if sb.FailedSite != "" && sb.FailedSite != in.CurrentPrimarySite || sb.TargetSite != "" && sb.TargetSite != in.ReturnedSite ||
			sb.Mode != "" && sb.Mode != ModePlanned {
			problems = append(problems, fmt.Sprintf("switch back must be a planned failover from %s to %s, got %s from %q to %q",
				in.CurrentPrimarySite, in.ReturnedSite, sb.Mode, sb.FailedSite, sb.TargetSite))
		}
		sb.FailedSite, sb.TargetSite, sb.Mode = in.CurrentPrimarySite, in.ReturnedSite, ModePlanned
	}
	if len(problems) > 0 {
		return apperrors.BadInput("Failback: %s", strings.Join(problems, "; "))
	}
	return nil
}

func vmNames(in []ReplicateVMInput) string {
	names := make([]string, len(in))
	for i, r := range in {
		names[i] = r.VM
	}
	return strings.Join(names, " ")
}

// resync makes the returned site's database follow the current primary.
// Repoint demotes it if it came back writable, and refuses (Rejected) if it
// holds transactions the primary lacks: those need a rebuild, not a resync.
func resync(ctx workflow.Context, in FailbackInput, res *FailbackResult) (string, error) {
	var st db.ReplicationStatusResult
	err := workflow.ExecuteActivity(withSite(ctx, in.CurrentPrimarySite), dbOps.ReplicationStatus,
		db.ReplicationStatusInput{Site: in.CurrentPrimarySite}).Get(ctx, &st)
	if err != nil {
		return "", fmt.Errorf("read the database state of the current primary %s: %w", in.CurrentPrimarySite, err)
	}
	if st.Role != db.RolePrimary {
		return "", apperrors.Rejected("site %s's database is %s, not a writable primary: the returned site %s cannot resync from it; "+
			"check which site is primary before failing back", in.CurrentPrimarySite, st.Role, in.ReturnedSite)
	}
	var r db.RepointResult
	err = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, waitOptions(in.ReturnedSite, db.DefaultReplicationWait)), dbOps.Repoint,
		db.RepointInput{Site: in.ReturnedSite, PrimarySite: in.CurrentPrimarySite}).Get(ctx, &r)
	if err != nil {
		return "", fmt.Errorf("make site %s's database a replica of %s: %w", in.ReturnedSite, in.CurrentPrimarySite, err)
	}
	res.DBRepointed = r.Changed
	if !r.Changed {
		return "already replicating from " + r.PrimaryAddress, nil
	}
	return "replicating from " + r.PrimaryAddress + " at " + r.GTIDSlavePos, nil
}

// reReplicate runs one ReplicateVM child per protected VM, all at once.
func reReplicate(ctx workflow.Context, in FailbackInput, res *FailbackResult) (string, error) {
	parent := workflow.GetInfo(ctx).WorkflowExecution.ID
	futures := make([]workflow.ChildWorkflowFuture, len(in.Replicate))
	for i, r := range in.Replicate {
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: parent + "/replicate-" + r.Site + "-" + r.VM})
		futures[i] = workflow.ExecuteChildWorkflow(cctx, ReplicateVMName, r)
	}
	var failed []string
	var first error
	for i, f := range futures {
		var r ReplicateVMResult
		if err := f.Get(ctx, &r); err != nil {
			failed = append(failed, in.Replicate[i].VM)
			if first == nil {
				first = err
			}
			continue
		}
		res.Replicas = append(res.Replicas, r.Replica)
	}
	if first != nil {
		return "", fmt.Errorf("re-replicate %s: %w", strings.Join(failed, ", "), first)
	}
	return strings.Join(res.Replicas, " "), nil
}

// repairDNS sets each record at the returned site to what every other site
// serves now (its servers were down when the failover changed it).
func repairDNS(ctx workflow.Context, in FailbackInput, res *FailbackResult) (string, error) {
	for _, d := range in.DNS {
		var r dns.ChangeResult
		err := workflow.ExecuteActivity(withSite(ctx, in.ReturnedSite), dnsA.SetGeoRecord, dns.SetGeoRecordInput{
			Site: in.ReturnedSite, Zone: d.Zone, Name: d.Name, TTL: d.TTL, Answers: d.Answers, Fallback: d.Fallback, HealthCheck: d.HealthCheck,
		}).Get(ctx, &r)
		if err != nil {
			return "", fmt.Errorf("repair %s on site %s's DNS servers: %w", d.Name, in.ReturnedSite, err)
		}
		if r.Changed {
			res.DNSRepaired = append(res.DNSRepaired, d.Name)
		}
	}
	return fmt.Sprintf("%d of %d records changed", len(res.DNSRepaired), len(in.DNS)), nil
}

// switchBack runs the planned failover back to the returned site as a child
// workflow (its own history, progress and approval gate).
func switchBack(ctx workflow.Context, in FailbackInput, res *FailbackResult) (string, error) {
	parent := workflow.GetInfo(ctx).WorkflowExecution.ID
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: parent + "/switch-back"})
	var r FailoverSiteResult
	if err := workflow.ExecuteChildWorkflow(cctx, FailoverSiteName, *in.SwitchBack).Get(ctx, &r); err != nil {
		return "", fmt.Errorf("planned failover from %s back to %s: %w", in.CurrentPrimarySite, in.ReturnedSite, err)
	}
	res.SwitchBack, res.SwitchBackOutcome = r.Status, r.Outcome
	return r.Status + ": " + r.Outcome, nil
}
