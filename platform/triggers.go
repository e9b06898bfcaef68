package platform

import (
	"fmt"
	"strings"
	"time"

	"github.com/microdc/mdc/events"
)

// Trigger actions: what a rule does with a matching event.
const (
	// ActionStart starts the rule's workflow, or joins the running one.
	ActionStart = "start"
	// ActionSignalWithStart signals the rule's workflow, starting it first
	// when it is not running.
	ActionSignalWithStart = "signal-with-start"
	// ActionRecord acknowledges and counts the event and starts nothing:
	// the way to turn an automatic reaction off.
	ActionRecord = "record"
)

// Workflows a trigger rule may name. They equal the workflows' registered
// names (package workflows; a test in package triggers keeps them equal).
const (
	WorkflowFailoverSite = "FailoverSite"
	WorkflowAutoscale    = "Autoscale"
)

// VoteLifetimeFactor scales the time an observer needs to declare a site
// down (detection_interval × misses, at least VoteLifetimeMinMisses
// intervals) into how long its site.down vote counts towards the observer
// quorum (see FailoverPolicy.VoteLifetime).
const (
	VoteLifetimeFactor    = 4
	VoteLifetimeMinMisses = 3
)

// TriggerRule maps one event type to what the trigger does with it.
type TriggerRule struct {
	// Event is the event type the rule matches (events.Types).
	Event string `yaml:"event"`
	// Action is start, signal-with-start or record; default: the event's
	// default rule's action.
	Action string `yaml:"action"`
	// Workflow is the workflow started or signalled. Only the combinations
	// the trigger can build inputs for exist (triggerWorkflows), so it
	// defaults to the one the event and action allow.
	Workflow string `yaml:"workflow"`
	// Targets maps a failed site to the site FailoverSite moves it to
	// (site.down rules only); a site not listed goes to the default target:
	// the primary site, or the first other site when the primary failed.
	Targets map[string]string `yaml:"targets"`
}

// triggerWorkflow is the one workflow action an event type can drive.
type triggerWorkflow struct{ action, workflow string }

// triggerWorkflows lists every event type the trigger can build a
// workflow's input from. The workflow ID and its conflict policy are fixed
// per workflow (failover-<site>, use the running one; autoscale-<service>-
// <site>, signal-with-start), so duplicates always fold into one workflow.
var triggerWorkflows = map[string]triggerWorkflow{
	events.TypeSiteDown: {ActionStart, WorkflowFailoverSite},
	events.TypeNodeLoad: {ActionSignalWithStart, WorkflowAutoscale},
}

// DefaultTriggerRule is the rule for an event type the platform file has no
// rule for: site.down starts FailoverSite, node.load signals Autoscale and
// every other type is recorded.
func DefaultTriggerRule(event string) TriggerRule {
	if w, ok := triggerWorkflows[event]; ok {
		return TriggerRule{Event: event, Action: w.action, Workflow: w.workflow}
	}
	return TriggerRule{Event: event, Action: ActionRecord}
}

// TriggerRule returns the rule for an event type: the file's, or the default.
func (p *Platform) TriggerRule(event string) TriggerRule {
	for _, r := range p.Triggers {
		if r.Event == event {
			return r
		}
	}
	return DefaultTriggerRule(event)
}

// FailoverTarget is the site a failed site's services move to: the rule's
// targets entry, else the primary (database) site when another site
// failed, else the first other site in file order.
func (p *Platform) FailoverTarget(failed string) (string, error) {
	if t := p.TriggerRule(events.TypeSiteDown).Targets[failed]; t != "" {
		return t, nil
	}
	if prim := p.PrimarySite(); prim != nil && prim.Name != failed {
		return prim.Name, nil
	}
	for _, s := range p.Sites {
		if s.Name != failed {
			return s.Name, nil
		}
	}
	return "", fmt.Errorf("site %s failed and the platform file has no other site to fail over to", failed)
}

