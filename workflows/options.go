package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/microdc/mdc/apperrors"
)

// siteQueue mirrors workers.SiteQueue; workflows cannot import workers
// (workers imports workflows to register them).
func siteQueue(site string) string { return "mdc-site-" + site }

// nonRetryable lists the error types no retry can fix; activities mark them
// non-retryable already, and the policy says so again so that a wrapped
// error from a component library cannot loop.
var nonRetryable = []string{
	apperrors.TypeBadInput, apperrors.TypeNotFound, apperrors.TypeAuth,
	apperrors.TypeRejected, apperrors.TypeReplicaLag,
}

// apiRetry suits calls to a component's API (HAProxy, PowerDNS, MariaDB):
// quick first retries ride out a restart, and five attempts within ~20 s
// keep a dead component from stalling a failover for long.
var apiRetry = &temporal.RetryPolicy{
	InitialInterval:        500 * time.Millisecond,
	BackoffCoefficient:     2,
	MaximumInterval:        5 * time.Second,
	MaximumAttempts:        5,
	NonRetryableErrorTypes: nonRetryable,
}

// apiOptions are for short API calls at one site. ScheduleToStart bounds
// how long an activity waits for that site's worker: a site whose worker is
// gone with the site must fail fast so the workflow can treat it as
// unreachable instead of waiting for it.
func apiOptions(site string) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		TaskQueue:              siteQueue(site),
		ScheduleToStartTimeout: 30 * time.Second,
		StartToCloseTimeout:    30 * time.Second,
		RetryPolicy:            apiRetry,
	}
}

// waitOptions are for activities that wait on purpose (DNS verification,
// draining, GTID catch-up, vSphere tasks): they heartbeat, so a lost worker
// is noticed within the heartbeat timeout rather than at the end of the
// wait. The timeout is three times the slowest heartbeat interval (vSphere
// tasks beat every 10 s); at one interval, a task a little over 10 s long
// timed out on a race.
func waitOptions(site string, wait time.Duration) workflow.ActivityOptions {
	o := apiOptions(site)
	o.StartToCloseTimeout = wait + 30*time.Second
	o.HeartbeatTimeout = 30 * time.Second
	return o
}

func withSite(ctx workflow.Context, site string) workflow.Context {
	return workflow.WithActivityOptions(ctx, apiOptions(site))
}

// deadSiteRetry is for disaster paths that touch every site, the failed one
// included: a site that refuses twice is recorded as unreachable rather than
// retried for the ~20 s apiRetry allows, because that time is RTO.
var deadSiteRetry = &temporal.RetryPolicy{
	InitialInterval:        200 * time.Millisecond,
	BackoffCoefficient:     2,
	MaximumAttempts:        2,
	NonRetryableErrorTypes: nonRetryable,
}

// disasterOptions are apiOptions with deadSiteRetry and a short wait for
// the site's worker, which may have died with the site.
func disasterOptions(site string) workflow.ActivityOptions {
	o := apiOptions(site)
	o.RetryPolicy = deadSiteRetry
	o.ScheduleToStartTimeout = 10 * time.Second
	return o
}
