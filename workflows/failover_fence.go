package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/microdc/mdc/activities/db"
	"github.com/microdc/mdc/activities/dns"
	"github.com/microdc/mdc/activities/vsphere"
	"github.com/microdc/mdc/apperrors"
)

var (
	dbA *db.Activities
	vsA *vsphere.Activities
)

// ErrTypeUnfenced marks a failover that stopped because neither the failed
// site's traffic nor its database could be fenced: promoting then could
// leave two writable primaries.
const ErrTypeUnfenced = "Unfenced"

// failedCtx routes an activity to the failed site. In a disaster its worker
// may be gone with it, so it gets disasterOptions: two quick tries and a
// short wait for the worker, and the failure is recorded, not fatal.
func (f *failover) failedCtx(ctx workflow.Context) workflow.Context {
	if f.in.Mode == ModeDisaster {
		return workflow.WithActivityOptions(ctx, disasterOptions(f.in.FailedSite))
	}
	return withSite(ctx, f.in.FailedSite)
}

// lowerTTL (planned) lowers each record's TTL everywhere and waits one old
// TTL while the failed site still serves, so that the DNSCutover child
// later waits only the short TTL: the outage of a planned failover is then
// seconds, not the record's normal TTL.
func (f *failover) lowerTTL(ctx workflow.Context) (string, error) {
	sites := f.siteNames()
	oldTTL := 0
	for _, svc := range f.in.Services {
		reads := make([]workflow.Future, len(sites))
		for i, site := range sites {
			reads[i] = workflow.ExecuteActivity(withSite(ctx, site), dnsA.ReadRecord,
				dns.ReadRecordInput{Site: site, Zone: svc.Zone, Name: svc.Record, Type: "LUA"})
		}
		for i, r := range reads {
			var rr dns.ReadRecordResult
			if err := r.Get(ctx, &rr); err != nil {
				return "", fmt.Errorf("read %s at site %s: %w", svc.Record, sites[i], err)
			}
			for _, s := range rr.Servers {
				if s.Found && s.TTL > oldTTL {
					oldTTL = s.TTL
				}
			}
		}
		sets := make([]workflow.Future, len(sites))
		for i, site := range sites {
			sets[i] = workflow.ExecuteActivity(withSite(ctx, site), dnsA.SetTTL,
				dns.SetTTLInput{Site: site, Zone: svc.Zone, Name: svc.Record, Type: "LUA", TTL: f.in.Timeouts.CutoverTTL})
		}
		for i, s := range sets {
			if err := s.Get(ctx, nil); err != nil && !apperrors.Is(err, apperrors.TypeNotFound) {
				return "", fmt.Errorf("lower the TTL of %s at site %s: %w", svc.Record, sites[i], err)
			}
		}
	}
	if oldTTL <= f.in.Timeouts.CutoverTTL {
		return fmt.Sprintf("TTL already %ds or less", f.in.Timeouts.CutoverTTL), nil
	}
	// Resolvers may hold answers for one old TTL; after it every client
	// holds the short one.
	if err := workflow.Sleep(ctx, time.Duration(oldTTL)*time.Second); err != nil {
		return "", err
	}
	return fmt.Sprintf("lowered to %ds, waited the old %ds", f.in.Timeouts.CutoverTTL, oldTTL), nil
}

