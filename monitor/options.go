package monitor

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/microdc/mdc/platform"
)

// Witness is the observer name of a monitor that watches every site from
// outside (Options.Witness).
const Witness = "witness"

// Defaults for Tuning fields left zero.
const (
	DefaultPollInterval     = time.Second
	DefaultDiscoverInterval = 5 * time.Second
	DefaultHealthInterval   = 2 * time.Second
	DefaultHeartbeat        = 30 * time.Second
	DefaultHysteresis       = 0.1
	DefaultRepublishEvery   = 5
	DefaultEventInterval    = time.Second
	DefaultStatsInterval    = time.Minute
	DefaultPublishTimeout   = 3 * time.Second
	// maxBackoff caps the wait between reconnects to a vCenter that is gone.
	maxBackoff = 30 * time.Second
)

// Tuning sets the loops' pace; zero fields take the defaults above. The
// cross-site heartbeat's interval and miss count are not here: they are the
// platform file's failover policy, which the trigger and FailoverSite read
// too.
type Tuning struct {
	// PollInterval is how often the nodes' SNMP load is read. A load
	// crossing is published at most this long after it happened.
	PollInterval time.Duration
	// DiscoverInterval is how often the site's nodes are listed from vCenter.
	DiscoverInterval time.Duration
	// HealthInterval is how often each node and the LB are checked over HTTP.
	HealthInterval time.Duration
	// Heartbeat is the slow re-publish of an unchanged node.load or
	// node.health, so consumers that lost state catch up.
	Heartbeat time.Duration
	// Hysteresis is how far (in load units) a load must fall below
	// out_load, or rise above in_load, to leave the band it is in.
	Hysteresis float64
	// RepublishEvery: while a site stays down, site.down goes out again
	// every this many detection intervals.
	RepublishEvery int
	// EventInterval is how often new vSphere events are read.
	EventInterval time.Duration
	// StatsInterval is how often the counters are logged.
	StatsInterval time.Duration
	// PublishTimeout bounds each publish.
	PublishTimeout time.Duration
}

func (t Tuning) withDefaults() Tuning {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.PollInterval, DefaultPollInterval)
	def(&t.DiscoverInterval, DefaultDiscoverInterval)
	def(&t.HealthInterval, DefaultHealthInterval)
	def(&t.Heartbeat, DefaultHeartbeat)
	def(&t.EventInterval, DefaultEventInterval)
	def(&t.StatsInterval, DefaultStatsInterval)
	def(&t.PublishTimeout, DefaultPublishTimeout)
	if t.Hysteresis <= 0 {
		t.Hysteresis = DefaultHysteresis
	}
	if t.RepublishEvery <= 0 {
		t.RepublishEvery = DefaultRepublishEvery
	}
	return t
}

// Options configure a Monitor.
type Options struct {
	// Site is the site this monitor runs at (observer name = the site).
	// Exactly one of Site and Witness is set.
	Site string
	// Witness makes this monitor the witness: heartbeats to every site, no
	// SNMP, HTTP or vSphere loops.
	Witness bool
	// Platform is the loaded, validated platform file.
	Platform *platform.Platform
	// Env resolves the secrets the platform file names (os.LookupEnv in
	// `mdc monitor`). The site's vCenter credentials and SNMP community are
	// required; other sites' database DSNs are used when present (to sample
	// the primary's GTID) and skipped when not.
	Env platform.Env
	// Publisher sends the events; when nil, New connects to NATSURL.
	Publisher Publisher
	// NATSURL and NATSOptions say where NATS is (when Publisher is nil).
	NATSURL     string
	NATSOptions []nats.Option
	// Logger receives the monitor's structured logs; slog.Default if nil.
	Logger *slog.Logger
	Tuning Tuning
}

// name is the observer name: the site, or "witness".
func (o Options) name() string {
	if o.Witness {
		return Witness
	}
	return o.Site
}

// check validates the options that need no connection.
func (o Options) check() error {
	if o.Platform == nil {
		return errors.New("monitor: no platform file: load one (MDC_PLATFORM_FILE) before starting a monitor")
	}
	switch {
	case o.Witness && o.Site != "":
		return fmt.Errorf("monitor: choose either site %q or the witness, not both: a monitor is one observer", o.Site)
	case !o.Witness && o.Site == "":
		return fmt.Errorf("monitor: name the site this monitor runs at (one of %s) or make it the witness", strings.Join(o.Platform.SiteNames(), ", "))
	case o.Site != "":
		if _, ok := o.Platform.Site(o.Site); !ok {
			return fmt.Errorf("monitor: unknown site %q: the platform file has %s", o.Site, strings.Join(o.Platform.SiteNames(), ", "))
		}
	}
	if o.Witness && len(o.Platform.Sites) == 0 {
		return errors.New("monitor: the platform file has no sites for the witness to watch")
	}
	if o.Env == nil {
		return errors.New("monitor: Options.Env is nil: pass os.LookupEnv (or the lab's Lookup) to resolve the platform file's secrets")
	}
	if o.Publisher == nil && o.NATSURL == "" {
		return errors.New("monitor: no NATS URL: set MDC_NATS_URL (e.g. nats://127.0.0.1:4222)")
	}
	return nil
}
