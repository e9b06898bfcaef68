// Package events is mdc's versioned event schema: what monitors publish on
// NATS JetStream and the trigger consumes. An Event is a small JSON envelope
// with a type-specific payload; Decode is strict (unknown fields, unknown
// types, missing fields and oversize messages are errors naming the field
// and what was expected), because the trigger dead-letters what Decode
// rejects instead of guessing. The streams (MDC_EVENTS, MDC_DEADLETTER) and
// publishing with the event ID as the JetStream message ID live in
// stream.go.
package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Version is the only schema version this package reads and writes.
const Version = 1

// MaxSize is the largest encoded event accepted (64 KiB): events are
// observations, not documents, and a bounded size keeps the stream's
// byte limit meaningful.
const MaxSize = 64 << 10

// Event types. They are part of mdc's interface: monitors publish them and
// the trigger's rules match on them.
const (
	// TypeSiteDown: an observer lost a site (missed heartbeats).
	TypeSiteDown = "site.down"
	// TypeSiteUp: an observer sees a site again.
	TypeSiteUp = "site.up"
	// TypeNodeLoad: a node's 1-minute load average (Subject is the node).
	TypeNodeLoad = "node.load"
	// TypeNodeHealth: a node's HTTP health check result (Subject is the node).
	TypeNodeHealth = "node.health"
	// TypeHostDisconnected: vSphere reports a host disconnected (Subject is the host).
	TypeHostDisconnected = "host.disconnected"
	// TypeVMPoweredOff: vSphere reports a VM powered off (Subject is the VM).
	TypeVMPoweredOff = "vm.powered_off"
)

// Types lists every known event type.
var Types = []string{TypeSiteDown, TypeSiteUp, TypeNodeLoad, TypeNodeHealth, TypeHostDisconnected, TypeVMPoweredOff}

// Event is the envelope of every monitor event.
type Event struct {
	// Version of the schema; always 1.
	Version int `json:"version"`
	// ID is unique per observation and stable across re-publishes: it is
	// the JetStream message ID, so a re-publish inside the stream's
	// duplicate window is dropped.
	ID string `json:"id"`
	// Type is one of the Type* constants.
	Type string `json:"type"`
	// Site the event is about (a site name of the platform file).
	Site string `json:"site"`
	// Subject is what at the site the event is about (node, host or VM
	// name); empty for site-wide events.
	Subject string `json:"subject,omitempty"`
	// Observer names who saw it (monitor instance or site), for quorums.
	Observer string `json:"observer,omitempty"`
	// ObservedAt is when the observer saw what the event reports.
	ObservedAt time.Time `json:"observed_at"`
	// Payload is the type-specific body (see the *Payload types).
	Payload json.RawMessage `json:"payload,omitempty"`
}

// SitePayload is the optional payload of site.down and site.up.
type SitePayload struct {
	// Misses is how many consecutive heartbeats were missed (site.down)
	// or answered (site.up).
	Misses *int `json:"misses,omitempty"`
	// Since is when the observer's first missed heartbeat of this outage
	// was due (site.down): the outage clock of the failover's RTO starts
	// there, not when the miss threshold was reached.
	Since *time.Time `json:"since,omitempty"`
	// PrimaryGTID is the site database's last gtid_binlog_pos the observer
	// sampled before the site went silent (site.down of the primary site):
	// it lets a disaster failover measure the data it loses (RPO) even when
	// the primary was idle.
	PrimaryGTID string `json:"primary_gtid,omitempty"`
	// Serving is how many web nodes of each service (by name) the site was
	// serving when the observer last listed them in the site's vCenter,
	// before it went silent (site.down). A disaster failover starts at
	// least as many at the target when the failed vCenter cannot be asked.
	Serving map[string]int `json:"serving,omitempty"`
}

// LoadPayload is the payload of node.load.
type LoadPayload struct {
	// Load1 is the node's 1-minute load average (required, >= 0).
	Load1 *float64 `json:"load1"`
	// Service the node belongs to; may be omitted when the platform file
	// has exactly one service.
	Service string `json:"service,omitempty"`
}