// fence keeps the failed site from serving and writing before anything is
// promoted. Disaster: DNS moves every region to the target first (traffic
// fencing: the site is confirmed unreachable, so its own fencing is
// unlikely to work), while the VMs are powered off and the database set
// read-only where they still answer; what does not answer is recorded as
// unfenced. Planned: the database must be fenced. Promotion is allowed only
// when traffic (DNS) or the database is fenced.
func (f *failover) fence(ctx workflow.Context) (string, error) {
	disaster := f.in.Mode == ModeDisaster
	if disaster && workflow.GetVersion(ctx, fenceDeadSiteChange, workflow.DefaultVersion, 1) == 1 {
		return f.fenceDisaster(ctx)
	}
	f.fenceStarted, f.fencedAt = true, workflow.Now(ctx)
	var cutovers []workflow.ChildWorkflowFuture
	if disaster {
		cutovers = f.startCutovers(ctx, ModeDisaster, "fence")
	}
	vmDone, vmSet := workflow.NewFuture(ctx)
	workflow.Go(ctx, func(ctx workflow.Context) { vmSet.SetError(f.fenceVMs(ctx)) })
	dbFut := workflow.ExecuteActivity(f.failedCtx(ctx), dbA.Fence,
		db.FenceInput{Site: f.in.FailedSite, KillSessions: f.in.DBAppUser != "", AppUser: f.in.DBAppUser})

	rep := &f.res.Fence
	var dnsErr error
	if disaster {
		if dnsErr = f.waitCutovers(ctx, cutovers); dnsErr == nil {
			f.dnsFenced, f.dnsSwitched, rep.TrafficFencedByDNS = true, true, true
		} else {
			rep.Unfenced = append(rep.Unfenced, "traffic: "+errMsg(dnsErr))
		}
	}
	// Both fences are waited for before deciding, so that a rollback knows
	// exactly what was fenced.
	vmErr := vmDone.Get(ctx, nil)
	var fr db.FenceResult
	dbErr := dbFut.Get(ctx, &fr)
	if dbErr == nil {
		f.dbFenced, rep.DatabaseFenced, rep.SessionsKilled = true, true, fr.Killed
	}
	switch {
	case !disaster && vmErr != nil:
		return "", vmErr
	case !disaster && dbErr != nil:
		return "", fmt.Errorf("fence the database at %s (a planned failover needs the old primary read-only; if the site is lost, run a disaster failover): %w", f.in.FailedSite, dbErr)
	}
	if vmErr != nil {
		rep.Unfenced = append(rep.Unfenced, fmt.Sprintf("VMs at %s: %s", f.in.FailedSite, errMsg(vmErr)))
	}
	if dbErr != nil {
		rep.Unfenced = append(rep.Unfenced, fmt.Sprintf("database at %s: %s", f.in.FailedSite, errMsg(dbErr)))
	}
	if !f.dnsFenced && !f.dbFenced {
		return "", temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"not promoting %s: neither traffic nor the database of %s could be fenced (DNS: %v); fix DNS at %s and run the failover again",
			f.in.TargetSite, f.in.FailedSite, dnsErr, f.in.TargetSite), ErrTypeUnfenced, nil)
	}
	var parts []string
	if rep.TrafficFencedByDNS {
		parts = append(parts, "DNS moved to "+f.in.TargetSite)
	}
	if rep.DatabaseFenced {
		parts = append(parts, fmt.Sprintf("database read-only (%d sessions ended)", rep.SessionsKilled))
	}
	if len(rep.PoweredOff)+len(rep.AlreadyOff) > 0 {
		parts = append(parts, fmt.Sprintf("%d VMs powered off, %d already off", len(rep.PoweredOff), len(rep.AlreadyOff)))
	}
	if len(rep.Unfenced) > 0 {
		parts = append(parts, fmt.Sprintf("unfenced: %s", strings.Join(rep.Unfenced, "; ")))
	}
	return strings.Join(parts, ", "), nil
}

// fenceVMs counts the web nodes the failed site was serving (capacity
// needs it, and fencing turns them off) and powers off its VMs.
func (f *failover) fenceVMs(ctx workflow.Context) error {
	if err := f.observeFailed(ctx); err != nil {
		// FenceSite would meet the same dead vCenter (or worker): skip it.
		return err
	}
	var r vsphere.FenceSiteResult
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, vmOptions(f.in.FailedSite, f.in.Mode == ModeDisaster)),
		vsA.FenceSite, vsphere.FenceSiteInput{Site: f.in.FailedSite, Exclude: f.in.FenceExclude}).Get(ctx, &r)
	if err != nil {
		return fmt.Errorf("power off the VMs at %s: %w", f.in.FailedSite, err)
	}
	rep := &f.res.Fence
	rep.PoweredOff, rep.AlreadyOff = r.PoweredOff, r.AlreadyOff
	if r.Unreachable {
		rep.Unfenced = append(rep.Unfenced, fmt.Sprintf("VMs at %s: vCenter unreachable: %s", f.in.FailedSite, r.Reason))
	}
	for _, vm := range r.UnreachableVMs {
		rep.Unfenced = append(rep.Unfenced, fmt.Sprintf("VM %s at %s: %s", vm, f.in.FailedSite, r.Errors[vm]))
	}
	return nil
}

