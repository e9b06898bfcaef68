package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"
)

// AutoscaleStatus is what the `state` query returns: the nodes with their
// load and how far each is through its window, the cooldowns left, the
// child running and the recent actions.
type AutoscaleStatus struct {
	Site    string
	Service string
	Policy  ScalePolicy
	// Now is the workflow time the status was computed at.
	Now      time.Time
	Replicas int
	Base     int
	Extra    int
	Nodes    []NodeStatus
	// OutCooldownLeft and InCooldownLeft are how long until another
	// automatic scale-out (scale-in) may start; 0 when it may now.
	OutCooldownLeft time.Duration
	InCooldownLeft  time.Duration
	LastOutAt       time.Time     `json:",omitempty"`
	LastInAt        time.Time     `json:",omitempty"`
	Pending         *PendingScale `json:",omitempty"`
	Recent          []ScaleEvent  `json:",omitempty"`
	NextCopy        string
	Samples         int
	Ignored         int
	Runs            int
	// HandledThisRun counts this run's wake-ups; the run continues as new
	// at ContinueAfter.
	HandledThisRun int
	ContinueAfter  int
}

// NodeStatus is one node in AutoscaleStatus.
type NodeStatus struct {
	Name       string
	Extra      bool
	Host       string `json:",omitempty"`
	IP         string `json:",omitempty"`
	Load       float64
	Band       string    `json:",omitempty"`
	Since      time.Time `json:",omitempty"`
	ObservedAt time.Time `json:",omitempty"`
	// InBandFor is how long the node has been in its band.
	InBandFor time.Duration
	// WindowLeft is how long the node must stay in its band before the
	// rule applies to it (high: any node; low: extra copies only); 0 when
	// the window is met or no rule applies.
	WindowLeft time.Duration
}

// status reports the state as of the current workflow time.
func (a *autoscaler) status(ctx workflow.Context) AutoscaleStatus {
	st, p := a.st, a.in.Policy
	now := workflow.Now(ctx)
	base, extra := st.counts()
	s := AutoscaleStatus{
		Site: a.in.Site, Service: a.in.Service, Policy: p, Now: now,
		Replicas: base + extra, Base: base, Extra: extra,
		OutCooldownLeft: scaleTimeLeft(scaleCooldownEnd(st.LastOutAt, p.OutCooldown), now),
		InCooldownLeft:  scaleTimeLeft(scaleCooldownEnd(st.LastInAt, p.InCooldown), now),
		LastOutAt:       st.LastOutAt, LastInAt: st.LastInAt,
		Pending: st.Pending, Recent: st.Recent, NextCopy: a.copyName(st.NextIndex),
		Samples: st.Samples, Ignored: st.Ignored, Runs: st.Runs,
		HandledThisRun: a.handled, ContinueAfter: a.in.ContinueAfter,
	}
	for _, name := range st.nodeNames() {
		n := st.Nodes[name]
		ns := NodeStatus{
			Name: name, Extra: n.Extra, Host: n.Host, IP: n.IP, Load: n.Load,
			Band: n.Band, Since: n.Since, ObservedAt: n.ObservedAt,
		}
		if !n.Since.IsZero() {
			ns.InBandFor = now.Sub(n.Since)
		}
		switch {
		case n.Band == BandHigh:
			ns.WindowLeft = scaleTimeLeft(n.Since.Add(p.OutWindow), now)
		case n.Band == BandLow && n.Extra:
			ns.WindowLeft = scaleTimeLeft(n.Since.Add(p.InWindow), now)
		}
		s.Nodes = append(s.Nodes, ns)
	}
	return s
}

func scaleTimeLeft(until, now time.Time) time.Duration {
	if until.After(now) {
		return until.Sub(now)
	}
	return 0
}
