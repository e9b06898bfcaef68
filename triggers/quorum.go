package triggers

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/microdc/mdc/events"
)

// siteVote applies the site.down rule "start FailoverSite": site.down and
// site.up events are votes, and a failover starts only when
// failover.observer_quorum distinct observers currently report the site
// down (see the package doc).
func (t *Trigger) siteVote(ctx context.Context, ev events.Event) error {
	if err := checkObserver(ev); err != nil {
		return err
	}
	v := Vote{State: VoteUp, ObservedAt: ev.ObservedAt, Event: ev.ID}
	if ev.Type == events.TypeSiteDown {
		v.State = VoteDown
		var pl events.SitePayload
		if len(ev.Payload) > 0 {
			// Decode validated the shape already.
			if err := json.Unmarshal(ev.Payload, &pl); err != nil {
				return Permanent(fmt.Errorf("event %s: payload: %w", ev.ID, err))
			}
		}
		v.Since, v.PrimaryGTID, v.Serving = pl.Since, pl.PrimaryGTID, pl.Serving
	}
	stored, err := t.votes.record(ctx, ev.Site, ev.Observer, v)
	if err != nil {
		return err
	}
	if !stored {
		t.stats.votesStale.Add(1)
		t.log.Debug("vote older than the observer's stored vote; ignored", "event", ev.ID, "site", ev.Site, "observer", ev.Observer)
		return nil
	}
	t.stats.votesRecorded.Add(1)
	if v.State == VoteUp {
		// An up vote only withdraws: it can never complete a quorum.
		t.log.Info("site.up vote recorded", "site", ev.Site, "observer", ev.Observer)
		return nil
	}
	return t.evaluate(ctx, ev)
}

// checkObserver refuses site votes that could never count.
func checkObserver(ev events.Event) error {
	switch {
	case ev.Observer == "":
		return Permanent(fmt.Errorf("event %s: %s without observer: the trigger counts one vote per observer towards failover.observer_quorum", ev.ID, ev.Type))
	case !observerRE.MatchString(ev.Observer):
		return Permanent(fmt.Errorf("event %s: observer %q: expected letters, digits, '-' and '_' only (at most 64), as a site name or \"witness\"", ev.ID, ev.Observer))
	case ev.Observer == ev.Site:
		return Permanent(fmt.Errorf("event %s: site %s reports on itself; a site's votes come from the other sites and the witness", ev.ID, ev.Site))
	}
	return nil
}

// evaluate counts the site's current votes and, with a quorum that is not
// already part of the site's incident, starts the failover.
func (t *Trigger) evaluate(ctx context.Context, ev events.Event) error {
	p := t.o.Platform
	votes, err := t.votes.site(ctx, ev.Site)
	if err != nil {
		return err
	}
	now := time.Now()
	lifetime := p.Failover.VoteLifetime()
	tl := tally(votes, now, lifetime, p.Failover.ObserverQuorum)
	if !tl.Reached() {
		t.stats.quorumWaits.Add(1)
		t.log.Info("site.down vote recorded; waiting for the observer quorum", "site", ev.Site, "observer", ev.Observer,
			"down", tl.Down, "up", tl.Up, "expired", tl.Expired, "quorum", tl.Quorum)
		return nil
	}
	inc, rev, err := t.votes.incident(ctx, ev.Site)
	if err != nil {
		return err
	}
	if inc.continues(now, lifetime) {
		t.stats.deduplicated.Add(1)
		inc.LastQuorum = now
		if err := t.votes.putIncident(ctx, ev.Site, *inc, rev); err != nil {
			// The incident only extends; the next vote extends it again.
			t.log.Warn("extending the incident failed", "site", ev.Site, "err", err)
		}
		return nil
	}
	target, err := p.FailoverTarget(ev.Site)
	if err != nil {
		return Permanent(err)
	}
	req := FailoverRequest{FailedSite: ev.Site, TargetSite: target, DetectedAt: tl.DetectedAt,
		PrimaryGTID: tl.PrimaryGTID, Serving: tl.Serving, Observers: tl.Down, Quorum: tl.Quorum}
	res, err := t.o.Starter.StartFailover(ctx, p, req)
	if err != nil {
		return err
	}
	id := FailoverWorkflowID(ev.Site)
	if res.Started {
		t.stats.started.Add(1)
		t.log.Info("observer quorum reached: started failover", "workflow", id, "run", res.RunID, "target", target,
			"observers", tl.Down, "quorum", tl.Quorum, "detected_at", tl.DetectedAt, "event", ev.ID)
	} else {
		t.stats.deduplicated.Add(1)
		t.log.Info("observer quorum reached: failover already covered", "workflow", id, "run", res.RunID, "why", res.Reason, "observers", tl.Down)
	}
	// Recorded after Temporal accepted: if this write fails the event is
	// retried, and the retry joins the run just started.
	return t.votes.putIncident(ctx, ev.Site, incident{
		Started: now, LastQuorum: now, Observers: tl.Down, Workflow: id, RunID: res.RunID,
	}, rev)
}