// observeFailed counts each service's powered-on web nodes at the failed
// site, once.
func (f *failover) observeFailed(ctx workflow.Context) error {
	if f.observed {
		return nil
	}
	var found vsphere.FindVMsResult
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, f.observeOptions()),
		vsA.FindVMs, vsphere.FindVMsInput{Site: f.in.FailedSite}).Get(ctx, &found)
	if err != nil {
		return fmt.Errorf("list the VMs at %s: %w", f.in.FailedSite, err)
	}
	for _, vm := range found.VMs {
		if !vm.Template && vm.PowerState == vsphere.PoweredOn && vm.Tags[vsphere.TagRole] == "web" {
			f.serving[vm.Tags[vsphere.TagService]]++
		}
	}
	f.observed = true
	return nil
}

// vmOptions are for vCenter calls: longer than API calls (tasks take
// seconds to minutes and heartbeat), with the disaster retry where the
// site may be gone.
func vmOptions(site string, disaster bool) workflow.ActivityOptions {
	o := waitOptions(site, 2*time.Minute)
	if disaster {
		o.RetryPolicy = deadSiteRetry
		o.ScheduleToStartTimeout = 10 * time.Second
	}
	return o
}

// promoteOptions: Promote drains the relay log it received (up to 30 s)
// before switching, so its StartToClose is above the drain. It heartbeats
// between its peer probes (2 s each) and every second of the drain, so a
// worker lost mid-promote is noticed at the heartbeat timeout and the
// promotion retried on another worker, not after the 90 s: that time is
// RTO. Promote is idempotent (a second run finds the server primary).
func promoteOptions(site string) workflow.ActivityOptions {
	o := apiOptions(site)
	o.StartToCloseTimeout = 90 * time.Second
	o.HeartbeatTimeout = promoteHeartbeat
	return o
}

// promoteHeartbeat is above the longest silence in Promote: two peer
// probes of probeTimeout (2 s) each, between heartbeats, in a three-site
// platform, plus a slow MariaDB statement.
const promoteHeartbeat = 15 * time.Second

// promote makes the target's database the primary. Planned: wait until the
// replica has the fenced primary's last GTID, then promote with no lag
// allowed (no data loss). Disaster: promote within the policy's max RPO,
// recording the measured lag as RPO; beyond it the run ends refused (unless
// forced), with the lag.
func (f *failover) promote(ctx workflow.Context) (string, error) {
	if !f.dnsFenced && !f.dbFenced {
		// fence guarantees this; kept as the invariant's last line.
		return "", temporal.NewNonRetryableApplicationError("not promoting: traffic is not fenced", ErrTypeUnfenced, nil)
	}
	rep := &f.res.Database
	in := db.PromoteInput{Site: f.in.TargetSite, MaxLag: f.in.Policy.MaxRPO, Force: f.in.Force, PrimaryGTID: f.in.PrimaryGTID}
	waited := ""
	if f.in.Mode == ModePlanned {
		var st db.ReplicationStatusResult
		if err := workflow.ExecuteActivity(withSite(ctx, f.in.FailedSite), dbA.ReplicationStatus,
			db.ReplicationStatusInput{Site: f.in.FailedSite}).Get(ctx, &st); err != nil {
			return "", fmt.Errorf("read the fenced primary's GTID at %s: %w", f.in.FailedSite, err)
		}
		var w db.WaitForGTIDResult
		wait := f.in.Timeouts.GTIDWait
		if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, waitOptions(f.in.TargetSite, wait)), dbA.WaitForGTID,
			db.WaitForGTIDInput{Site: f.in.TargetSite, GTID: st.GTIDBinlogPos, Timeout: wait}).Get(ctx, &w); err != nil {
			return "", fmt.Errorf("the replica at %s did not reach the primary's position %s within %s (nothing promoted): %w", f.in.TargetSite, st.GTIDBinlogPos, wait, err)
		}
		waited = fmt.Sprintf("caught up with %s in %s, ", st.GTIDBinlogPos, w.Waited.Round(time.Millisecond))
		// Any measurable lag refuses: a planned failover loses no data.
		in = db.PromoteInput{Site: f.in.TargetSite, MaxLag: time.Millisecond, PrimaryGTID: st.GTIDBinlogPos}
	}
	rep.PrimaryGTID = in.PrimaryGTID
	var r db.PromoteResult
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, promoteOptions(f.in.TargetSite)), dbA.Promote, in).Get(ctx, &r)
	if apperrors.Is(err, apperrors.TypeReplicaLag) {
		lag := lagOf(err)
		rep.Refused, rep.LagSeconds = true, lag
		f.end(StatusRefused, "refused: "+lagText(lag, in.MaxLag))
		return lagText(lag, in.MaxLag), nil
	}
	if err != nil {
		return "", fmt.Errorf("promote the database at %s: %w", f.in.TargetSite, err)
	}
	rep.Promoted, rep.LagSeconds, rep.LagSource, rep.MissingTransactions, rep.GTID = true, r.LagSeconds, r.LagSource, r.MissingTransactions, r.GTID
	f.res.RPOSeconds = max(r.LagSeconds, 0)
	if f.in.Force && f.in.Policy.MaxRPO > 0 && (r.LagSeconds < 0 || r.LagSeconds > f.in.Policy.MaxRPO.Seconds()) {
		f.force(fmt.Sprintf("RPO: promoted with %s", lagText(r.LagSeconds, f.in.Policy.MaxRPO)))
	}
	already := ""
	if r.AlreadyPrimary {
		already = "already primary, "
	}
	missing := "an unknown number of"
	if r.MissingTransactions >= 0 {
		missing = fmt.Sprint(r.MissingTransactions)
	}
	return fmt.Sprintf("%s%slag %.3fs (%s), %s transactions missing, GTID %s", waited, already, r.LagSeconds, r.LagSource, missing, r.GTID), nil
}

