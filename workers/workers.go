// Package workers registers mdc's workflows and activities with Temporal
// workers. The replayer in tests calls the same registration functions, so a
// workflow registered here is a workflow whose histories replay.
package workers

import (
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/microdc/mdc/activities/db"
	"github.com/microdc/mdc/activities/dns"
	"github.com/microdc/mdc/activities/events"
	"github.com/microdc/mdc/activities/health"
	"github.com/microdc/mdc/activities/lb"
	"github.com/microdc/mdc/activities/snmp"
	"github.com/microdc/mdc/activities/temporalops"
	"github.com/microdc/mdc/activities/vsphere"
	"github.com/microdc/mdc/workflows"
)

// SharedQueue is the task queue every workflow runs on.
const SharedQueue = "mdc"

// SiteQueue is the task queue of activities that must run near a site's
// systems; a dead site stalls only its own queue.
func SiteQueue(site string) string { return "mdc-site-" + site }

// Deps are the activity structs, built from the platform file by BuildDeps.
type Deps struct {
	DNS     *dns.Activities
	LB      *lb.Activities
	SNMP    *snmp.Activities
	Health  *health.Activities
	VSphere *vsphere.Activities
	DB      *db.Activities
	// Events publishes outcome events to NATS; TemporalOps reads Temporal
	// itself (recent failovers, for anti-flapping). The process that owns
	// the NATS and Temporal connections sets them.
	Events      *events.Activities
	TemporalOps *temporalops.Activities
}

// RegisterWorkflows registers every workflow under its constant name.
func RegisterWorkflows(r worker.WorkflowRegistry) { workflows.Register(r) }

// RegisterActivities registers every activity struct that was built.
// Method names are activity names, so they are unique across structs.
func RegisterActivities(r worker.ActivityRegistry, d Deps) {
	if d.DNS != nil {
		r.RegisterActivity(d.DNS)
	}
	if d.LB != nil {
		r.RegisterActivity(d.LB)
	}
	if d.SNMP != nil {
		r.RegisterActivity(d.SNMP)
	}
	if d.Health != nil {
		r.RegisterActivity(d.Health)
	}
	if d.VSphere != nil {
		r.RegisterActivity(d.VSphere)
	}
	if d.DB != nil {
		r.RegisterActivity(d.DB)
	}
	if d.Events != nil {
		r.RegisterActivity(d.Events)
	}
	if d.TemporalOps != nil {
		r.RegisterActivity(d.TemporalOps)
	}
}

// NewShared builds the worker of the shared queue: workflows only.
func NewShared(c client.Client, taskQueue string) worker.Worker {
	w := worker.New(c, taskQueue, worker.Options{})
	RegisterWorkflows(w)
	return w
}

// NewSite builds a site's worker: the activities that touch that site.
func NewSite(c client.Client, site string, d Deps) worker.Worker {
	w := worker.New(c, SiteQueue(site), worker.Options{})
	RegisterActivities(w, d)
	return w
}
