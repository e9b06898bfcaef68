// Package rto measures how long an automatic site failover took, from the
// first missed heartbeat to the service proven at the target, broken down
// by step. It reads what the run left behind: the monitors' site.down
// events in JetStream and the FailoverSite result and start time in
// Temporal. The end-to-end test logs one Breakdown; benchmarks take the
// Median of several.
package rto

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/microdc/mdc/events"
	"github.com/microdc/mdc/workflows"
)

// Breakdown is one failover's recovery time by phase. The phases are
// consecutive: Detection + Decision + Fence + Promote + Capacity + LB + DNS
// + Verify + Other = Total.
type Breakdown struct {
	Site       string
	WorkflowID string
	// Since is the outage's start: the earliest first missed heartbeat
	// among the votes that made the quorum.
	Since time.Time
	// Quorum is when the last vote needed was published.
	Quorum time.Time
	// Started is when Temporal started the FailoverSite run.
	Started time.Time
	// Verified is when the run proved the service at the target.
	Verified time.Time
	// Observers are the observers of the quorum, in the order they voted.
	Observers []string

	// Detection: Since to Quorum (misses × detection interval, plus the
	// observers' skew).
	Detection time.Duration
	// Decision: Quorum to the first change, i.e. the trigger's start plus
	// the workflow's confirm, anti-flapping and approval steps.
	Decision time.Duration
	// The workflow's production-changing steps.
	Fence, Promote, Capacity, LB, DNS, Verify time.Duration
	// Other is what the steps do not account for (scheduling between them).
	Other time.Duration
	// Total is Since to Verified; RTO is the workflow's own measure
	// (RTOFrom to Verified), which should be the same when the trigger
	// passed Since as DetectedAt.
	Total time.Duration
	RTO   time.Duration
	// RPOSeconds is the promotion's measured data loss.
	RPOSeconds float64
}

// Phases lists the phases with their names, in order.
func (b Breakdown) Phases() []Phase {
	return []Phase{
		{"detection", b.Detection}, {"decision", b.Decision}, {"fence", b.Fence}, {"promote", b.Promote},
		{"capacity", b.Capacity}, {"LB", b.LB}, {"DNS", b.DNS}, {"verify", b.Verify}, {"other", b.Other},
	}
}

// Phase is one named part of the RTO.
type Phase struct {
	Name string
	Took time.Duration
}

// String is a table for logs.
func (b Breakdown) String() string {
	var s strings.Builder
	fmt.Fprintf(&s, "failover of %s (%s): RTO %s (workflow: %s), RPO %.3fs; quorum %s",
		b.Site, b.WorkflowID, b.Total.Round(time.Millisecond), b.RTO.Round(time.Millisecond), b.RPOSeconds, strings.Join(b.Observers, "+"))
	for _, p := range b.Phases() {
		fmt.Fprintf(&s, "\n  %-10s %9s", p.Name, p.Took.Round(time.Millisecond))
	}
	return s.String()
}

// decisionSteps are FailoverSite's steps before it changes anything.
var decisionSteps = []string{"confirm", "anti-flap", "approval"}

