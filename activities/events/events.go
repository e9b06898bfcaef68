// Package events publishes mdc's platform events to NATS JetStream.
//
// Every event is a small versioned JSON envelope (Event): the workflows build
// it deterministically (NewEvent) and hand it to the Publish activity, which
// sends it with the event's ID as the JetStream message ID, so a retried
// activity inside the stream's duplicate window publishes the event once.
//
// Subjects start with SubjectPrefix: FailoverSite publishes its outcome on
// mdc.events.failover.<status> (FailoverSubject). The full event schema of
// the monitors and triggers builds on this envelope; Version says which
// payload shape a consumer is reading.
package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/microdc/mdc/apperrors"
)

// SchemaVersion is the envelope version NewEvent writes.
const SchemaVersion = 1

// SubjectPrefix starts every mdc event subject.
const SubjectPrefix = "mdc.events."

// DefaultStream is the JetStream stream holding mdc's events; New creates it
// (subjects mdc.events.>) when it does not exist yet.
const DefaultStream = "MDC_EVENTS"

// DefaultTimeout bounds connecting and each publish when Options set none.
const DefaultTimeout = 5 * time.Second

// Event is the envelope of every mdc event.
type Event struct {
	// Version of the envelope and payload shape (SchemaVersion).
	Version int `json:"version"`
	// ID is unique per event and stable across retries: it is the
	// JetStream message ID, which makes a re-publish a duplicate.
	ID string `json:"id"`
	// Type is the event's kind, e.g. "failover.failed-over".
	Type string `json:"type"`
	// Site is the site the event is about.
	Site string `json:"site,omitempty"`
	// ObservedAt is when the publisher saw what the event reports.
	ObservedAt time.Time `json:"observed_at"`
	// Payload is the type-specific body.
	Payload json.RawMessage `json:"payload,omitempty"`
}

// NewEvent builds a version-1 event with payload marshalled to JSON. It is
// deterministic (no clock, no randomness), so workflows may call it.
func NewEvent(id, typ, site string, observedAt time.Time, payload any) (json.RawMessage, error) {
	var raw json.RawMessage
	if payload != nil {
		b, err := json.Marshal(payload)
		if err != nil {
			return nil, fmt.Errorf("event %s: marshal payload: %w", id, err)
		}
		raw = b
	}
	return json.Marshal(Event{Version: SchemaVersion, ID: id, Type: typ, Site: site, ObservedAt: observedAt.UTC(), Payload: raw})
}

// FailoverSubject is the subject FailoverSite publishes its outcome on.
func FailoverSubject(status string) string { return SubjectPrefix + "failover." + status }

// Options say where NATS is and which stream holds the events.
type Options struct {
	// URL of the NATS server(s), e.g. nats://127.0.0.1:4222 (comma-separated
	// for a cluster). Credentials go in NATSOptions, never in logs.
	URL string
	// NATSOptions are extra connection options (credentials, TLS, name).
	NATSOptions []nats.Option
	// Stream is the stream to create when missing; DefaultStream when empty.
	Stream string
	// Subjects of a created stream; mdc.events.> when empty.
	Subjects []string
	// Timeout bounds connecting and each publish; DefaultTimeout when zero.
	Timeout time.Duration
}

// Activities publishes events; build it with New and register it with a
// worker.
type Activities struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	timeout time.Duration
}

