package triggers

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/embedded"
	"github.com/microdc/mdc/events"
)

func TestNodeLoadSignalsAndOtherTypesRecorded(t *testing.T) {
	if testing.Short() {
		t.Skip("embedded NATS")
	}
	srv := startNATS(t, embedded.NATSOptions{})
	t.Cleanup(srv.Stop)
	pub := newPublisher(t, srv.URL)
	fake := newFake()
	tr := runTrigger(t, Options{NATSURL: srv.URL, Starter: fake})

	pub.event(t, loadEvent(7, "uk"))
	pub.event(t, events.Event{Version: 1, ID: "h1", Type: events.TypeNodeHealth, Site: "us", Subject: "n1", ObservedAt: time.Now(), Payload: []byte(`{"healthy":true}`)})
	pub.event(t, upFrom("u1", "us", "uk", time.Now()))
	pub.raw(t, "mdc.events.failover.failed-over", []byte(`{"version":1,"id":"f","type":"failover.failed-over"}`))
	pub.raw(t, "mdc.events.replication.rpo-violated", []byte(`{"version":1,"id":"r","type":"replication.rpo-violated"}`))
	waitFor(t, 10*time.Second, "5 processed", func() bool { return tr.Stats().Processed >= 5 })

	fake.mu.Lock()
	require.Len(t, fake.samples, 1)
	require.Equal(t, "n7", fake.samples[0].Node)
	require.InDelta(t, 3.5, fake.samples[0].Load1, 1e-9)
	require.Equal(t, []string{"web@uk"}, fake.services)
	fake.mu.Unlock()
	s := tr.Stats()
	require.EqualValues(t, 1, s.Signalled)
	require.EqualValues(t, 2, s.Recorded)
	require.EqualValues(t, 1, s.VotesRecorded, "site.up is uk's vote on us")
	require.EqualValues(t, 2, s.Ignored)
	require.Zero(t, s.Rejected)
}

func TestMalformedEventsAreDeadLettered(t *testing.T) {
	if testing.Short() {
		t.Skip("embedded NATS")
	}
	srv := startNATS(t, embedded.NATSOptions{})
	t.Cleanup(srv.Stop)
	pub := newPublisher(t, srv.URL)
	fake := newFake()
	tr := runTrigger(t, Options{NATSURL: srv.URL, Starter: fake})

	unknownSite := siteDown("x1", "mars")
	data, err := events.Encode(unknownSite)
	require.NoError(t, err)
	wrongSubject, err := events.Encode(siteDown("x2", "uk"))
	require.NoError(t, err)
	unknownService := loadEvent(1, "uk")
	unknownService.Payload = []byte(`{"load1":1,"service":"mail"}`)
	svcData, err := events.Encode(unknownService)
	require.NoError(t, err)
	encode := func(ev events.Event) string {
		b, err := events.Encode(ev)
		require.NoError(t, err)
		return string(b)
	}
	anonymous := siteDown("x3", "uk")
	anonymous.Observer = ""
	cases := []struct{ subject, data, reason string }{
		{"mdc.events.site.down.uk", encode(anonymous), "site.down without observer: the trigger counts one vote per observer"},
		{"mdc.events.site.up.uk", encode(upFrom("x4", "uk", "uk", time.Now())), "site uk reports on itself"},
		{"mdc.events.site.down.us", encode(downFrom("x5", "us", "uk:monitor", time.Now())), `observer "uk:monitor": expected letters, digits, '-' and '_' only`},
		{"mdc.events.site.down.uk", `{"version":1,"id":`, "not a valid event envelope"},
		{"mdc.events.site.exploded.uk", `{"version":1,"id":"a","type":"site.exploded","site":"uk","observed_at":"2024-05-01T12:00:00Z"}`, "not a known event type"},
		{"mdc.events.site.down.mars", string(data), `unknown site "mars"`},
		{"mdc.events.site.down.us", string(wrongSubject), "belong on mdc.events.site.down.uk"},
		{"mdc.events.vm.powered_off.uk", `{"version":1,"id":"big","type":"vm.powered_off","site":"uk","subject":"v","observed_at":"2024-05-01T12:00:00Z","payload":{"detail":"` + strings.Repeat("x", events.MaxSize) + `"}}`, "65536-byte limit"},
		{"mdc.events.node.load.uk", string(svcData), `unknown service "mail"`},
	}
	for _, c := range cases {
		pub.raw(t, c.subject, []byte(c.data))
	}
	waitFor(t, 10*time.Second, "all rejected", func() bool { return tr.Stats().Rejected == int64(len(cases)) })

	dl := deadLetters(t, pub.js)
	require.Len(t, dl, len(cases))
	byData := map[string]int{} // the original bytes are kept, and differ per case
	for i, m := range dl {
		byData[string(m.Data)] = i
	}
	for _, c := range cases {
		i, ok := byData[c.data]
		require.True(t, ok, "dead letter for %s with the original bytes", c.subject)
		require.Equal(t, c.subject, dl[i].Header.Get(events.HeaderOriginalSubject))
		require.Contains(t, dl[i].Header.Get(events.HeaderReason), c.reason)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	require.Empty(t, fake.failovers, "nothing started")
	require.Empty(t, fake.samples)
}

func TestTransientFailuresAreRetriedNotLost(t *testing.T) {
	if testing.Short() {
		t.Skip("embedded NATS")
	}
	srv := startNATS(t, embedded.NATSOptions{})
	t.Cleanup(srv.Stop)
	pub := newPublisher(t, srv.URL)
	fake := newFake()
	fake.setFailing(true)
	tr := runTrigger(t, Options{NATSURL: srv.URL, Starter: fake, MaxBackoff: time.Second})
	const n = 50
	for i := range n {
		pub.event(t, loadEvent(i, "us"))
	}
	waitFor(t, 10*time.Second, "retries", func() bool { return tr.Stats().Retried >= n })
	require.Zero(t, fake.distinctNodes())
	fake.setFailing(false)
	waitFor(t, 20*time.Second, "all delivered", func() bool { return fake.distinctNodes() == n })
	require.EqualValues(t, n, tr.Stats().Signalled)
}

func TestNATSRestartLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("embedded NATS")
	}
	dir := t.TempDir()
	port, err := embedded.FreePort("127.0.0.1")
	require.NoError(t, err)
	o := embedded.NATSOptions{Port: port, StoreDir: dir}
	srv := startNATS(t, o)
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			srv.Stop()
		}
	})
	pub := newPublisher(t, srv.URL)
	fake := newFake()
	fake.delay = 2 * time.Millisecond // keep events in flight across the restart
	tr := runTrigger(t, Options{NATSURL: srv.URL, Starter: fake})

	const n = 600
	for i := range n {
		if i == n/3 {
			srv.Stop()
			stopped = true
			time.Sleep(300 * time.Millisecond) // let clients notice the outage
			srv = startNATS(t, o)
			stopped = false
		}
		pub.event(t, loadEvent(i, "uk"))
	}
	waitFor(t, 60*time.Second, fmt.Sprintf("%d distinct nodes signalled", n), func() bool { return fake.distinctNodes() == n })
	t.Logf("stats after NATS restart: %+v", tr.Stats())
}
