package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/microdc/mdc/activities/health"
	"github.com/microdc/mdc/activities/lb"
	"github.com/microdc/mdc/apperrors"
)

var (
	asLB     *lb.Activities
	asHealth *health.Activities
)

// scaleCloneWait bounds a linked clone: seconds on vSphere, but a full copy
// (vcsim, or a datastore that cannot share disks) of a large image takes
// minutes. CloneVM heartbeats, so a lost worker is noticed sooner.
const scaleCloneWait = 10 * time.Minute

// scaleVMTaskOptions are for vSphere tasks that do not heartbeat (power on/off,
// destroy): a busy vCenter queues tasks for tens of seconds, more than
// apiOptions allow.
func scaleVMTaskOptions(site string) workflow.ActivityOptions {
	o := apiOptions(site)
	o.StartToCloseTimeout = 2 * time.Minute
	return o
}

// scaleDeadlineOptions are for activities that wait up to a deadline of their
// own (WaitForIP, DrainServer): their Timeout means the deadline passed,
// which a retry cannot undo, so it is not retried; a component that is
// down still is.
func scaleDeadlineOptions(site string, wait time.Duration) workflow.ActivityOptions {
	o := waitOptions(site, wait)
	r := *apiRetry
	r.NonRetryableErrorTypes = append(append([]string{}, nonRetryable...), apperrors.TypeTimeout)
	o.RetryPolicy = &r
	return o
}

// scaleRetryableConflict reports whether err is a Conflict the activity gave up
// retrying (a host in maintenance), as opposed to a permanent one (a name
// taken by a VM that is not ours).
func scaleRetryableConflict(err error) bool {
	var ae *temporal.ApplicationError
	return errors.As(err, &ae) && ae.Type() == apperrors.TypeConflict && !ae.NonRetryable()
}
