package triggers

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/microdc/mdc/events"
	"github.com/microdc/mdc/platform"
)

// Defaults for Options left zero.
const (
	DefaultDurable       = "mdc-trigger"
	DefaultConcurrency   = 8
	DefaultCallTimeout   = 10 * time.Second
	DefaultMaxBackoff    = 30 * time.Second
	DefaultStatsInterval = time.Minute
)

// ignoredPrefixes hold the workflows' own events (FailoverSite's outcome,
// ReplicateVM's RPO violation), which share MDC_EVENTS with the monitors'
// but follow no monitor event schema: the trigger acks them unread.
var ignoredPrefixes = []string{events.SubjectPrefix + "failover.", events.SubjectPrefix + "replication."}

// ignored reports whether subject carries a workflow's own event.
func ignored(subject string) bool {
	for _, p := range ignoredPrefixes {
		if strings.HasPrefix(subject, p) {
			return true
		}
	}
	return false
}

// Options configure a Trigger.
type Options struct {
	// NATSURL is the NATS server URL(s), comma-separated.
	NATSURL string
	// NATSOptions are extra connection options (credentials, TLS).
	NATSOptions []nats.Option
	// Starter performs the Temporal actions (a *TemporalStarter in production).
	Starter Starter
	// Platform is the platform file: its triggers section holds the rules
	// and its failover policy the observer quorum; events for sites it
	// lacks are rejected.
	Platform *platform.Platform
	// Logger receives decisions and the periodic counters; slog.Default if nil.
	Logger *slog.Logger
	// Durable is the consumer name; DefaultDurable when empty.
	Durable string
	// Concurrency is how many events are handled at once; events about the
	// same site and subject, and every site.down and site.up of a site,
	// always go to the same handler, in order.
	Concurrency int
	// CallTimeout bounds each Temporal call; it is below the consumer's ack
	// wait so a slow Temporal never causes a redelivery race.
	CallTimeout time.Duration
	// MaxBackoff caps the NAK delay while Temporal is unavailable.
	MaxBackoff time.Duration
	// StatsInterval is how often the counters are logged.
	StatsInterval time.Duration
}

// Trigger consumes MDC_EVENTS and applies the rules (see the package doc).
type Trigger struct {
	o     Options
	nc    *nats.Conn
	js    jetstream.JetStream
	cons  jetstream.Consumer
	votes *voteStore
	stats counters
	log   *slog.Logger
}

