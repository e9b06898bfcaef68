package workflows

import (
	"fmt"
	"math"
	"sort"
	"time"

	"go.temporal.io/sdk/workflow"
)

// Load bands of a node, from its latest sample.
const (
	// BandHigh: load >= out_load; held for out_window it asks for a copy.
	BandHigh = "high"
	// BandLow: load < in_load; held for in_window by an extra copy, the
	// copy is removed.
	BandLow = "low"
	// BandNormal: in between; neither rule applies.
	BandNormal = "normal"
)

// autoscaleMemory bounds the lists of recent events and removed nodes that
// the state carries across continue-as-new.
const autoscaleMemory = 20

// AutoscaleState is what Autoscale knows and carries from run to run
// (continue-as-new): the nodes with their load bands, the cooldown clocks
// and the copy counter. Times are workflow time, except a node's
// ObservedAt and Since, which come from the samples (see apply).
type AutoscaleState struct {
	// Nodes by VM name: the site's base nodes and the extra copies.
	Nodes map[string]*NodeState
	// NextIndex numbers the next copy, "<site>-<service>-x<NextIndex>".
	NextIndex int
	// LastOutAt and LastInAt are when the last scale-out and scale-in
	// ended (failed ones included, so a broken clone is not retried in a
	// tight loop); the cooldowns count from them.
	LastOutAt time.Time `json:",omitempty"`
	LastInAt  time.Time `json:",omitempty"`
	// Removed are copies removed recently: late samples for them are
	// ignored rather than taken for a new node.
	Removed []string `json:",omitempty"`
	// Recent are the latest scale actions, newest last.
	Recent []ScaleEvent `json:",omitempty"`
	// Samples counts samples applied; Ignored those rejected as malformed,
	// older than the node's latest, or from a removed copy.
	Samples int
	Ignored int
	// Runs counts this autoscaler's runs (continue-as-new included).
	Runs int
	// Pending is the child running now; never carried (a run continues
	// as new only when no child runs).
	Pending *PendingScale `json:",omitempty"`
}

// NodeState is one node of the service at the site.
type NodeState struct {
	// Extra marks a copy made by ScaleOut; only copies are scaled in.
	Extra bool
	Host  string `json:",omitempty"`
	IP    string `json:",omitempty"`
	// Load is the latest sample's Load1, observed at ObservedAt.
	Load       float64
	ObservedAt time.Time `json:",omitempty"`
	// Band is the band of Load ("" before the first sample), held since Since.
	Band  string    `json:",omitempty"`
	Since time.Time `json:",omitempty"`
}

// PendingScale is the ScaleOut or ScaleIn child running now.
type PendingScale struct {
	Kind       string
	Node       string
	WorkflowID string
	Trigger    string
	Started    time.Time
}

// ScaleEvent records one scale action and how it ended.
type ScaleEvent struct {
	// Kind is ScaleKindOut or ScaleKindIn.
	Kind    string
	Node    string
	Trigger string
	Started time.Time
	Ended   time.Time
	// Outcome is StepDone or StepFailed; Error says why it failed.
	Outcome string
	Error   string `json:",omitempty"`
}

// Kinds of scale action, in ScaleEvent.Kind and PendingScale.Kind.
const (
	// ScaleKindOut: a ScaleOut child added a copy.
	ScaleKindOut = "scale-out"
	// ScaleKindIn: a ScaleIn child removed a copy.
	ScaleKindIn = "scale-in"
)

func (p ScalePolicy) band(load float64) string {
	switch {
	case load >= p.OutLoad:
		return BandHigh
	case load < p.InLoad:
		return BandLow
	}
	return BandNormal
}

// apply records a sample. Windows are measured from the samples' own
// ObservedAt, not from when the signal arrived: the monitor saw the
// crossing then, and a signal delayed by the trigger or a busy worker must
// neither lengthen the reaction nor be reordered with a newer sample (a
// redelivered old "high" after a "low" is recognised as stale). ObservedAt
// is clamped to workflow time, so a monitor clock running ahead cannot put
// a window in the future; cooldowns and "now" are workflow time only.
func (a *autoscaler) apply(ctx workflow.Context, s LoadSample) {
	st, now := a.st, workflow.Now(ctx)
	if s.Node == "" || math.IsNaN(s.Load1) || math.IsInf(s.Load1, 0) || s.Load1 < 0 {
		st.Ignored++
		workflow.GetLogger(ctx).Warn("load sample ignored: needs a node name and a finite load >= 0", "node", s.Node, "load", s.Load1)
		return
	}
	for _, r := range st.Removed {
		if r == s.Node {
			st.Ignored++
			return
		}
	}
	at := s.ObservedAt
	if at.IsZero() || at.After(now) {
		at = now
	}
	n := st.Nodes[s.Node]
	if n == nil {
		// A node the discovery did not list: a copy being made now, or a
		// base node provisioned since (adopted as base: never scaled in).
		n = &NodeState{Extra: st.Pending != nil && st.Pending.Kind == ScaleKindOut && st.Pending.Node == s.Node}
		st.Nodes[s.Node] = n
	}
	if !n.ObservedAt.IsZero() && at.Before(n.ObservedAt) {
		st.Ignored++
		return
	}
	if b := a.in.Policy.band(s.Load1); b != n.Band {
		n.Band, n.Since = b, at
	}
	n.Load, n.ObservedAt = s.Load1, at
	st.Samples++
}