// VoteLifetime is how long an observer's site.down vote counts towards the
// observer quorum after the time it was observed: VoteLifetimeFactor times
// detection_interval × max(misses, VoteLifetimeMinMisses), i.e. at least 12
// detection intervals. An observer cannot declare a site up again sooner
// than misses intervals after it came back, and monitors re-publish
// site.down while a site stays down (mdc monitor: every 5 detection
// intervals), so a live outage keeps its votes fresh with room for lost or
// late re-publishes, while the vote of an observer that went quiet, or a
// backlog replayed after the trigger was away, stops counting.
func (f FailoverPolicy) VoteLifetime() time.Duration {
	return time.Duration(VoteLifetimeFactor*max(f.Misses, VoteLifetimeMinMisses)) * f.DetectionInterval.Duration
}

// applyTriggerDefaults fills a rule's action from the event's default rule
// and its workflow from the one the event and action allow.
func applyTriggerDefaults(p *Platform, absent absentFunc) {
	for i := range p.Triggers {
		r := &p.Triggers[i]
		at := fmt.Sprintf("triggers[%d].", i)
		setDefault(absent, at+"action", &r.Action, DefaultTriggerRule(r.Event).Action)
		if w, ok := triggerWorkflows[r.Event]; ok && r.Action == w.action {
			setDefault(absent, at+"workflow", &r.Workflow, w.workflow)
		}
	}
}

// validateTriggers checks the rules: known event types, one rule per type,
// and only the actions and workflows the trigger can build inputs for.
func (p *parser) validateTriggers(pl *Platform, sites map[string]int) {
	first := map[string]int{}
	for i := range pl.Triggers {
		r := &pl.Triggers[i]
		at := fmt.Sprintf("triggers[%d]", i)
		if !p.required(at+".event", r.Event, "the event type the rule matches: "+orList(events.Types)) ||
			!p.oneOf(at+".event", r.Event, events.Types...) {
			continue
		}
		if j, dup := first[r.Event]; dup {
			p.fail(at+".event", "duplicate rule for %s; triggers[%d] already has it", r.Event, j)
		} else {
			first[r.Event] = i
		}
		if !p.oneOf(at+".action", r.Action, ActionStart, ActionSignalWithStart, ActionRecord) {
			continue
		}
		w, drives := triggerWorkflows[r.Event]
		switch {
		case r.Action != ActionRecord && !drives:
			p.fail(at+".action", "%s events can only be recorded (action record): no workflow takes its input from them; %s", r.Event, allowedTriggers())
			continue
		case r.Action != ActionRecord && r.Action != w.action:
			p.fail(at+".action", "%s can %s %s or be recorded, got %s", r.Event, w.action, w.workflow, r.Action)
			continue
		case r.Workflow != "" && !drives:
			p.fail(at+".workflow", "%s rules name no workflow (they can only be recorded), got %q", r.Event, r.Workflow)
		case r.Workflow != "" && r.Workflow != w.workflow:
			p.fail(at+".workflow", "%s can drive %s only (the trigger builds no other workflow's input from it), got %q", r.Event, w.workflow, r.Workflow)
		case r.Workflow == "" && r.Action != ActionRecord:
			p.fail(at+".workflow", "required: %s %s", w.action, w.workflow)
		}
		p.validateTargets(r, at, sites)
	}
}

// validateTargets checks a site.down rule's failed-site → target map.
func (p *parser) validateTargets(r *TriggerRule, at string, sites map[string]int) {
	if len(r.Targets) == 0 {
		return
	}
	if r.Event != events.TypeSiteDown {
		p.fail(at+".targets", "only site.down rules (FailoverSite) take targets; remove it from this %s rule", r.Event)
		return
	}
	for _, failed := range sortedKeys(r.Targets) {
		tp, target := at+".targets."+failed, r.Targets[failed]
		if _, ok := sites[failed]; !ok {
			p.fail(tp, "unknown failed site %q; %s", failed, known("sites", sortedKeys(sites)))
			continue
		}
		if !p.knownSite(tp, target, sites, "the site "+failed+"'s services move to") {
			continue
		}
		if target == failed {
			p.fail(tp, "target must differ from the failed site (both are %q)", failed)
		}
	}
}

// allowedTriggers lists the workflow actions that exist, for messages.
func allowedTriggers() string {
	var out []string
	for _, ev := range events.Types {
		if w, ok := triggerWorkflows[ev]; ok {
			out = append(out, fmt.Sprintf("%s can %s %s", ev, w.action, w.workflow))
		}
	}
	return strings.Join(out, ", ")
}
