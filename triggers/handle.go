package triggers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/microdc/mdc/events"
	"github.com/microdc/mdc/platform"
	"github.com/microdc/mdc/workflows"
)

// handle applies the rules to one delivery and acks, dead-letters or NAKs it.
func (t *Trigger) handle(ctx context.Context, d delivery) {
	m := d.msg
	if ignored(m.Subject()) {
		t.ack(m)
		t.stats.ignored.Add(1)
		return
	}
	err := d.err
	if err == nil {
		err = t.check(m.Subject(), d.ev)
	}
	if err == nil {
		err = t.apply(ctx, d.ev)
	}
	var perm *PermanentError
	var schema *events.Error
	switch {
	case err == nil:
		t.ack(m)
	case errors.As(err, &schema), errors.As(err, &perm):
		t.reject(ctx, m, err)
	case ctx.Err() != nil:
		// Shutting down: hand the event back at once for the next consumer.
		_ = m.Nak()
	default:
		t.retry(m, d.ev, err)
	}
}

// check validates what the schema cannot: the subject matches the event
// and the site is in the platform file.
func (t *Trigger) check(subject string, ev events.Event) error {
	if want := events.Subject(ev.Type, ev.Site); subject != want {
		return Permanent(fmt.Errorf("event %s was published on %s but its type and site belong on %s", ev.ID, subject, want))
	}
	if _, ok := t.o.Platform.Site(ev.Site); !ok {
		return Permanent(fmt.Errorf("event %s: unknown site %q; the platform file has %s", ev.ID, ev.Site, strings.Join(t.o.Platform.SiteNames(), ", ")))
	}
	return nil
}

// apply runs the platform file's rule for ev's type (see the package doc);
// every NATS and Temporal call of one event shares CallTimeout.
func (t *Trigger) apply(ctx context.Context, ev events.Event) error {
	ctx, cancel := context.WithTimeout(ctx, t.o.CallTimeout)
	defer cancel()
	p := t.o.Platform
	rule := p.TriggerRule(ev.Type)
	switch {
	case rule.Action == platform.ActionStart && rule.Workflow == platform.WorkflowFailoverSite:
		return t.siteVote(ctx, ev)
	case ev.Type == events.TypeSiteUp && p.TriggerRule(events.TypeSiteDown).Action == platform.ActionStart:
		// site.up withdraws the observer's vote for the failover rule.
		if err := t.siteVote(ctx, ev); err != nil {
			return err
		}
		t.stats.recorded.Add(1)
		return nil
	case rule.Action == platform.ActionSignalWithStart && rule.Workflow == platform.WorkflowAutoscale:
		return t.signalLoad(ctx, ev)
	default:
		// action record, and rules the platform validation lets through for
		// the future but this trigger cannot act on: acked and counted.
		t.stats.recorded.Add(1)
		return nil
	}
}

// signalLoad delivers a node.load sample to its Autoscale workflow.
func (t *Trigger) signalLoad(ctx context.Context, ev events.Event) error {
	load, err := events.LoadOf(ev)
	if err != nil {
		return err
	}
	service, err := t.serviceFor(ev, load.Service)
	if err != nil {
		return err
	}
	err = t.o.Starter.SignalLoad(ctx, t.o.Platform, ev.Site, service,
		workflows.LoadSample{Node: ev.Subject, Load1: *load.Load1, ObservedAt: ev.ObservedAt})
	if err != nil {
		return err
	}
	t.stats.signalled.Add(1)
	return nil
}

// serviceFor names the event's service: the payload's, or the only one.
func (t *Trigger) serviceFor(ev events.Event, service string) (string, error) {
	p := t.o.Platform
	if service == "" {
		if len(p.Services) == 1 {
			return p.Services[0].Name, nil
		}
		return "", Permanent(fmt.Errorf("event %s: node.load without payload.service, and the platform file has %d services; name one", ev.ID, len(p.Services)))
	}
	if _, ok := p.Service(service); !ok {
		return "", Permanent(fmt.Errorf("event %s: unknown service %q in payload.service", ev.ID, service))
	}
	return service, nil
}

func (t *Trigger) ack(m jetstream.Msg) {
	if err := m.Ack(); err != nil {
		// The event is redelivered after the ack wait; the rules are idempotent.
		t.log.Warn("ack failed; the event will be redelivered", "subject", m.Subject(), "err", err)
	}
	t.stats.processed.Add(1)
}

// reject dead-letters m with the reason and terminates it; if the
// dead-letter stream cannot take it, m is retried instead of dropped.
func (t *Trigger) reject(ctx context.Context, m jetstream.Msg, reason error) {
	var seq uint64
	if meta, err := m.Metadata(); err == nil {
		seq = meta.Sequence.Stream
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.o.CallTimeout)
	defer cancel()
	if err := events.DeadLetter(dctx, t.js, m.Data(), m.Subject(), seq, reason); err != nil {
		t.log.Warn("dead-lettering failed; retrying the event", "subject", m.Subject(), "seq", seq, "err", err)
		t.stats.retried.Add(1)
		_ = m.NakWithDelay(t.backoff(m))
		return
	}
	t.log.Warn("rejected event", "subject", m.Subject(), "seq", seq, "reason", reason.Error())
	if err := m.Term(); err != nil {
		t.log.Warn("terminating a dead-lettered event failed; it may be dead-lettered again (deduplicated)", "err", err)
	}
	t.stats.rejected.Add(1)
	t.stats.processed.Add(1)
}

// retry NAKs m with an exponential delay so it comes back once Temporal does.
func (t *Trigger) retry(m jetstream.Msg, ev events.Event, err error) {
	delay := t.backoff(m)
	t.stats.retried.Add(1)
	t.log.Warn("Temporal did not accept the event; retrying", "event", ev.ID, "type", ev.Type, "site", ev.Site, "in", delay, "err", err)
	if nerr := m.NakWithDelay(delay); nerr != nil {
		t.log.Warn("NAK failed; the event is redelivered after the ack wait", "err", nerr)
	}
}

// backoff is 0.5 s doubled per earlier delivery, capped at MaxBackoff.
func (t *Trigger) backoff(m jetstream.Msg) time.Duration {
	n := uint64(1)
	if meta, err := m.Metadata(); err == nil {
		n = meta.NumDelivered
	}
	d := 500 * time.Millisecond
	for i := uint64(1); i < n && d < t.o.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, t.o.MaxBackoff)
}