// FromRecords computes the breakdown of a finished FailoverSite run from
// its result, its start time and the site.down events published about its
// site. Only votes of the outage are used: each observer's first site.down
// whose since is within the vote window before the start; quorum is the
// platform's failover.observer_quorum (capped at the observers found).
func FromRecords(res workflows.FailoverSiteResult, workflowID string, started time.Time, downs []events.Event, quorum int) (Breakdown, error) {
	b := Breakdown{Site: res.FailedSite, WorkflowID: workflowID, Started: started, Verified: res.Verified, RTO: res.RTO, RPOSeconds: res.RPOSeconds}
	if res.Verified.IsZero() {
		return b, fmt.Errorf("rto: %s did not verify the service (status %s: %s); there is no recovery to measure", workflowID, res.Status, res.Outcome)
	}
	type vote struct {
		observer string
		at       time.Time
		since    time.Time
	}
	first := map[string]vote{}
	for _, ev := range downs {
		if ev.Type != events.TypeSiteDown || ev.Site != res.FailedSite || ev.ObservedAt.After(started) {
			continue
		}
		since, err := sinceOf(ev)
		if err != nil {
			return b, err
		}
		// Votes of an earlier outage are older than the run's RTO clock.
		if !res.RTOFrom.IsZero() && since.Before(res.RTOFrom.Add(-time.Minute)) {
			continue
		}
		if v, ok := first[ev.Observer]; !ok || ev.ObservedAt.Before(v.at) {
			first[ev.Observer] = vote{ev.Observer, ev.ObservedAt, since}
		}
	}
	if len(first) == 0 {
		return b, fmt.Errorf("rto: no site.down event about %s before %s started at %s: was it started by hand?", res.FailedSite, workflowID, started.Format(time.RFC3339Nano))
	}
	votes := make([]vote, 0, len(first))
	for _, v := range first {
		votes = append(votes, v)
	}
	sort.Slice(votes, func(i, j int) bool { return votes[i].at.Before(votes[j].at) })
	quorum = min(max(quorum, 1), len(votes))
	b.Quorum = votes[quorum-1].at
	b.Since = votes[0].since
	for _, v := range votes[:quorum] {
		b.Observers = append(b.Observers, v.observer)
		if v.since.Before(b.Since) {
			b.Since = v.since
		}
	}
	b.Detection = b.Quorum.Sub(b.Since)
	b.Decision = started.Sub(b.Quorum)
	for _, s := range res.Progress.Steps {
		switch {
		case slices.Contains(decisionSteps, s.Name):
			b.Decision += s.Took
		case s.Name == "fence":
			b.Fence = s.Took
		case s.Name == "promote":
			b.Promote = s.Took
		case s.Name == "capacity":
			b.Capacity = s.Took
		case s.Name == "switch LB":
			b.LB = s.Took
		case s.Name == "switch DNS":
			b.DNS = s.Took
		case s.Name == "verify":
			b.Verify = s.Took
		}
	}
	b.Total = res.Verified.Sub(b.Since)
	b.Other = b.Total - b.Detection - b.Decision - b.Fence - b.Promote - b.Capacity - b.LB - b.DNS - b.Verify
	return b, nil
}

// sinceOf is a site.down's since, or its observation time without one.
func sinceOf(ev events.Event) (time.Time, error) {
	if len(ev.Payload) == 0 {
		return ev.ObservedAt, nil
	}
	var p events.SitePayload
	if err := jsonUnmarshal(ev.Payload, &p); err != nil {
		return time.Time{}, fmt.Errorf("rto: event %s: payload: %w", ev.ID, err)
	}
	if p.Since == nil {
		return ev.ObservedAt, nil
	}
	return *p.Since, nil
}

// Median is the phase-by-phase median of several runs (each phase on its
// own, so the phases of a median need not add up to its Total). Times and
// identities are those of the run with the median Total.
func Median(runs []Breakdown) Breakdown {
	if len(runs) == 0 {
		return Breakdown{}
	}
	byTotal := slices.Clone(runs)
	slices.SortFunc(byTotal, func(a, b Breakdown) int { return int(a.Total - b.Total) })
	out := byTotal[len(byTotal)/2]
	med := func(get func(Breakdown) time.Duration) time.Duration {
		ds := make([]time.Duration, len(runs))
		for i, r := range runs {
			ds[i] = get(r)
		}
		slices.Sort(ds)
		if len(ds)%2 == 1 {
			return ds[len(ds)/2]
		}
		return (ds[len(ds)/2-1] + ds[len(ds)/2]) / 2
	}
	out.Detection = med(func(b Breakdown) time.Duration { return b.Detection })
	out.Decision = med(func(b Breakdown) time.Duration { return b.Decision })
	out.Fence = med(func(b Breakdown) time.Duration { return b.Fence })
	out.Promote = med(func(b Breakdown) time.Duration { return b.Promote })
	out.Capacity = med(func(b Breakdown) time.Duration { return b.Capacity })
	out.LB = med(func(b Breakdown) time.Duration { return b.LB })
	out.DNS = med(func(b Breakdown) time.Duration { return b.DNS })
	out.Verify = med(func(b Breakdown) time.Duration { return b.Verify })
	out.Other = med(func(b Breakdown) time.Duration { return b.Other })
	out.Total = med(func(b Breakdown) time.Duration { return b.Total })
	out.RTO = med(func(b Breakdown) time.Duration { return b.RTO })
	rpo := make([]float64, len(runs))
	for i, r := range runs {
		rpo[i] = r.RPOSeconds
	}
	slices.Sort(rpo)
	out.RPOSeconds = rpo[len(rpo)/2]
	if len(rpo)%2 == 0 {
		out.RPOSeconds = (rpo[len(rpo)/2-1] + rpo[len(rpo)/2]) / 2
	}
	return out
}
