package monitor

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"github.com/vmware/govmomi/event"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/microdc/mdc/activities/vsphere"
	"github.com/microdc/mdc/embedded"
	"github.com/microdc/mdc/events"
	"github.com/microdc/mdc/lab"
)

// stream collects every event that reaches MDC_EVENTS, as the trigger
// would see them.
type stream struct {
	mu  sync.Mutex
	evs []events.Event
}

func follow(t *testing.T, url string) *stream {
	t.Helper()
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, events.EnsureStreams(ctx, js))
	cons, err := js.OrderedConsumer(ctx, events.Stream, jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	s := &stream{}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		ev, err := events.Decode(m.Data())
		if err != nil {
			t.Errorf("a monitor published an invalid event on %s: %v", m.Subject(), err)
			return
		}
		if m.Subject() != events.Subject(ev.Type, ev.Site) {
			t.Errorf("event %s on subject %s", ev.ID, m.Subject())
		}
		s.mu.Lock()
		s.evs = append(s.evs, ev)
		s.mu.Unlock()
	})
	require.NoError(t, err)
	t.Cleanup(cc.Stop)
	return s
}

// where returns the events matching every non-empty field, in order.
func (s *stream) where(typ, site, subject, observer string) []events.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []events.Event
	for _, ev := range s.evs {
		if (typ == "" || ev.Type == typ) && (site == "" || ev.Site == site) &&
			(subject == "" || ev.Subject == subject) && (observer == "" || ev.Observer == observer) {
			out = append(out, ev)
		}
	}
	return out
}

// syncBuffer is a log sink the test can read while monitors write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(level string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range strings.Split(s.b.String(), "\n") {
		if strings.Contains(l, "level="+level) {
			out = append(out, l)
		}
	}
	return out
}