// errMsg is err's message with the activity's (or child's) error cut down
// to its own message, without Temporal's chain of wrappers and causes:
// what a person reads in a result or a step.
func errMsg(err error) string {
	var inner error
	var ae *temporal.ActivityError
	var ce *temporal.ChildWorkflowExecutionError
	switch {
	case errors.As(err, &ae):
		inner = ae
	case errors.As(err, &ce):
		inner = ce
	default:
		return err.Error()
	}
	short := inner.Error()
	var app *temporal.ApplicationError
	var te *temporal.TimeoutError
	switch {
	case errors.As(inner, &app):
		short = app.Message()
	case errors.As(inner, &te):
		short = "timed out (" + te.TimeoutType().String() + "): the site's worker or component did not answer"
	}
	return strings.Replace(err.Error(), inner.Error(), short, 1)
}

// lagOf reads the lag in seconds from a ReplicaLagTooHigh error's details.
func lagOf(err error) float64 {
	var ae *temporal.ApplicationError
	lag := -1.0
	if errors.As(err, &ae) && ae.HasDetails() {
		_ = ae.Details(&lag)
	}
	return lag
}

func lagText(lag float64, maxLag time.Duration) string {
	if lag < 0 {
		return fmt.Sprintf("replica lag unknown (transactions are missing and the replica cannot date them), max RPO %s; rerun with Force to accept the data loss", maxLag)
	}
	return fmt.Sprintf("replica lag %.3fs exceeds the max RPO of %s; rerun with Force to accept the data loss", lag, maxLag)
}

// rollback (planned only) puts the old site back in service when the run
// stopped after fencing and before the target was promoted: its database
// takes writes again and the VMs fencing powered off come back. The DNS
// TTL stays low; the next attempt needs it low anyway.
func (f *failover) rollback(ctx workflow.Context) (string, error) {
	var done []string
	if f.dbFenced {
		var r db.PromoteResult
		if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, promoteOptions(f.in.FailedSite)), dbA.Promote,
			db.PromoteInput{Site: f.in.FailedSite}).Get(ctx, &r); err != nil {
			return "", fmt.Errorf("make the database at %s writable again: %w", f.in.FailedSite, err)
		}
		done = append(done, "database at "+f.in.FailedSite+" writable again")
	}
	vctx := workflow.WithActivityOptions(ctx, vmOptions(f.in.FailedSite, false))
	futs := make([]workflow.Future, len(f.res.Fence.PoweredOff))
	for i, vm := range f.res.Fence.PoweredOff {
		futs[i] = workflow.ExecuteActivity(vctx, vsA.PowerOn, vsphere.PowerInput{Site: f.in.FailedSite, Name: vm})
	}
	var failed []string
	for i, fut := range futs {
		if err := fut.Get(ctx, nil); err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", f.res.Fence.PoweredOff[i], err))
		}
	}
	if len(f.res.Fence.PoweredOff) > 0 {
		done = append(done, fmt.Sprintf("powered on %s", strings.Join(f.res.Fence.PoweredOff, ",")))
	}
	f.res.Fence.RolledBack = strings.Join(done, "; ")
	if len(failed) > 0 {
		return "", fmt.Errorf("rollback at %s: could not power on %s", f.in.FailedSite, strings.Join(failed, "; "))
	}
	return f.res.Fence.RolledBack, nil
}
