package events

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Stream names and subjects.
const (
	// Stream holds every event (subjects SubjectPrefix + ">").
	Stream = "MDC_EVENTS"
	// SubjectPrefix starts every event subject: mdc.events.<type>.<site>.
	SubjectPrefix = "mdc.events."
	// DeadLetterStream holds messages the trigger rejected, with the reason.
	DeadLetterStream = "MDC_DEADLETTER"
	// DeadLetterPrefix starts every dead-letter subject.
	DeadLetterPrefix = "mdc.deadletter."
	// DeadLetterSubject is where the trigger dead-letters rejected events.
	DeadLetterSubject = DeadLetterPrefix + "events"
)

// Dead-letter headers, set next to the original bytes.
const (
	// HeaderReason says why the message was rejected.
	HeaderReason = "Mdc-Reject-Reason"
	// HeaderOriginalSubject is the subject the message was published on.
	HeaderOriginalSubject = "Mdc-Original-Subject"
	// HeaderOriginalSequence is its sequence in MDC_EVENTS.
	HeaderOriginalSequence = "Mdc-Original-Sequence"
)

// Stream limits (see EnsureStreams).
const (
	MaxAge            = 24 * time.Hour
	MaxBytes          = 1 << 30
	DuplicateWindow   = 2 * time.Minute
	DeadLetterMaxAge  = 7 * 24 * time.Hour
	DeadLetterMaxByte = 256 << 20
)

// Subject is the subject an event of typ about site is published on:
// mdc.events.<type>.<site>, e.g. mdc.events.site.down.uk.
func Subject(typ, site string) string { return SubjectPrefix + typ + "." + site }

// StreamConfig is MDC_EVENTS' configuration: file storage, 24 h / 1 GiB
// limits (old events go first) and a 2-minute duplicate window so that a
// re-published event ID is dropped.
func StreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name: Stream, Description: "mdc monitor events (see package events)",
		Subjects: []string{SubjectPrefix + ">"}, Storage: jetstream.FileStorage,
		Retention: jetstream.LimitsPolicy, Discard: jetstream.DiscardOld,
		MaxAge: MaxAge, MaxBytes: MaxBytes, MaxMsgSize: MaxSize + 4096,
		Duplicates: DuplicateWindow,
	}
}

// DeadLetterConfig is MDC_DEADLETTER's configuration: rejected messages are
// kept a week for people to inspect and replay.
func DeadLetterConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name: DeadLetterStream, Description: "events the mdc trigger rejected; reason in " + HeaderReason,
		Subjects: []string{DeadLetterPrefix + ">"}, Storage: jetstream.FileStorage,
		MaxAge: DeadLetterMaxAge, MaxBytes: DeadLetterMaxByte, Duplicates: DuplicateWindow,
	}
}

// EnsureStreams creates MDC_EVENTS and MDC_DEADLETTER or updates them to
// the configuration above; it is idempotent. A stream created earlier by
// another mdc component with fewer limits is brought up to these.
func EnsureStreams(ctx context.Context, js jetstream.JetStream) error {
	for _, cfg := range []jetstream.StreamConfig{StreamConfig(), DeadLetterConfig()} {
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("create or update JetStream stream %s (%s): %w (is JetStream enabled and does the account allow %d bytes?)",
				cfg.Name, cfg.Subjects[0], err, cfg.MaxBytes)
		}
	}
	return nil
}

// Publish encodes ev and publishes it on Subject(ev.Type, ev.Site) with
// the event ID as Nats-Msg-Id; it reports whether the stream dropped it as
// a duplicate.
func Publish(ctx context.Context, js jetstream.JetStream, ev Event) (duplicate bool, err error) {
	data, err := Encode(ev)
	if err != nil {
		return false, err
	}
	ack, err := js.Publish(ctx, Subject(ev.Type, ev.Site), data, jetstream.WithMsgID(ev.ID))
	if err != nil {
		return false, fmt.Errorf("publish event %s on %s: %w", ev.ID, Subject(ev.Type, ev.Site), err)
	}
	return ack.Duplicate, nil
}

// DeadLetter publishes data (the original bytes) to MDC_DEADLETTER with
// the reason and the original subject and sequence in headers. Its message
// ID is derived from the original sequence, so dead-lettering a redelivered
// message twice stores it once.
func DeadLetter(ctx context.Context, js jetstream.JetStream, data []byte, origSubject string, origSeq uint64, reason error) error {
	if reason == nil {
		return errors.New("dead-letter: a reason is required")
	}
	msg := nats.NewMsg(DeadLetterSubject)
	msg.Data = data
	msg.Header.Set(HeaderReason, headerSafe(reason.Error()))
	msg.Header.Set(HeaderOriginalSubject, origSubject)
	msg.Header.Set(HeaderOriginalSequence, strconv.FormatUint(origSeq, 10))
	msg.Header.Set(nats.MsgIdHdr, "dl-"+strconv.FormatUint(origSeq, 10))
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("dead-letter message %d from %s: %w", origSeq, origSubject, err)
	}
	return nil
}

// headerSafe makes a reason fit a NATS header: one line, at most 4 KiB.
func headerSafe(s string) string {
	s = strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
	if len(s) > 4096 {
		s = s[:4096]
	}
	return s
}
