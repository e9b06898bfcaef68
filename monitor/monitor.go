package monitor

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/microdc/mdc/activities/vsphere"
	"github.com/microdc/mdc/events"
	"github.com/microdc/mdc/platform"
)

// Monitor is one observer's loops (see the package doc). Build it with New,
// run it with Run, and Close it after Run returned.
type Monitor struct {
	o    Options
	tune Tuning
	name string
	log  *slog.Logger

	pub      Publisher
	closePub func()
	stats    counters
	pubFail  *condition

	// Heartbeats: the sites watched, how they are probed, and the samplers
	// of the databases whose DSN is known.
	watched []string
	prober  siteProber
	gtid    map[string]gtidSampler
	// serving counts each watched site's nodes in its vCenter (servingVC)
	// while the site answers.
	serving   map[string]*servingCache
	servingVC *vsphere.Activities

	// Site observer only (nil for the witness).
	site    *platform.Site
	lister  nodeLister
	poller  loadPoller
	snmp    snmpTarget
	checker httpChecker
	vc      *vsphere.Activities
	vcCfg   vsphere.SiteConfig
	nodes   atomic.Pointer[[]Node]
}

// New checks the options, resolves the secrets the monitor needs and, when
// no Publisher is given, connects to NATS (making sure the event streams
// exist). Errors say which option, site or secret is wrong.
func New(ctx context.Context, o Options) (*Monitor, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	m := &Monitor{o: o, tune: o.Tuning.withDefaults(), name: o.name()}
	m.log = o.Logger.With("component", "monitor", "observer", m.name)
	m.pubFail = newCondition(m.log, "publishing events to NATS")
	if err := m.build(); err != nil {
		return nil, err
	}
	m.pub = o.Publisher
	if m.pub == nil {
		p, err := ConnectNATS(ctx, o.NATSURL, o.NATSOptions, "mdc-monitor-"+m.name, m.log)
		if err != nil {
			m.Close()
			return nil, err
		}
		m.pub, m.closePub = p, p.Close
	}
	return m, nil
}

// Name is the observer name the monitor publishes under.
func (m *Monitor) Name() string { return m.name }

// Stats returns the counters since New.
func (m *Monitor) Stats() Stats { return m.stats.snapshot() }

// Run runs the loops until ctx ends; it returns once every loop stopped.
func (m *Monitor) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	run := func(f func(context.Context)) { wg.Go(func() { f(ctx) }) }
	for _, site := range m.watched {
		run(func(ctx context.Context) { m.watchSite(ctx, site) })
	}
	if m.site != nil {
		run(m.discoverLoop)
		run(m.loadLoop)
		run(m.healthLoop)
		run(m.vsphereLoop)
	}
	run(m.statsLoop)
	m.log.Info("monitor running", "watching", m.watched, "local_loops", m.site != nil,
		"detection_interval", m.o.Platform.Failover.DetectionInterval.Duration, "misses", m.o.Platform.Failover.Misses)
	wg.Wait()
	s := m.Stats()
	m.log.Info("monitor stopped", "published", s.Total(), "by_type", s.Published, "failed", s.Failed)
	return nil
}

// Close releases the NATS connection (when New made it) and the vCenter
// sessions; call it after Run returned.
func (m *Monitor) Close() {
	if m.closePub != nil {
		m.closePub()
	}
	ctx, cancel := context.WithTimeout(context.Background(), DefaultPublishTimeout)
	defer cancel()
	for _, vc := range []*vsphere.Activities{m.vc, m.servingVC} {
		if vc != nil {
			vsphere.Logout(ctx, vc)
		}
	}
}

// publish sends ev within the publish timeout and counts it. A failure is
// logged once per outage (see condition) and returned, so the caller
// leaves its state unchanged and asks again on its next round.
func (m *Monitor) publish(ctx context.Context, ev events.Event) error {
	pctx, cancel := context.WithTimeout(ctx, m.tune.PublishTimeout)
	defer cancel()
	dup, err := m.pub.Publish(pctx, ev)
	if err != nil {
		if ctx.Err() == nil {
			m.stats.failed.Add(1)
			m.pubFail.fail(err, "event", ev.ID)
		}
		return fmt.Errorf("publish %s: %w", ev.ID, err)
	}
	m.pubFail.ok()
	m.stats.add(ev.Type)
	if dup {
		m.stats.duplicates.Add(1)
	}
	return nil
}

// statsLoop logs the counters every StatsInterval.
func (m *Monitor) statsLoop(ctx context.Context) {
	var last int64
	every(ctx, m.tune.StatsInterval, func(time.Time) {
		s := m.Stats()
		if s.Total() == last && s.Failed == 0 {
			return
		}
		last = s.Total()
		m.log.Info("monitor counters", "published", s.Total(), "by_type", s.Published, "duplicates", s.Duplicates, "failed", s.Failed)
	})
}
