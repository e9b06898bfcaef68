package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/microdc/mdc/apperrors"
)

// Signal, query and update names of Autoscale. They are part of mdc's
// interface: monitors (through the trigger) send LoadSignal, operators use
// StateQuery and ScaleUpdate from the CLI or `temporal workflow`.
const (
	// LoadSignal carries one LoadSample of a node of the service.
	LoadSignal = "load"
	// StateQuery returns an AutoscaleStatus.
	StateQuery = "state"
	// ScaleUpdate takes a ScaleRequest and returns a ScaleResult.
	ScaleUpdate = "scale"
)

// AutoscaleWorkflowID is the ID of the one Autoscale workflow of a service
// at a site: "autoscale-<service>-<site>". The trigger signals-with-start
// it, so every monitor event for the pair reaches the same workflow and a
// second start is impossible. Its children are "<id>-out-<copy>" (ScaleOut)
// and "<id>-in-<copy>" (ScaleIn), e.g. autoscale-web-uk-out-uk-web-x1.
func AutoscaleWorkflowID(service, site string) string {
	return "autoscale-" + service + "-" + site
}

// ScalePolicy is seed 001's rule with its bounds: a node at load >=
// OutLoad for OutWindow gets a copy, an extra copy below InLoad for
// InWindow is removed, at most one scale-out per OutCooldown and one
// scale-in per InCooldown, and the node count stays within Min..Max.
type ScalePolicy struct {
	OutLoad     float64
	InLoad      float64
	OutWindow   time.Duration
	InWindow    time.Duration
	OutCooldown time.Duration
	InCooldown  time.Duration
	Min         int
	Max         int
}

// AutoscaleInput is everything Autoscale needs about one service at one
// site; NewAutoscaleInput builds it from the platform file.
type AutoscaleInput struct {
	Site    string
	Service string
	Policy  ScalePolicy
	// Template and Snapshot are the golden image copies are linked to.
	Template string
	Snapshot string
	// Folder and Datastore place the copies (empty: the site's own).
	Folder    string `json:",omitempty"`
	Datastore string `json:",omitempty"`
	// Hosts may run copies; empty means the hosts the site's VMs run on.
	Hosts []string `json:",omitempty"`
	// Backend is the load balancer's backend of the service (informational:
	// each site's LB activities are configured with it).
	Backend    string
	Port       int
	HealthPath string
	// IPTimeout, HealthTimeout and DrainDeadline bound a scale-out's wait
	// for the copy's IP and health, and a scale-in's drain; defaults 5m,
	// 5m, 1m.
	IPTimeout     time.Duration `json:",omitempty"`
	HealthTimeout time.Duration `json:",omitempty"`
	DrainDeadline time.Duration `json:",omitempty"`
	// ContinueAfter is how many wake-ups (signals, timers, finished
	// children) a run handles before it continues as new; default 500,
	// which keeps a run's history far below Temporal's limits.
	ContinueAfter int `json:",omitempty"`
	// State is the previous run's state; set only by continue-as-new.
	State *AutoscaleState `json:",omitempty"`
}

// LoadSample is one observation of a node's 1-minute load average.
// Monitors send band changes and slow heartbeats, not every poll: a node's
// load is taken to stay as last reported until the next sample.
type LoadSample struct {
	Node  string
	Load1 float64
	// ObservedAt is when the monitor polled the node.
	ObservedAt time.Time
}

// ScaleRequest asks for an exact number of nodes (base plus extra copies).
type ScaleRequest struct {
	Replicas int
	Reason   string
}

// ScaleResult says what a manual scale did.
type ScaleResult struct {
	Before  int
	After   int
	Added   []string `json:",omitempty"`
	Removed []string `json:",omitempty"`
}