// scaleDecision is what the rule asks for now.
type scaleDecision struct {
	kind    string // ScaleKindOut, ScaleKindIn or "" (nothing)
	node    string // the hot node (scale-out) or the idle copy (scale-in)
	trigger string
}

// decide applies the rule at now. It returns the action due, or none and
// the earliest time one could become due without a new sample (zero when
// only a new sample or a finished action can change the answer).
//
// A node high for out_window, below max and out of the out cooldown asks
// for a copy; the node high the longest is named as the hot one. No copy is
// removed while any node is high, even before its window: capacity must
// not shrink under load. Otherwise an extra copy low for in_window, above
// min and out of the in cooldown is removed, the one low the longest first.
func (st *AutoscaleState) decide(p ScalePolicy, now time.Time) (scaleDecision, time.Time) {
	var wake time.Time
	soonest := func(t time.Time) {
		if t.After(now) && (wake.IsZero() || t.Before(wake)) {
			wake = t
		}
	}
	names := st.nodeNames()
	count := len(names)
	var d scaleDecision
	var best time.Time
	anyHigh := false
	for _, name := range names {
		n := st.Nodes[name]
		if n.Band != BandHigh {
			continue
		}
		anyHigh = true
		if count >= p.Max {
			continue
		}
		due := scaleLater(n.Since.Add(p.OutWindow), scaleCooldownEnd(st.LastOutAt, p.OutCooldown))
		if due.After(now) {
			soonest(due)
			continue
		}
		if d.kind == "" || n.Since.Before(best) {
			best = n.Since
			d = scaleDecision{kind: ScaleKindOut, node: name, trigger: fmt.Sprintf("%s at load %.2f >= %.2f for %s",
				name, n.Load, p.OutLoad, now.Sub(n.Since).Round(time.Second))}
		}
	}
	if d.kind != "" || anyHigh || count-1 < p.Min {
		return d, wake
	}
	for _, name := range names {
		n := st.Nodes[name]
		if !n.Extra || n.Band != BandLow {
			continue
		}
		due := scaleLater(n.Since.Add(p.InWindow), scaleCooldownEnd(st.LastInAt, p.InCooldown))
		if due.After(now) {
			soonest(due)
			continue
		}
		if d.kind == "" || n.Since.Before(best) {
			best = n.Since
			d = scaleDecision{kind: ScaleKindIn, node: name, trigger: fmt.Sprintf("%s at load %.2f < %.2f for %s",
				name, n.Load, p.InLoad, now.Sub(n.Since).Round(time.Second))}
		}
	}
	return d, wake
}

func scaleCooldownEnd(last time.Time, cooldown time.Duration) time.Time {
	if last.IsZero() {
		return time.Time{}
	}
	return last.Add(cooldown)
}

func scaleLater(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// nodeNames returns the node names sorted: decisions never depend on map order.
func (st *AutoscaleState) nodeNames() []string {
	names := make([]string, 0, len(st.Nodes))
	// The keys are sorted below, so the map's order does not matter.
	//workflowcheck:ignore
	for n := range st.Nodes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// counts returns the number of base nodes and of extra copies.
func (st *AutoscaleState) counts() (base, extra int) {
	// Counting does not depend on the map's order.
	//workflowcheck:ignore
	for _, n := range st.Nodes {
		if n.Extra {
			extra++
		} else {
			base++
		}
	}
	return base, extra
}

// record appends a scale event, keeping the latest autoscaleMemory.
func (st *AutoscaleState) record(ev ScaleEvent) {
	st.Recent = append(st.Recent, ev)
	if len(st.Recent) > autoscaleMemory {
		st.Recent = st.Recent[len(st.Recent)-autoscaleMemory:]
	}
}

// forget removes a copy and remembers its name, so late samples from it do
// not bring it back.
func (st *AutoscaleState) forget(name string) {
	delete(st.Nodes, name)
	st.Removed = append(st.Removed, name)
	if len(st.Removed) > autoscaleMemory {
		st.Removed = st.Removed[len(st.Removed)-autoscaleMemory:]
	}
}
