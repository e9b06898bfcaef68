package monitor

import (
	"context"
	"strconv"
	"time"

	"github.com/microdc/mdc/activities/db"
	"github.com/microdc/mdc/activities/health"
	"github.com/microdc/mdc/events"
)

// siteProber probes a site's components (health.Activities).
type siteProber interface {
	ProbeSite(ctx context.Context, in health.ProbeSiteInput) (health.ProbeSiteResult, error)
}

// gtidSampler reads a site database's gtid_binlog_pos when it is the
// writable primary, "" when it is not.
type gtidSampler interface {
	PrimaryGTID(ctx context.Context, site string) (string, error)
}

// dbSampler samples through the db activities' ReplicationStatus (the
// admin account has BINLOG MONITOR; it reads positions, never data).
type dbSampler struct{ a *db.Activities }

func (d dbSampler) PrimaryGTID(ctx context.Context, site string) (string, error) {
	r, err := d.a.ReplicationStatus(ctx, db.ReplicationStatusInput{Site: site})
	if err != nil {
		return "", err
	}
	if r.Role != db.RolePrimary {
		return "", nil
	}
	return r.GTIDBinlogPos, nil
}

// probeTimeout bounds each component's probe within one heartbeat: three
// quarters of the interval (so a probe of a dead site ends before the next
// heartbeat is due), at least 100 ms and at most 2 s.
func probeTimeout(interval time.Duration) time.Duration {
	return min(max(interval*3/4, 100*time.Millisecond), 2*time.Second)
}

// watchSite sends a heartbeat to site every detection interval until ctx
// ends, and publishes site.down and site.up as siteState decides.
func (m *Monitor) watchSite(ctx context.Context, site string) {
	pol := m.o.Platform.Failover
	interval := pol.DetectionInterval.Duration
	// Re-publish well inside the trigger's vote lifetime, so a lost or late
	// re-publish does not let this observer's vote expire mid-outage.
	republish := interval * time.Duration(m.tune.RepublishEvery)
	if life := pol.VoteLifetime(); life > 0 {
		republish = min(republish, life/2)
	}
	st := &siteState{threshold: max(pol.Misses, 1), republish: republish}
	log := m.log.With("loop", "heartbeat", "site", site)
	sampleFailed := newCondition(log, "sampling the database's GTID")
	timeout := probeTimeout(interval)
	serving := m.serving[site]
	every(ctx, interval, func(due time.Time) {
		// Each component has its own timeout inside ProbeSite; this bound
		// only keeps a stuck probe from holding the loop.
		pctx, cancel := context.WithTimeout(ctx, timeout+time.Second)
		res, err := m.prober.ProbeSite(pctx, health.ProbeSiteInput{Site: site})
		cancel()
		if ctx.Err() != nil {
			return
		}
		reachable := err == nil && res.Reachable
		if err != nil {
			log.Debug("probe failed; counted as a miss", "err", err)
		}
		if reachable && m.gtid[site] != nil {
			gctx, cancel := context.WithTimeout(ctx, timeout)
			g, err := m.gtid[site].PrimaryGTID(gctx, site)
			cancel()
			if err != nil {
				// The site answers but its database does not (or refuses
				// the account): keep the last good sample.
				sampleFailed.fail(err)
			} else {
				sampleFailed.ok()
				st.gtid = g
			}
		}
		if serving != nil {
			if reachable {
				serving.refresh(ctx, time.Now())
			}
			st.serving = serving.last()
		}
		v := st.observe(due, reachable)
		if !reachable && st.missed == 1 && !st.down {
			log.Debug("heartbeat missed", "probe", probeText(res, err))
		}
		if v == verdictNone {
			return
		}
		ev := m.siteEvent(site, v, st, time.Now())
		if err := m.publish(ctx, ev); err != nil {
			return // asked for again on the next heartbeat
		}
		st.published(v, due)
		switch v {
		case verdictDown:
			log.Warn("site unreachable: site.down published", "misses", st.missed, "since", st.since.Format(time.RFC3339Nano),
				"primary_gtid", st.gtid != "", "serving", st.serving, "event", ev.ID)
		case verdictStillDown:
			// Debug: a long outage must not fill the log; the counters
			// show the re-publishes every StatsInterval.
			log.Debug("site still unreachable: site.down published again", "misses", st.missed, "event", ev.ID)
		case verdictUp:
			log.Info("site answers again: site.up published", "event", ev.ID)
		}
	})
}

// siteEvent builds the event verdict v asks for.
func (m *Monitor) siteEvent(site string, v siteVerdict, st *siteState, now time.Time) events.Event {
	ev := events.Event{Version: events.Version, Site: site, Observer: m.name, ObservedAt: now}
	var p events.SitePayload
	switch v {
	case verdictUp:
		n := st.answered
		p.Misses = &n
		ev.Type = events.TypeSiteUp
		ev.ID = eventID(m.name, ev.Type, site, "", now)
	default:
		since := st.since
		if v == verdictDown {
			since = st.firstMiss
		}
		n := st.missed
		p.Misses, p.Since, p.PrimaryGTID, p.Serving = &n, &since, st.gtid, st.serving
		ev.Type = events.TypeSiteDown
		// A new ID per publish: the re-publishes of one outage must not be
		// dropped as duplicates; since and the count make it readable.
		ev.ID = eventID(m.name, ev.Type, site, "", since) + "." + strconv.Itoa(st.repeats+1)
	}
	ev.Payload, _ = events.NewPayload(p) // plain struct: cannot fail
	return ev
}

// probeText summarises a probe for a debug line.
func probeText(r health.ProbeSiteResult, err error) string {
	if err != nil {
		return err.Error()
	}
	s := ""
	for _, c := range r.Components {
		if s != "" {
			s += "; "
		}
		s += c.Kind + " " + c.Address + ": "
		if c.Reachable {
			s += "answers"
		} else {
			s += c.Error
		}
	}
	return s
}
