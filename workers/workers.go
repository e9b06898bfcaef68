// Package workers registers mdc's workflows and activities with Temporal
// workers. The replayer in tests calls the same registration functions, so a
// workflow registered here is a workflow whose histories replay.
package workers

import (
	"github.com/microdc/mdc/activities/health"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
)

// SharedQueue is the task queue every workflow runs on.
const SharedQueue = "mdc"

// SiteQueue is the task queue of activities that must run near a site's
// systems; a dead site stalls only its own queue.
func SiteQueue(site string) string { return "mdc-site-" + site }

// Deps are the clients activities are built from.
type Deps struct {
	Health *health.Activities
}

// RegisterWorkflows registers every workflow under its constant name.
func RegisterWorkflows(r worker.WorkflowRegistry) {}

// RegisterActivities registers every activity struct.
func RegisterActivities(r worker.ActivityRegistry, d Deps) {
	if d.Health == nil {
		d.Health = &health.Activities{}
	}
	r.RegisterActivity(d.Health)
}

// New builds a worker for one task queue with everything registered.
func New(c client.Client, taskQueue string, d Deps) worker.Worker {
	w := worker.New(c, taskQueue, worker.Options{})
	RegisterWorkflows(w)
	RegisterActivities(w, d)
	return w
}
