package monitor

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/microdc/mdc/activities/health"
	"github.com/microdc/mdc/events"
)

// httpChecker requests a URL once (health.Activities).
type httpChecker interface {
	CheckHTTP(ctx context.Context, in health.CheckHTTPInput) (health.CheckHTTPResult, error)
}

// healthCheckConcurrency bounds the HTTP checks in flight at once.
const healthCheckConcurrency = 32

// check is one HTTP health check of a round.
type check struct {
	subject, service, url string
}

// LBSubject is the subject of node.health events about a site's load
// balancer frontend: "<site>-lb".
func LBSubject(site string) string { return site + "-lb" }

// healthLoop checks every node's health_path and the site's LB frontend
// every HealthInterval and publishes node.health on a change, and
// otherwise every Heartbeat per subject.
func (m *Monitor) healthLoop(ctx context.Context) {
	log := m.log.With("loop", "health", "site", m.o.Site)
	trackers := map[string]*tracker{}
	timeout := min(m.tune.HealthInterval, 2*time.Second)
	every(ctx, m.tune.HealthInterval, func(time.Time) {
		checks := m.healthChecks()
		if len(checks) == 0 {
			return
		}
		at := time.Now()
		results := make([]health.CheckHTTPResult, len(checks))
		errs := make([]error, len(checks))
		sem := make(chan struct{}, healthCheckConcurrency)
		var wg sync.WaitGroup
		for i, c := range checks {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				results[i], errs[i] = m.checker.CheckHTTP(ctx, health.CheckHTTPInput{URL: c.url, Timeout: timeout})
			})
		}
		wg.Wait()
		if ctx.Err() != nil {
			return
		}
		seen := make(map[string]bool, len(checks))
		for i, c := range checks {
			seen[c.subject] = true
			healthy, detail := results[i].Healthy, results[i].Reason
			if errs[i] != nil {
				healthy, detail = false, errs[i].Error()
			} else if healthy {
				detail = fmt.Sprintf("status %d in %s", results[i].Status, results[i].Latency.Round(time.Millisecond))
			}
			state := "unhealthy"
			if healthy {
				state = "healthy"
			}
			t := trackers[c.subject]
			if t == nil {
				t = &tracker{}
				trackers[c.subject] = t
			}
			if !t.due(state, at, m.tune.Heartbeat) {
				continue
			}
			if err := m.publish(ctx, m.healthEvent(c, healthy, detail, at)); err != nil {
				continue
			}
			if t.state != "" && t.state != state {
				log.Info("health changed", "subject", c.subject, "health", state, "detail", detail)
			}
			t.sent(state, at)
		}
		for s := range trackers {
			if !seen[s] {
				delete(trackers, s)
			}
		}
	})
}

// healthChecks lists this round's checks: every node, then the LB frontend
// with the first service's health path.
func (m *Monitor) healthChecks() []check {
	var out []check
	for _, n := range m.currentNodes() {
		out = append(out, check{subject: n.Name, service: n.Service,
			url: "http://" + net.JoinHostPort(n.IP, strconv.Itoa(n.Port)) + n.HealthPath})
	}
	if fe := m.site.LB.Frontend; fe != "" && len(m.o.Platform.Services) > 0 {
		svc := m.o.Platform.Services[0]
		out = append(out, check{subject: LBSubject(m.o.Site), service: svc.Name, url: "http://" + fe + svc.HealthPath})
	}
	return out
}

// healthEvent is node.health for one check's outcome.
func (m *Monitor) healthEvent(c check, healthy bool, detail string, at time.Time) events.Event {
	h := healthy
	if len(detail) > 512 {
		detail = detail[:512]
	}
	payload, _ := events.NewPayload(events.HealthPayload{Healthy: &h, Detail: detail, Service: c.service}) // cannot fail
	return events.Event{
		Version: events.Version, ID: eventID(m.name, events.TypeNodeHealth, m.o.Site, c.subject, at),
		Type: events.TypeNodeHealth, Site: m.o.Site, Subject: c.subject, Observer: m.name, ObservedAt: at, Payload: payload,
	}
}
