package monitor

import (
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/vmware/govmomi/event"
	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/microdc/mdc/events"
)

// vSphere event types watched, and what each becomes.
var watchedEvents = map[string]string{
	"HostDisconnectedEvent": events.TypeHostDisconnected,
	"VmPoweredOffEvent":     events.TypeVMPoweredOff,
}

const (
	// eventOverlap re-reads this much before the previous query's server
	// time, for events vCenter records with a slightly earlier timestamp
	// than it makes them visible; the cursor drops what was seen.
	eventOverlap = 10 * time.Second
	// eventPage is the most events one query returns (vSphere's limit).
	eventPage = 1000
	// vcDialTimeout bounds connecting to a vCenter that is gone.
	vcDialTimeout = 5 * time.Second
)

// eventCursor remembers the newest vSphere event published, across
// reconnects. Event keys grow within one vCenter; a vCenter rebuilt from
// scratch restarts them, which the creation time gives away.
type eventCursor struct {
	key     int32
	created time.Time
	// polled is vCenter's clock at the last successful query: the next
	// query starts there (minus eventOverlap), not at the last event,
	// which may be days old.
	polled time.Time
}

// fresh reports whether an event was not published yet.
func (c *eventCursor) fresh(key int32, created time.Time) bool {
	if c.created.IsZero() {
		return true
	}
	return key > c.key || created.After(c.created)
}

// advance records a published event.
func (c *eventCursor) advance(key int32, created time.Time) {
	if key > c.key || created.After(c.created) {
		c.key, c.created = key, created
	}
}

// begin is the start of the next query's time window.
func (c *eventCursor) begin() time.Time {
	b := c.polled.Add(-eventOverlap)
	if c.created.After(b) {
		b = c.created
	}
	return b
}

// vsphereLoop follows the site's vCenter events until ctx ends,
// reconnecting with backoff when vCenter goes away.
func (m *Monitor) vsphereLoop(ctx context.Context) {
	log := m.log.With("loop", "vsphere", "site", m.o.Site)
	cond := newCondition(log, "reading vSphere events")
	cur := &eventCursor{}
	bo := backoff{min: m.tune.EventInterval, max: maxBackoff}
	for {
		err := m.followEvents(ctx, cur, cond, &bo)
		if ctx.Err() != nil {
			return
		}
		cond.fail(err)
		if !sleep(ctx, bo.next()) {
			return
		}
	}
}