// New connects to NATS, ensures the streams and the durable consumer exist
// and returns a Trigger ready to Run.
func New(ctx context.Context, o Options) (*Trigger, error) {
	if o.NATSURL == "" {
		return nil, errors.New("trigger: no NATS URL: set MDC_NATS_URL (e.g. nats://127.0.0.1:4222)")
	}
	if o.Starter == nil || o.Platform == nil {
		return nil, errors.New("trigger: Options.Starter and Options.Platform are required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Durable == "" {
		o.Durable = DefaultDurable
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.StatsInterval <= 0 {
		o.StatsInterval = DefaultStatsInterval
	}
	t := &Trigger{o: o, log: o.Logger.With("component", "trigger")}
	opts := append([]nats.Option{
		nats.Name("mdc-trigger"), nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: Close, on the way out
				t.log.Warn("NATS disconnected; reconnecting", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { t.log.Info("NATS reconnected", "server", c.ConnectedUrlRedacted()) }),
	}, o.NATSOptions...)
	nc, err := nats.Connect(o.NATSURL, opts...)
	if err != nil {
		return nil, fmt.Errorf("trigger: connect to NATS at %s: %w (is the server running? set MDC_NATS_URL)", o.NATSURL, err)
	}
	t.nc = nc
	if t.js, err = jetstream.New(nc); err != nil {
		nc.Close()
		return nil, fmt.Errorf("trigger: JetStream: %w", err)
	}
	if err := events.EnsureStreams(ctx, t.js); err != nil {
		nc.Close()
		return nil, fmt.Errorf("trigger: %w", err)
	}
	if t.votes, err = openVotes(ctx, t.js); err != nil {
		nc.Close()
		return nil, fmt.Errorf("trigger: %w", err)
	}
	t.cons, err = t.js.CreateOrUpdateConsumer(ctx, events.Stream, jetstream.ConsumerConfig{
		Durable: o.Durable, Description: "mdc trigger: events to Temporal",
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: 3*o.CallTimeout + 5*time.Second,
		// Unlimited redelivery: an event waiting for Temporal is never dropped.
		MaxDeliver: -1, MaxAckPending: 4096, FilterSubject: events.SubjectPrefix + ">",
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("trigger: create durable consumer %s on %s: %w", o.Durable, events.Stream, err)
	}
	return t, nil
}

// Stats returns the counters since New.
func (t *Trigger) Stats() Stats { return t.stats.snapshot() }

// Platform returns the platform file the trigger takes its rules from.
func (t *Trigger) Platform() *platform.Platform { return t.o.Platform }

// Close closes the NATS connection; call it after Run returned.
func (t *Trigger) Close() { t.nc.Close() }

// Run consumes events until ctx is done; in-flight events finish (or are
// NAKed) before it returns.
func (t *Trigger) Run(ctx context.Context) error {
	it, err := t.cons.Messages(jetstream.PullMaxMessages(512))
	if err != nil {
		return fmt.Errorf("trigger: consume %s: %w", events.Stream, err)
	}
	queues := make([]chan delivery, t.o.Concurrency)
	var wg sync.WaitGroup
	for i := range queues {
		queues[i] = make(chan delivery, 64)
		wg.Add(1)
		go func(q chan delivery) {
			defer wg.Done()
			for d := range q {
				t.handle(ctx, d)
			}
		}(queues[i])
	}
	go func() {
		<-ctx.Done()
		it.Stop()
	}()
	go t.logStats(ctx)
	t.log.Info("trigger consuming", "stream", events.Stream, "consumer", t.o.Durable, "concurrency", t.o.Concurrency,
		"rules", Rules(t.o.Platform), "observer_quorum", t.o.Platform.Failover.ObserverQuorum,
		"vote_lifetime", t.o.Platform.Failover.VoteLifetime())
	for {
		m, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) || ctx.Err() != nil {
				break
			}
			t.log.Warn("fetching events failed; retrying", "err", err)
			continue
		}
		d := delivery{msg: m}
		d.ev, d.err = events.Decode(m.Data())
		queues[t.route(d)] <- d
	}
	for _, q := range queues {
		close(q)
	}
	wg.Wait()
	t.log.Info("trigger stopped", t.Stats().attrs()...)
	return nil
}

// delivery is one message with its decoding.
type delivery struct {
	msg jetstream.Msg
	ev  events.Event
	err error
}

// route keeps events about one site and subject on one handler, in order,
// and all of a site's votes (site.down, site.up) on one handler, so that
// one trigger counts a site's quorum without racing itself.
func (t *Trigger) route(d delivery) int {
	h := fnv.New32a()
	if d.err == nil && (d.ev.Type == events.TypeSiteDown || d.ev.Type == events.TypeSiteUp) {
		h.Write([]byte("votes." + d.ev.Site))
	} else {
		h.Write([]byte(d.msg.Subject()))
		h.Write([]byte(d.ev.Subject))
	}
	return int(h.Sum32() % uint32(t.o.Concurrency))
}

// logStats logs the counters every StatsInterval when they changed.
func (t *Trigger) logStats(ctx context.Context) {
	tick := time.NewTicker(t.o.StatsInterval)
	defer tick.Stop()
	var last Stats
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if s := t.Stats(); s != last {
				t.log.Info("trigger counters", s.attrs()...)
				last = s
			}
		}
	}
}

// attrs are the counters as log attributes.
func (s Stats) attrs() []any {
	return []any{"processed", s.Processed, "failovers_started", s.Started, "signalled", s.Signalled,
		"deduplicated", s.Deduplicated, "votes_recorded", s.VotesRecorded, "votes_stale", s.VotesStale,
		"quorum_waits", s.QuorumWaits, "recorded", s.Recorded, "ignored", s.Ignored,
		"rejected", s.Rejected, "retried", s.Retried}
}

// Rules describes the effective rules, for logs and banners: "site.down:
// start FailoverSite, node.load: signal-with-start Autoscale; other events
// recorded".
func Rules(p *platform.Platform) string {
	var parts []string
	for _, ev := range events.Types {
		if r := p.TriggerRule(ev); r.Action != platform.ActionRecord {
			parts = append(parts, ev+": "+r.Action+" "+r.Workflow)
		}
	}
	if len(parts) == 0 {
		return "every event recorded, nothing started"
	}
	return strings.Join(parts, ", ") + "; other events recorded"
}