// HealthPayload is the payload of node.health.
type HealthPayload struct {
	// Healthy is the check's verdict (required).
	Healthy *bool `json:"healthy"`
	// Detail says why, for people (status code, error).
	Detail string `json:"detail,omitempty"`
	// Service the node belongs to, if known.
	Service string `json:"service,omitempty"`
}

// ObjectPayload is the optional payload of host.disconnected and
// vm.powered_off.
type ObjectPayload struct {
	// Detail is vSphere's event message, for people.
	Detail string `json:"detail,omitempty"`
}

// Error is a schema violation: which field and what was expected.
type Error struct {
	// Field is the JSON path, e.g. "payload.load1"; empty for the whole message.
	Field string
	// Problem says what is wrong and what was expected.
	Problem string
}

func (e *Error) Error() string {
	if e.Field == "" {
		return "event: " + e.Problem
	}
	return "event: " + e.Field + ": " + e.Problem
}

func fieldErr(field, format string, args ...any) error {
	return &Error{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// Encode validates ev and returns its JSON; an invalid event is an *Error.
func Encode(ev Event) ([]byte, error) {
	if err := Validate(ev); err != nil {
		return nil, err
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("event %s: marshal: %w", ev.ID, err)
	}
	if len(b) > MaxSize {
		return nil, fieldErr("", "encoded size %d bytes exceeds the %d-byte limit; shrink the payload", len(b), MaxSize)
	}
	return b, nil
}

// Decode parses and validates one event. Unknown fields (in the envelope
// and the payload), trailing data, a version other than 1, an unknown type,
// missing id/site/observed_at, a payload of the wrong shape and more than
// MaxSize bytes are each an *Error naming the field.
func Decode(data []byte) (Event, error) {
	if len(data) > MaxSize {
		return Event{}, fieldErr("", "message is %d bytes, more than the %d-byte limit", len(data), MaxSize)
	}
	var ev Event
	if err := strictUnmarshal(data, &ev); err != nil {
		return Event{}, fieldErr("", "not a valid event envelope: %v", err)
	}
	if err := Validate(ev); err != nil {
		return Event{}, err
	}
	return ev, nil
}

// strictUnmarshal decodes one JSON object into v, rejecting unknown fields,
// null/non-object documents and trailing data.
func strictUnmarshal(data []byte, v any) error {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return errors.New("expected a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

// Validate checks an event against the schema without encoding it.
func Validate(ev Event) error {
	if ev.Version != Version {
		return fieldErr("version", "is %d; this mdc reads version %d only", ev.Version, Version)
	}
	if err := checkToken("id", ev.ID, 200, false); err != nil {
		return err
	}
	if !knownType(ev.Type) {
		return fieldErr("type", "%q is not a known event type; expected one of %s", ev.Type, strings.Join(Types, ", "))
	}
	if err := checkName("site", ev.Site); err != nil {
		return err
	}
	if ev.Subject != "" {
		if err := checkToken("subject", ev.Subject, 255, true); err != nil {
			return err
		}
	}
	if ev.ObservedAt.IsZero() {
		return fieldErr("observed_at", "is missing; expected an RFC 3339 time such as 2024-05-01T12:00:00Z")
	}
	return validatePayload(ev)
}

func knownType(t string) bool {
	for _, k := range Types {
		if t == k {
			return true
		}
	}
	return false
}

// checkName accepts platform-file names (lowercase letters, digits, '-',
// 1..63), which are also safe as a NATS subject token.
func checkName(field, s string) error {
	if s == "" {
		return fieldErr(field, "is missing; expected a site name of the platform file")
	}
	if len(s) > 63 {
		return fieldErr(field, "%q is longer than 63 characters", s)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return fieldErr(field, "%q: expected lowercase letters, digits and '-' only", s)
		}
	}
	return nil
}

// checkToken accepts printable text without whitespace or control characters.
func checkToken(field, s string, max int, optional bool) error {
	if s == "" && !optional {
		return fieldErr(field, "is missing; expected a non-empty string")
	}
	if len(s) > max {
		return fieldErr(field, "is %d bytes, more than %d", len(s), max)
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || r == '\uFFFD' {
			return fieldErr(field, "%q contains whitespace, control or invalid UTF-8 characters", s)
		}
	}
	return nil
}