// The three monitors of a lab (uk, us, witness) against the real thing:
// vcsim, HAProxy, PowerDNS, MariaDB, the lab's nodes and NATS JetStream.
func TestMonitorAgainstTheLab(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the lab")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ns, err := embedded.StartNATS(embedded.NATSOptions{})
	require.NoError(t, err)
	t.Cleanup(ns.Stop)
	o := lab.DefaultOptions(t.TempDir())
	o.Plan.Base = 101
	o.Logger = slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))
	t0 := time.Now()
	l, err := lab.Start(ctx, o)
	require.NoError(t, err)
	t.Cleanup(l.Stop)
	t.Logf("lab started in %s", time.Since(t0).Round(time.Millisecond))
	p := l.Platform()
	seen := follow(t, ns.URL)

	logs := map[string]*syncBuffer{}
	mons := map[string]*Monitor{}
	for _, name := range []string{"uk", "us", Witness} {
		logs[name] = &syncBuffer{}
		mo := Options{Site: name, Platform: p, Env: l.Lookup, NATSURL: ns.URL,
			Logger: slog.New(slog.NewTextHandler(logs[name], &slog.HandlerOptions{Level: slog.LevelInfo})),
			Tuning: Tuning{DiscoverInterval: time.Second, HealthInterval: time.Second}}
		if name == Witness {
			mo.Site, mo.Witness = "", true
		}
		m, err := New(ctx, mo)
		require.NoError(t, err)
		mons[name] = m
		runLoop(t, func(ctx context.Context) { _ = m.Run(ctx) })
		t.Cleanup(m.Close)
	}

	t.Run("load bands", func(t *testing.T) {
		require.Eventually(t, func() bool {
			return len(seen.where(events.TypeNodeLoad, "uk", "uk-web-1", "uk")) > 0 && len(seen.where(events.TypeNodeLoad, "uk", "uk-web-2", "uk")) > 0
		}, 30*time.Second, 50*time.Millisecond, "the nodes found in vCenter are polled")
		before := len(seen.where(events.TypeNodeLoad, "uk", "uk-web-1", ""))
		require.NoError(t, l.SetLoad("uk-web-1", 2.5))
		set := time.Now()
		var hot events.Event
		require.Eventually(t, func() bool {
			evs := seen.where(events.TypeNodeLoad, "uk", "uk-web-1", "")
			if len(evs) > before {
				hot = evs[len(evs)-1]
			}
			return len(evs) > before
		}, 10*time.Second, 10*time.Millisecond)
		t.Logf("load 2.5 set -> observed %s later, in the stream %s later", hot.ObservedAt.Sub(set).Round(time.Millisecond), time.Since(set).Round(time.Millisecond))
		p, err := events.LoadOf(hot)
		require.NoError(t, err)
		require.Equal(t, 2.5, *p.Load1)
		require.Equal(t, "web", p.Service)

		// Wavering around out_load for 6 s: still high, nothing to say.
		for i := range 6 {
			require.NoError(t, l.SetLoad("uk-web-1", []float64{1.95, 2.05}[i%2]))
			time.Sleep(time.Second)
		}
		require.Len(t, seen.where(events.TypeNodeLoad, "uk", "uk-web-1", ""), before+1)
		require.NoError(t, l.SetLoad("uk-web-1", 0.3))
		require.Eventually(t, func() bool { return len(seen.where(events.TypeNodeLoad, "uk", "uk-web-1", "")) == before+2 }, 10*time.Second, 10*time.Millisecond)
		require.Empty(t, seen.where(events.TypeNodeLoad, "us", "", "uk"), "a site's monitor polls its own nodes only")
		require.Empty(t, seen.where(events.TypeNodeLoad, "", "", Witness))
	})

	t.Run("health", func(t *testing.T) {
		for _, subject := range []string{"uk-web-1", "uk-web-2", "uk-lb"} {
			require.Eventually(t, func() bool { return len(seen.where(events.TypeNodeHealth, "uk", subject, "uk")) > 0 }, 10*time.Second, 50*time.Millisecond, subject)
			var h events.HealthPayload
			require.NoError(t, json.Unmarshal(seen.where(events.TypeNodeHealth, "uk", subject, "uk")[0].Payload, &h))
			require.True(t, *h.Healthy, "%s: %s", subject, h.Detail)
		}
	})

	t.Run("vsphere events", func(t *testing.T) {
		vc := vsphere.New(map[string]vsphere.SiteConfig{"uk": mons["uk"].vcCfg})
		t.Cleanup(func() { vsphere.Logout(context.Background(), vc) })
		_, err := vc.PowerOff(ctx, vsphere.PowerInput{Site: "uk", Name: "uk-web-2"})
		require.NoError(t, err)
		require.Eventually(t, func() bool { return len(seen.where(events.TypeVMPoweredOff, "uk", "uk-web-2", "uk")) == 1 }, 15*time.Second, 50*time.Millisecond)
		// vcsim has no host disconnect of its own; an event posted to its
		// event manager is what vCenter would log.
		postHostDisconnected(t, ctx, mons["uk"].vcCfg)
		require.Eventually(t, func() bool { return len(seen.where(events.TypeHostDisconnected, "uk", "", "uk")) == 1 }, 15*time.Second, 50*time.Millisecond)
		// The powered-off node leaves the node list, and the health loop
		// says so before it goes.
		require.Eventually(t, func() bool {
			for _, n := range mons["uk"].currentNodes() {
				if n.Name == "uk-web-2" {
					return false
				}
			}
			return true
		}, 15*time.Second, 50*time.Millisecond)
	})

	t.Run("site down and up", func(t *testing.T) {
		warnsBefore := len(logs["uk"].lines("WARN"))
		require.NoError(t, l.KillSite(ctx, "uk"))
		killed := time.Now()
		for _, obs := range []string{"us", Witness} {
			require.Eventually(t, func() bool { return len(seen.where(events.TypeSiteDown, "uk", "", obs)) > 0 }, 30*time.Second, 10*time.Millisecond, obs)
			ev := seen.where(events.TypeSiteDown, "uk", "", obs)[0]
			var sp events.SitePayload
			require.NoError(t, json.Unmarshal(ev.Payload, &sp))
			require.Equal(t, 3, *sp.Misses)
			require.NotNil(t, sp.Since)
			require.True(t, sp.Since.After(killed.Add(-time.Second)) && sp.Since.Before(ev.ObservedAt), "since %s, killed %s", sp.Since, killed)
			require.Regexp(t, `^\d+-\d+-\d+`, sp.PrimaryGTID, "uk's primary position, sampled while it was up")
			t.Logf("%s: first missed heartbeat %s after the kill, site.down %s after it (detection %s from since)", obs,
				sp.Since.Sub(killed).Round(time.Millisecond), ev.ObservedAt.Sub(killed).Round(time.Millisecond), ev.ObservedAt.Sub(*sp.Since).Round(time.Millisecond))
		}
		require.Empty(t, seen.where(events.TypeSiteDown, "us", "", ""), "us answers everyone")
		require.Empty(t, seen.where(events.TypeSiteDown, "", "", "uk"), "uk's monitor watches us, which is up")
		// While uk stays down: re-published, and uk's own monitor neither
		// spins nor fills the log.
		require.Eventually(t, func() bool { return len(seen.where(events.TypeSiteDown, "uk", "", "us")) >= 2 }, 30*time.Second, 50*time.Millisecond)
		time.Sleep(5 * time.Second)
		warns := logs["uk"].lines("WARN")[warnsBefore:]
		t.Logf("uk's monitor while its site is dead:\n%s", strings.Join(warns, "\n"))
		require.LessOrEqual(t, len(warns), 8, "one warning per loop that lost the site:\n%s", strings.Join(warns, "\n"))

		require.NoError(t, l.ReviveSite(ctx, "uk"))
		for _, obs := range []string{"us", Witness} {
			require.Eventually(t, func() bool { return len(seen.where(events.TypeSiteUp, "uk", "", obs)) == 1 }, 60*time.Second, 50*time.Millisecond, obs)
		}
		// uk's vSphere loop is back: a new event is published once, and
		// the ones before the outage are not published again.
		vc := vsphere.New(map[string]vsphere.SiteConfig{"uk": mons["uk"].vcCfg})
		t.Cleanup(func() { vsphere.Logout(context.Background(), vc) })
		_, err := vc.PowerOff(ctx, vsphere.PowerInput{Site: "uk", Name: "uk-web-1"})
		require.NoError(t, err)
		require.Eventually(t, func() bool { return len(seen.where(events.TypeVMPoweredOff, "uk", "uk-web-1", "uk")) == 1 }, 60*time.Second, 50*time.Millisecond)
		require.Len(t, seen.where(events.TypeVMPoweredOff, "uk", "uk-web-2", "uk"), 1)
		require.Equal(t, int64(0), mons["uk"].Stats().Duplicates)
	})
	for name, m := range mons {
		s := m.Stats()
		t.Logf("%s published %d events %v, %d failed", name, s.Total(), s.Published, s.Failed)
	}
}

// postHostDisconnected logs a HostDisconnectedEvent for the first host of
// the site's vCenter.
func postHostDisconnected(t *testing.T, ctx context.Context, cfg vsphere.SiteConfig) {
	t.Helper()
	c, err := vcLogin(ctx, cfg.URL, cfg.Insecure, cfg.Username, cfg.Password)
	require.NoError(t, err)
	defer c.CloseIdleConnections()
	f := find.NewFinder(c, true)
	dc, err := f.DefaultDatacenter(ctx)
	require.NoError(t, err)
	f.SetDatacenter(dc)
	hosts, err := f.HostSystemList(ctx, "*")
	require.NoError(t, err)
	h := hosts[0]
	name, err := h.ObjectName(ctx)
	require.NoError(t, err)
	ev := &types.HostDisconnectedEvent{HostEvent: types.HostEvent{Event: types.Event{
		Host:                 &types.HostEventArgument{EntityEventArgument: types.EntityEventArgument{Name: name}, Host: h.Reference()},
		FullFormattedMessage: "Disconnected from " + name,
	}}}
	require.NoError(t, event.NewManager(c).PostEvent(ctx, ev))
}
