package monitor

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/microdc/mdc/activities/snmp"
	"github.com/microdc/mdc/events"
)

// loadPoller reads SNMP load averages (snmp.Poller).
type loadPoller interface {
	Poll(ctx context.Context, targets []snmp.Target, opts snmp.Options) []snmp.Sample
}

// snmpTarget is how the site's agents are reached; community is a secret.
type snmpTarget struct {
	port      int
	community string
	timeout   time.Duration
}

// loadLoop polls every node's load every PollInterval and publishes
// node.load on a band change or when the node's last report is older than
// the heartbeat (see bands.next).
func (m *Monitor) loadLoop(ctx context.Context) {
	log := m.log.With("loop", "load", "site", m.o.Site)
	cond := newCondition(log, "SNMP polling of the site's nodes")
	trackers := map[string]*tracker{}
	every(ctx, m.tune.PollInterval, func(time.Time) {
		nodes := m.currentNodes()
		if len(nodes) == 0 {
			return
		}
		targets := make([]snmp.Target, len(nodes))
		for i, n := range nodes {
			targets[i] = snmp.Target{Node: n.Name, Addr: net.JoinHostPort(n.IP, strconv.Itoa(m.snmp.port)), Community: m.snmp.community}
		}
		// The poll's start is the observation time: the agents answer
		// with the load as it is then, and Autoscale's windows count
		// from it.
		at := time.Now()
		samples := m.poller.Poll(ctx, targets, snmp.Options{Timeout: m.snmp.timeout})
		if ctx.Err() != nil {
			return
		}
		seen := make(map[string]bool, len(nodes))
		var failed []string
		var firstErr string
		for i, s := range samples {
			n := nodes[i]
			seen[n.Name] = true
			if !s.OK() {
				failed = append(failed, n.Name)
				if firstErr == "" {
					firstErr = s.Err
				}
				continue
			}
			t := trackers[n.Name]
			if t == nil {
				t = &tracker{}
				trackers[n.Name] = t
			}
			band := m.bandsOf(n.Service).next(t.state, s.Load1)
			if !t.due(band, at, m.tune.Heartbeat) {
				continue
			}
			if err := m.publish(ctx, m.loadEvent(n, s.Load1, at)); err != nil {
				continue // the tracker is unchanged: asked for again next round
			}
			if band != t.state {
				log.Debug("load band", "node", n.Name, "load", s.Load1, "band", band, "was", t.state)
			}
			t.sent(band, at)
		}
		for name := range trackers {
			if !seen[name] {
				delete(trackers, name) // the node left; a new one starts afresh
			}
		}
		if len(failed) > 0 {
			cond.fail(fmt.Errorf("%d of %d nodes did not answer (%v): %s", len(failed), len(nodes), failed, firstErr))
		} else {
			cond.ok()
		}
	})
}

// bandsOf returns the scale thresholds of a service.
func (m *Monitor) bandsOf(service string) bands {
	b := bands{hysteresis: m.tune.Hysteresis}
	if svc, ok := m.o.Platform.Service(service); ok {
		b.in, b.out = svc.Scale.InLoad, svc.Scale.OutLoad
	}
	return b
}

// loadEvent is node.load for a node's sample taken at at.
func (m *Monitor) loadEvent(n Node, load float64, at time.Time) events.Event {
	l := load
	payload, _ := events.NewPayload(events.LoadPayload{Load1: &l, Service: n.Service}) // plain struct: cannot fail
	return events.Event{
		Version: events.Version, ID: eventID(m.name, events.TypeNodeLoad, m.o.Site, n.Name, at),
		Type: events.TypeNodeLoad, Site: m.o.Site, Subject: n.Name, Observer: m.name, ObservedAt: at, Payload: payload,
	}
}