// followEvents logs in and reads new events every EventInterval until an
// error (returned) or the end of ctx.
func (m *Monitor) followEvents(ctx context.Context, cur *eventCursor, cond *condition, bo *backoff) error {
	c, err := vcLogin(ctx, m.vcCfg.URL, m.vcCfg.Insecure, m.vcCfg.Username, m.vcCfg.Password)
	if err != nil {
		return err
	}
	defer func() {
		lctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = session.NewManager(c).Logout(lctx)
		c.CloseIdleConnections()
	}()
	mgr := event.NewManager(c)
	t := time.NewTicker(m.tune.EventInterval)
	defer t.Stop()
	for {
		if err := m.readEvents(ctx, c, mgr, cur); err != nil {
			return err
		}
		cond.ok()
		bo.reset()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// readEvents queries the events since the cursor and publishes the new
// ones oldest first; the cursor moves only past published events.
func (m *Monitor) readEvents(ctx context.Context, c *vim25.Client, mgr *event.Manager, cur *eventCursor) error {
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	now, err := methods.GetCurrentTime(qctx, c)
	if err != nil {
		return fmt.Errorf("vCenter %s: current time: %w", m.vcCfg.URL, err)
	}
	if cur.polled.IsZero() {
		// First contact: look back one duplicate window, so a restarted
		// monitor republishes what it may have missed (the stream drops
		// what it already has: the IDs come from the vCenter events).
		cur.polled = now.Add(-events.DuplicateWindow + eventOverlap)
	}
	begin := cur.begin()
	filter := types.EventFilterSpec{
		EventTypeId: slices.Sorted(maps.Keys(watchedEvents)),
		Time:        &types.EventFilterSpecByTime{BeginTime: &begin},
		MaxCount:    eventPage,
	}
	got, err := mgr.QueryEvents(qctx, filter)
	if err != nil {
		return fmt.Errorf("vCenter %s: query events: %w", m.vcCfg.URL, err)
	}
	slices.SortFunc(got, func(a, b types.BaseEvent) int { return cmp.Compare(a.GetEvent().Key, b.GetEvent().Key) })
	for _, be := range got {
		e := be.GetEvent()
		if !cur.fresh(e.Key, e.CreatedTime) {
			continue
		}
		ev, ok := m.vsphereEvent(be)
		if ok {
			if err := m.publish(ctx, ev); err != nil {
				return err // the cursor stays: the event is read again
			}
			m.log.Info("vSphere event", "type", ev.Type, "subject", ev.Subject, "key", e.Key, "event", ev.ID)
		}
		cur.advance(e.Key, e.CreatedTime)
	}
	cur.polled = *now
	return nil
}

// vsphereEvent maps a vCenter event to an mdc event; ok is false for an
// event without the object it is about.
func (m *Monitor) vsphereEvent(be types.BaseEvent) (events.Event, bool) {
	e := be.GetEvent()
	var typ, subject string
	switch be.(type) {
	case *types.HostDisconnectedEvent:
		typ = events.TypeHostDisconnected
		if e.Host != nil {
			subject = e.Host.Name
		}
	case *types.VmPoweredOffEvent:
		typ = events.TypeVMPoweredOff
		if e.Vm != nil {
			subject = e.Vm.Name
		}
	}
	subject = tokenSafe(subject)
	if typ == "" || subject == "" {
		return events.Event{}, false
	}
	detail := e.FullFormattedMessage
	if len(detail) > 1024 {
		detail = detail[:1024]
	}
	payload, _ := events.NewPayload(events.ObjectPayload{Detail: detail}) // cannot fail
	// The ID is the vCenter event's: a re-read event is a duplicate.
	id := fmt.Sprintf("%s.%s.%s.vc%d.%d", m.name, typ, m.o.Site, e.Key, e.CreatedTime.UnixMilli())
	return events.Event{
		Version: events.Version, ID: id, Type: typ, Site: m.o.Site, Subject: subject, Observer: m.name,
		ObservedAt: e.CreatedTime, Payload: payload,
	}, true
}

// tokenSafe replaces whitespace and control characters (allowed in vSphere
// names, not in event subjects) with '_'.
func tokenSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f || r == '\uFFFD' {
			return '_'
		}
		return r
	}, s)
}

// vcLogin connects to a vCenter and logs in, giving up on an unreachable
// address after vcDialTimeout. Errors never contain the password.
func vcLogin(ctx context.Context, rawURL string, insecure bool, user, pass string) (*vim25.Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("vCenter URL %q is not a URL such as https://vc.example.com/sdk", rawURL)
	}
	sc := soap.NewClient(u, insecure)
	tlsConf := sc.DefaultTransport().TLSClientConfig.Clone()
	if tlsConf.ServerName == "" {
		tlsConf.ServerName = u.Hostname()
	}
	dialer := &tls.Dialer{NetDialer: &net.Dialer{Timeout: vcDialTimeout}, Config: tlsConf}
	sc.DefaultTransport().DialTLSContext = dialer.DialContext
	sc.DefaultTransport().DialContext = (&net.Dialer{Timeout: vcDialTimeout}).DialContext
	lctx, cancel := context.WithTimeout(ctx, 3*vcDialTimeout)
	defer cancel()
	c, err := vim25.NewClient(lctx, sc)
	if err != nil {
		return nil, fmt.Errorf("connect to vCenter %s: %w", u.Redacted(), err)
	}
	if err := session.NewManager(c).Login(lctx, url.UserPassword(user, pass)); err != nil {
		c.CloseIdleConnections()
		if fault.Is(err, &types.InvalidLogin{}) {
			return nil, fmt.Errorf("vCenter %s rejected the login of user %q: fix the site's vCenter credentials (the password is not shown)", u.Redacted(), user)
		}
		return nil, fmt.Errorf("log in to vCenter %s: %w", u.Redacted(), err)
	}
	return c, nil
}