// AutoscaleWorkflow runs seed 001's rule for one service at one site, for
// ever: it follows the load samples of the service's nodes, starts a
// ScaleOut child when a node stays overloaded and a ScaleIn child when an
// extra copy stays idle, and continues as new with its state long before
// its history gets large. It only returns on bad input or cancellation.
func AutoscaleWorkflow(ctx workflow.Context, in AutoscaleInput) (AutoscaleStatus, error) {
	a, err := newAutoscaler(ctx, in)
	if err != nil {
		return AutoscaleStatus{}, err
	}
	if err := a.discover(ctx); err != nil {
		return a.status(ctx), err
	}
	a.discovered = true
	return a.loop(ctx)
}

// autoscaler is one run's working state; everything that must outlive the
// run is in st, which continue-as-new carries.
type autoscaler struct {
	in AutoscaleInput
	st *AutoscaleState
	// busy is true while a ScaleOut or ScaleIn child (automatic or
	// manual) runs: one at a time, so decisions see the previous outcome.
	busy bool
	// discovered is set once this run knows the site's nodes; the scale
	// update waits for it.
	discovered bool
	// wake tells the loop that a child or a manual scale ended.
	wake workflow.Channel
	// handled counts this run's wake-ups, for continue-as-new.
	handled int
	// timer is the evaluation timer and when it fires.
	timer       workflow.Future
	timerAt     time.Time
	timerCancel workflow.CancelFunc
}

func newAutoscaler(ctx workflow.Context, in AutoscaleInput) (*autoscaler, error) {
	if err := checkAutoscaleInput(&in); err != nil {
		return nil, err
	}
	st := in.State
	if st == nil {
		st = &AutoscaleState{NextIndex: 1}
	}
	in.State = nil
	if st.Nodes == nil {
		st.Nodes = map[string]*NodeState{}
	}
	st.Runs++
	a := &autoscaler{in: in, st: st, wake: workflow.NewBufferedChannel(ctx, 1)}
	if err := workflow.SetQueryHandler(ctx, StateQuery, func() (AutoscaleStatus, error) { return a.status(ctx), nil }); err != nil {
		return nil, err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, ScaleUpdate, a.scale,
		workflow.UpdateHandlerOptions{Validator: a.validateScale}); err != nil {
		return nil, err
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, AttrSite.ValueSet(in.Site), AttrService.ValueSet(in.Service)); err != nil {
		return nil, err
	}
	return a, nil
}

// checkAutoscaleInput fills defaults and reports every problem at once.
func checkAutoscaleInput(in *AutoscaleInput) error {
	if in.IPTimeout == 0 {
		in.IPTimeout = 5 * time.Minute
	}
	if in.HealthTimeout == 0 {
		in.HealthTimeout = 5 * time.Minute
	}
	if in.DrainDeadline == 0 {
		in.DrainDeadline = time.Minute
	}
	if in.ContinueAfter == 0 {
		in.ContinueAfter = 500
	}
	var problems []string
	if in.Site == "" || in.Service == "" {
		problems = append(problems, "site and service are required")
	}
	if in.Template == "" {
		problems = append(problems, "template is required: copies are cloned from it")
	}
	if in.Port <= 0 || in.Port > 65535 {
		problems = append(problems, fmt.Sprintf("port %d: expected the nodes' HTTP port", in.Port))
	}
	if !strings.HasPrefix(in.HealthPath, "/") {
		problems = append(problems, fmt.Sprintf("health path %q: expected an absolute path such as /healthz", in.HealthPath))
	}
	p := in.Policy
	if !(p.InLoad > 0 && p.InLoad < p.OutLoad) {
		problems = append(problems, fmt.Sprintf("in_load %.2f and out_load %.2f: expected 0 < in_load < out_load", p.InLoad, p.OutLoad))
	}
	if p.OutWindow < 0 || p.InWindow < 0 || p.OutCooldown < 0 || p.InCooldown < 0 {
		problems = append(problems, "windows and cooldowns cannot be negative")
	}
	if p.Min < 0 || p.Max < 1 || p.Min > p.Max {
		problems = append(problems, fmt.Sprintf("replicas min %d max %d: expected 0 <= min <= max and max >= 1", p.Min, p.Max))
	}
	if in.ContinueAfter < 1 {
		problems = append(problems, fmt.Sprintf("continue_after %d: expected at least 1", in.ContinueAfter))
	}
	if len(problems) > 0 {
		return apperrors.BadInput("Autoscale %s@%s: %s", in.Service, in.Site, strings.Join(problems, "; "))
	}
	return nil
}

