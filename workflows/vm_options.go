package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/microdc/mdc/activities/db"
	"github.com/microdc/mdc/activities/events"
	"github.com/microdc/mdc/activities/health"
	"github.com/microdc/mdc/activities/lb"
	"github.com/microdc/mdc/activities/vsphere"
	"github.com/microdc/mdc/apperrors"
)

// Typed nil pointers the site-management workflows (ProvisionSite,
// ReplicateVM, DrainHost, UndrainHost, Failback) call activities through.
var (
	vsphereOps *vsphere.Activities
	lbOps      *lb.Activities
	dbOps      *db.Activities
	healthOps  *health.Activities
	eventsOps  *events.Activities
)

// vmTaskRetry is for vSphere tasks that take a while (clone, relocate,
// replicate): a failed attempt already waited for vCenter's own task, so
// three attempts with a slower back-off are enough to ride out a vCenter
// restart without hammering it.
var vmTaskRetry = &temporal.RetryPolicy{
	InitialInterval:        2 * time.Second,
	BackoffCoefficient:     2,
	MaximumInterval:        30 * time.Second,
	MaximumAttempts:        3,
	NonRetryableErrorTypes: nonRetryable,
}

// vmTaskOptions are for one vSphere task at site that may run for up to
// took. The vSphere activities heartbeat every 10 s while a task runs, so a
// 30 s heartbeat timeout notices a dead worker long before took ends.
func vmTaskOptions(site string, took time.Duration) workflow.ActivityOptions {
	o := apiOptions(site)
	o.StartToCloseTimeout = took
	o.HeartbeatTimeout = 30 * time.Second
	o.RetryPolicy = vmTaskRetry
	return o
}

// Timeouts of the vSphere tasks. A linked clone or a vMotion takes seconds
// to minutes; a replica copies whole disks between sites, which takes as
// long as the link allows.
const (
	cloneTimeout     = 30 * time.Minute
	relocateTimeout  = 30 * time.Minute
	replicateTimeout = 4 * time.Hour
)

// drainRetry retries a balancer that blinked, but not a drain whose deadline
// passed: the server stays draining and the caller decides what a stuck
// session means.
var drainRetry = &temporal.RetryPolicy{
	InitialInterval:        500 * time.Millisecond,
	BackoffCoefficient:     2,
	MaximumInterval:        5 * time.Second,
	MaximumAttempts:        3,
	NonRetryableErrorTypes: append([]string{apperrors.TypeTimeout}, nonRetryable...),
}

// drainOptions are for lb.DrainServer waiting up to deadline for sessions.
func drainOptions(site string, deadline time.Duration) workflow.ActivityOptions {
	o := waitOptions(site, deadline)
	o.RetryPolicy = drainRetry
	return o
}
