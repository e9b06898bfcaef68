package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/microdc/mdc/activities/db"
	"github.com/microdc/mdc/activities/dns"
)

// fenceDeadSiteChange versions the disaster fence that does not wait for
// the failed site itself (fenceDisaster). Runs recorded before it replay
// the fence that waited for every branch.
const fenceDeadSiteChange = "disaster-fence-dead-site-in-background"

// fenceDisaster fences a site confirmed unreachable. Promotion waits only
// for the traffic fence it needs: every region moved to the target on the
// surviving sites' DNS servers (a DNSCutover child over those sites). The
// failed site's own DNS servers, VMs and database are fenced too, but in
// the background: they are down, so each attempt ends in a refusal, a retry
// (Temporal schedules a retry at least a second ahead) or, when the site's
// worker died with it, the wait for a worker that never comes (the
// schedule-to-start timeout); none of that may delay the recovery. Their
// outcome is in the result before it is recorded (finish waits for it). A
// failed database that still answers cannot become a second writable
// primary meanwhile: Promote refuses (retryably) while a peer is writable.
func (f *failover) fenceDisaster(ctx workflow.Context) (string, error) {
	f.fenceStarted, f.fencedAt = true, workflow.Now(ctx)
	var survivors []string
	for _, s := range f.siteNames() {
		if s != f.in.FailedSite {
			survivors = append(survivors, s)
		}
	}
	cutovers := f.startCutoversAt(ctx, ModeDisaster, "fence", survivors)
	f.fenceDeadSite(ctx)
	rep := &f.res.Fence
	dnsErr := f.waitCutovers(ctx, cutovers)
	if dnsErr == nil {
		f.dnsFenced, f.dnsSwitched, rep.TrafficFencedByDNS = true, true, true
	} else {
		rep.Unfenced = append(rep.Unfenced, "traffic: "+errMsg(dnsErr))
		// Without the traffic fence, only a fenced database allows a
		// promotion: wait for the failed site's attempts after all.
		f.awaitDeadSite(ctx)
	}
	if !f.dnsFenced && !f.dbFenced {
		return "", temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"not promoting %s: neither traffic nor the database of %s could be fenced (DNS: %v); fix DNS at %s and run the failover again",
			f.in.TargetSite, f.in.FailedSite, dnsErr, f.in.TargetSite), ErrTypeUnfenced, nil)
	}
	var parts []string
	if rep.TrafficFencedByDNS {
		parts = append(parts, fmt.Sprintf("DNS moved to %s at %s", f.in.TargetSite, strings.Join(survivors, ",")))
	}
	if rep.DatabaseFenced {
		parts = append(parts, fmt.Sprintf("database read-only (%d sessions ended)", rep.SessionsKilled))
	}
	if f.deadSite != nil && !f.deadSite.IsReady() {
		parts = append(parts, fmt.Sprintf("%s's own DNS, VMs and database: fenced in the background (the result records how)", f.in.FailedSite))
	}
	return strings.Join(parts, ", "), nil
}

// fenceDeadSite starts the failed site's fencing: its DNS servers (every
// service's record moved to the target), its VMs (listed once, without a
// retry, so that capacity knows what it served when its vCenter answers;
// then powered off) and its database (read-only, sessions ended). It
// records what it achieved in the result and resolves f.deadSite.
func (f *failover) fenceDeadSite(ctx workflow.Context) {
	done, set := workflow.NewFuture(ctx)
	f.deadSite = done
	f.fastObserve = true
	workflow.Go(ctx, func(ctx workflow.Context) {
		failed := f.in.FailedSite
		ip := f.targetIP()
		var dnsFuts []workflow.Future
		for _, svc := range f.in.Services {
			dnsFuts = append(dnsFuts, workflow.ExecuteActivity(f.failedCtx(ctx), dnsA.SetGeoRecord, dns.SetGeoRecordInput{
				Site: failed, Zone: svc.Zone, Name: svc.Record, TTL: f.in.Timeouts.CutoverTTL, Answers: f.answers(ip),
				Fallback: ip, AllowUnreachable: true,
			}))
		}
		vmDone, vmSet := workflow.NewFuture(ctx)
		workflow.Go(ctx, func(ctx workflow.Context) { vmSet.SetError(f.fenceVMs(ctx)) })
		dbFut := workflow.ExecuteActivity(f.failedCtx(ctx), dbA.Fence,
			db.FenceInput{Site: failed, KillSessions: f.in.DBAppUser != "", AppUser: f.in.DBAppUser})

		rep := &f.res.Fence
		var fr db.FenceResult
		if err := dbFut.Get(ctx, &fr); err == nil {
			f.dbFenced, rep.DatabaseFenced, rep.SessionsKilled = true, true, fr.Killed
		} else {
			rep.Unfenced = append(rep.Unfenced, fmt.Sprintf("database at %s: %s", failed, errMsg(err)))
		}
		if err := vmDone.Get(ctx, nil); err != nil {
			rep.Unfenced = append(rep.Unfenced, fmt.Sprintf("VMs at %s: %s", failed, errMsg(err)))
		}
		for _, fut := range dnsFuts {
			var r dns.ChangeResult
			if err := fut.Get(ctx, &r); err != nil {
				f.res.DNSUnreachable = appendNew(f.res.DNSUnreachable, "site "+failed)
				continue
			}
			f.res.DNSUnreachable = appendNew(f.res.DNSUnreachable, r.Unreachable...)
		}
		set.Set(nil, nil)
	})
}

// awaitDeadSite waits until the failed site's background fencing ended.
func (f *failover) awaitDeadSite(ctx workflow.Context) {
	if f.deadSite != nil {
		_ = f.deadSite.Get(ctx, nil)
	}
}

// observeOptions: in the background fence, the failed site's vCenter is
// asked once. A vCenter that is down refuses at once and capacity falls
// back to what the input says; one that is up answers in milliseconds.
func (f *failover) observeOptions() workflow.ActivityOptions {
	o := vmOptions(f.in.FailedSite, f.in.Mode == ModeDisaster)
	if f.fastObserve {
		r := *o.RetryPolicy
		r.MaximumAttempts = 1
		o.RetryPolicy = &r
	}
	return o
}
