package monitor

import (
	"context"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/microdc/mdc/activities/vsphere"
	"github.com/microdc/mdc/platform"
)

// servingSampler counts the web nodes a watched site serves, by service.
type servingSampler interface {
	Serving(ctx context.Context) (map[string]int, error)
}

// Serving counts the nodes vcenterLister lists, by service: what the site
// serves (powered on, tagged with the service and the site, with an IP).
func (l *vcenterLister) Serving(ctx context.Context) (map[string]int, error) {
	nodes, err := l.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]int, len(l.services))
	for _, svc := range l.services {
		out[svc.Name] = 0
	}
	for _, n := range nodes {
		out[n.Service]++
	}
	return out, nil
}

// buildServing makes a servingCache for each watched site whose vCenter
// credentials the monitor has. They are optional, like other sites' DSNs:
// without them a site.down carries no serving counts, and a disaster
// failover that cannot ask the failed vCenter starts the service minimum.
// The vCenter sessions are m.servingVC's, logged out by Close.
func (m *Monitor) buildServing(p *platform.Platform, env platform.Env) {
	m.serving = map[string]*servingCache{}
	cfgs := map[string]vsphere.SiteConfig{}
	for _, name := range m.watched {
		s, ok := p.Site(name)
		if !ok {
			continue
		}
		user, pass, err := p.VCenterCredentials(name, env)
		if err != nil {
			continue
		}
		cfgs[name] = vsphere.SiteConfigOf(s.VCenter, user, pass)
	}
	if len(cfgs) == 0 {
		return
	}
	m.servingVC = vsphere.New(cfgs)
	for name := range cfgs {
		m.serving[name] = newServingCache(&vcenterLister{vc: m.servingVC, site: name, services: p.Services}, m.tune.DiscoverInterval,
			m.log.With("loop", "heartbeat", "site", name))
	}
}

// newServingCache samples every interval (each sample bounded by the
// interval, and by at least 10 s).
func newServingCache(s servingSampler, every time.Duration, log *slog.Logger) *servingCache {
	return &servingCache{sampler: s, every: every, timeout: max(every, 10*time.Second),
		cond: newCondition(log, "counting the nodes the site serves in its vCenter")}
}

// ServingSeen is how many web nodes per service this monitor last counted
// at a watched site while it answered: what its next site.down about that
// site carries. Nil before the first count, and for a site it does not
// count (its own, or one whose vCenter credentials it lacks).
func (m *Monitor) ServingSeen(site string) map[string]int {
	if c := m.serving[site]; c != nil {
		return c.last()
	}
	return nil
}

// servingCache keeps a watched site's last serving counts. Samples run in
// the background, one at a time, so a slow vCenter never delays a
// heartbeat; a failed sample keeps the last good counts (a site going down
// takes its vCenter with it, and the counts from before are the ones a
// failover needs).
type servingCache struct {
	sampler servingSampler
	every   time.Duration
	timeout time.Duration
	cond    *condition

	mu       sync.Mutex
	counts   map[string]int
	at       time.Time // when the last sample was started
	inFlight bool
}

// refresh starts a sample when the last one is older than every and none
// is running. The heartbeat loop calls it only while the site answers.
func (c *servingCache) refresh(ctx context.Context, now time.Time) {
	c.mu.Lock()
	if c.inFlight || (!c.at.IsZero() && now.Sub(c.at) < c.every) {
		c.mu.Unlock()
		return
	}
	c.inFlight, c.at = true, now
	c.mu.Unlock()
	go func() {
		sctx, cancel := context.WithTimeout(ctx, c.timeout)
		counts, err := c.sampler.Serving(sctx)
		cancel()
		c.mu.Lock()
		defer c.mu.Unlock()
		c.inFlight = false
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			c.cond.fail(err)
			return
		}
		c.cond.ok()
		c.counts = counts
	}()
}

// last is a copy of the last good counts; nil before the first.
func (c *servingCache) last() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.counts)
}