// New connects to NATS and makes sure the events stream exists (an existing
// stream is used as it is configured, never changed).
func New(ctx context.Context, o Options) (*Activities, error) {
	if o.URL == "" {
		return nil, errors.New("events: no NATS URL: set the NATS server address (e.g. nats://127.0.0.1:4222)")
	}
	if o.Stream == "" {
		o.Stream = DefaultStream
	}
	if len(o.Subjects) == 0 {
		o.Subjects = []string{SubjectPrefix + ">"}
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	opts := append([]nats.Option{nats.Name("mdc-events"), nats.Timeout(o.Timeout), nats.MaxReconnects(-1)}, o.NATSOptions...)
	nc, err := nats.Connect(o.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("events: connect to NATS at %s: %w (is the server running and reachable?)", o.URL, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("events: JetStream on %s: %w", o.URL, err)
	}
	cctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if _, err := js.Stream(cctx, o.Stream); errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = js.CreateStream(cctx, jetstream.StreamConfig{
			Name: o.Stream, Subjects: o.Subjects, Storage: jetstream.FileStorage,
			// Retried publishes carry the same message ID; two minutes
			// covers an activity's retries.
			Duplicates: 2 * time.Minute,
		})
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("events: create stream %s for %s: %w", o.Stream, strings.Join(o.Subjects, " "), err)
		}
	} else if err != nil {
		nc.Close()
		return nil, fmt.Errorf("events: look up stream %s: %w (is JetStream enabled on the server?)", o.Stream, err)
	}
	return &Activities{nc: nc, js: js, timeout: o.Timeout}, nil
}

// Close closes the NATS connection. It is a function, not a method, so that
// registering the activities with a worker does not take it for one.
func Close(a *Activities) {
	if a != nil && a.nc != nil {
		a.nc.Close()
	}
}

// PublishInput is one event to publish.
type PublishInput struct {
	// Subject starts with SubjectPrefix, e.g. mdc.events.failover.failed-over.
	Subject string
	// Data is an Event envelope (see NewEvent).
	Data json.RawMessage
}

// PublishResult says where the event went.
type PublishResult struct {
	Stream   string
	Sequence uint64
	// Duplicate is true when the stream already had this event's ID (a
	// retry of a publish that had reached it).
	Duplicate bool
}

// Publish sends the event to JetStream and waits for the stream's ack.
// Bad subjects and malformed envelopes are BadInput; a subject no stream
// takes is Rejected; a server that does not answer is Unavailable.
func (a *Activities) Publish(ctx context.Context, in PublishInput) (PublishResult, error) {
	if err := checkSubject(in.Subject); err != nil {
		return PublishResult{}, err
	}
	var ev Event
	if err := json.Unmarshal(in.Data, &ev); err != nil {
		return PublishResult{}, apperrors.BadInput("publish on %s: data is not an event envelope (JSON object with version, id, type): %v", in.Subject, err)
	}
	if ev.Version < 1 || ev.ID == "" || ev.Type == "" {
		return PublishResult{}, apperrors.BadInput("publish on %s: the event needs version >= 1, id and type (got version %d, id %q, type %q)", in.Subject, ev.Version, ev.ID, ev.Type)
	}
	pctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	ack, err := a.js.Publish(pctx, in.Subject, in.Data, jetstream.WithMsgID(ev.ID))
	switch {
	case err == nil:
		return PublishResult{Stream: ack.Stream, Sequence: ack.Sequence, Duplicate: ack.Duplicate}, nil
	case errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrNoResponders) && a.nc.IsConnected():
		return PublishResult{}, apperrors.Rejected("publish event %s on %s: no JetStream stream takes this subject; create one for %s> (mdc creates %s at start-up)", ev.ID, in.Subject, SubjectPrefix, DefaultStream)
	default:
		where := a.nc.ConnectedUrlRedacted()
		if where == "" {
			where = "(disconnected)"
		}
		return PublishResult{}, apperrors.Unavailable(err, "publish event %s on %s: NATS %s did not ack: %v; it is retried", ev.ID, in.Subject, where, err)
	}
}

// checkSubject accepts literal subjects under SubjectPrefix.
func checkSubject(s string) error {
	if !strings.HasPrefix(s, SubjectPrefix) || len(s) == len(SubjectPrefix) {
		return apperrors.BadInput("subject %q: event subjects start with %q and name the event, e.g. %s", s, SubjectPrefix, FailoverSubject("failed-over"))
	}
	for _, tok := range strings.Split(s, ".") {
		if tok == "" || tok == "*" || tok == ">" || strings.ContainsAny(tok, " \t\r\n") {
			return apperrors.BadInput("subject %q: tokens must be non-empty literals without spaces or wildcards", s)
		}
	}
	return nil
}
