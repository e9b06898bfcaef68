package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/microdc/mdc/events"
)

// Publisher sends one event. It reports whether the stream already had the
// event's ID (a duplicate is a success: the event is stored once).
type Publisher interface {
	Publish(ctx context.Context, ev events.Event) (duplicate bool, err error)
}

// NATSPublisher publishes events to JetStream (events.Publish: the event
// ID is the message ID).
type NATSPublisher struct {
	nc *nats.Conn
	js jetstream.JetStream
}

// errDisconnected fails a publish at once while NATS is away, instead of
// letting every loop wait out the publish timeout; the loops retry on their
// next round.
var errDisconnected = errors.New("NATS is disconnected (reconnecting); the event is retried on the next round")

// ConnectNATS connects to NATS, makes sure the event streams exist and
// returns a publisher. name labels the connection on the server.
func ConnectNATS(ctx context.Context, natsURL string, opts []nats.Option, name string, log *slog.Logger) (*NATSPublisher, error) {
	if log == nil {
		log = slog.Default()
	}
	all := append([]nats.Option{
		nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond), nats.Timeout(5 * time.Second),
		nats.DisconnectErrHandler(func(c *nats.Conn, err error) {
			if !c.IsClosed() { // Close itself also reports a disconnect
				log.Warn("NATS disconnected; reconnecting", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("NATS reconnected", "server", c.ConnectedUrlRedacted()) }),
	}, opts...)
	nc, err := nats.Connect(natsURL, all...)
	if err != nil {
		return nil, fmt.Errorf("monitor: connect to NATS at %s: %w (is the server running and reachable? set MDC_NATS_URL)", redactNATS(natsURL), err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("monitor: JetStream on %s: %w", nc.ConnectedUrlRedacted(), err)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := events.EnsureStreams(cctx, js); err != nil {
		nc.Close()
		return nil, fmt.Errorf("monitor: %w", err)
	}
	return &NATSPublisher{nc: nc, js: js}, nil
}

// Publish sends ev and waits for the stream's ack.
func (p *NATSPublisher) Publish(ctx context.Context, ev events.Event) (bool, error) {
	if !p.nc.IsConnected() {
		return false, errDisconnected
	}
	return events.Publish(ctx, p.js, ev)
}

// Close closes the connection.
func (p *NATSPublisher) Close() { p.nc.Close() }

// redactNATS hides credentials NATS URLs may carry (user:password@ or a
// token@), for messages.
func redactNATS(urls string) string {
	parts := strings.Split(urls, ",")
	for i, raw := range parts {
		u, err := url.Parse(strings.TrimSpace(raw))
		switch {
		case err != nil:
			parts[i] = "(unparsable URL)"
		case u.User != nil:
			u.User = url.User("xxxxx")
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}

// Stats are a monitor's counters since it started.
type Stats struct {
	// Published events by type (duplicates included: the stream has them).
	Published map[string]int64
	// Duplicates the stream dropped because it already had the event ID.
	Duplicates int64
	// Failed publishes (NATS away or not acknowledging); they are retried.
	Failed int64
}

// Total is the number of events published, all types.
func (s Stats) Total() int64 {
	var n int64
	for _, v := range s.Published {
		n += v
	}
	return n
}

type counters struct {
	mu         sync.Mutex
	published  map[string]int64
	duplicates atomic.Int64
	failed     atomic.Int64
}

func (c *counters) add(typ string) {
	c.mu.Lock()
	if c.published == nil {
		c.published = map[string]int64{}
	}
	c.published[typ]++
	c.mu.Unlock()
}

func (c *counters) snapshot() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{Published: maps.Clone(c.published), Duplicates: c.duplicates.Load(), Failed: c.failed.Load()}
}

// eventID builds an event ID that is unique per observation: observer,
// type, site, subject and when it was observed (nanoseconds).
func eventID(observer, typ, site, subject string, at time.Time) string {
	id := observer + "." + typ + "." + site
	if subject != "" {
		id += "." + subject
	}
	return id + "." + strconv.FormatInt(at.UnixNano(), 10)
}