// loop applies samples and evaluates the rule on every wake-up until the
// run has handled enough to continue as new.
func (a *autoscaler) loop(ctx workflow.Context) (AutoscaleStatus, error) {
	loads := workflow.GetSignalChannel(ctx, LoadSignal)
	for {
		if ctx.Err() != nil {
			return a.status(ctx), ctx.Err()
		}
		if a.continueNow(ctx) {
			// Samples already delivered to this run go into the state the
			// next run starts from: none is lost.
			for {
				var s LoadSample
				if !loads.ReceiveAsync(&s) {
					break
				}
				a.apply(ctx, s)
			}
			next := a.in
			next.State = a.st
			workflow.GetLogger(ctx).Info("autoscale continues as new", "handled", a.handled, "nodes", len(a.st.Nodes))
			return a.status(ctx), workflow.NewContinueAsNewError(ctx, AutoscaleName, next)
		}
		if !a.busy {
			a.evaluate(ctx)
		}
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(loads, func(c workflow.ReceiveChannel, _ bool) {
			var s LoadSample
			c.Receive(ctx, &s)
			a.apply(ctx, s)
		})
		sel.AddReceive(a.wake, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil) })
		if a.timer != nil {
			sel.AddFuture(a.timer, func(workflow.Future) { a.timer = nil })
		}
		sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {})
		sel.Select(ctx)
		a.handled++
	}
}

// continueNow says whether this run should hand over to a new one now:
// asked to (by count or by the server), and nothing in flight that the new
// run could not take over (a child, a manual scale).
func (a *autoscaler) continueNow(ctx workflow.Context) bool {
	want := a.handled >= a.in.ContinueAfter || workflow.GetInfo(ctx).GetContinueAsNewSuggested()
	return want && !a.busy && workflow.AllHandlersFinished(ctx)
}

// evaluate starts a child if the rule says so, and otherwise arms the timer
// for the next moment the rule could say so with no new sample (a window
// or a cooldown ending).
func (a *autoscaler) evaluate(ctx workflow.Context) {
	now := workflow.Now(ctx)
	d, wakeAt := a.st.decide(a.in.Policy, now)
	switch d.kind {
	case ScaleKindOut:
		a.startChild(ctx, func(ctx workflow.Context) error {
			_, err := a.scaleOut(ctx, d.trigger, d.node)
			return err
		})
		return
	case ScaleKindIn:
		a.startChild(ctx, func(ctx workflow.Context) error { return a.scaleIn(ctx, d.node, d.trigger) })
		return
	}
	a.armTimer(ctx, now, wakeAt)
}

// startChild runs fn (which starts one child and waits for it) in its own
// coroutine so that the loop keeps taking samples and queries meanwhile.
func (a *autoscaler) startChild(ctx workflow.Context, fn func(workflow.Context) error) {
	a.busy = true
	workflow.Go(ctx, func(ctx workflow.Context) {
		if err := fn(ctx); err != nil {
			workflow.GetLogger(ctx).Warn("autoscale action failed; retried after the cooldown if the rule still holds", "error", err)
		}
		a.busy = false
		a.wake.SendAsync(struct{}{})
	})
}

// armTimer makes sure a timer fires at or before at. A running timer that
// fires earlier is kept (an early wake-up only re-evaluates), so a stream
// of samples does not cancel and recreate timers.
func (a *autoscaler) armTimer(ctx workflow.Context, now, at time.Time) {
	if at.IsZero() || (a.timer != nil && !a.timerAt.After(at)) {
		return
	}
	if a.timer != nil {
		a.timerCancel()
	}
	tctx, cancel := workflow.WithCancel(ctx)
	d := at.Sub(now)
	if d < time.Millisecond {
		d = time.Millisecond
	}
	a.timer, a.timerAt, a.timerCancel = workflow.NewTimer(tctx, d), at, cancel
}
