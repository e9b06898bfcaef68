package monitor

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/events"
)

var fast = Tuning{PollInterval: 5 * time.Millisecond, HealthInterval: 5 * time.Millisecond, Heartbeat: time.Hour, RepublishEvery: 3}

func loadOf(t *testing.T, ev events.Event) float64 {
	t.Helper()
	p, err := events.LoadOf(ev)
	require.NoError(t, err)
	return *p.Load1
}

func TestNewRefusesBadOptionsWithSpecificErrors(t *testing.T) {
	p := testPlatform()
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{Platform: p, Env: testEnv, Publisher: &recorder{}}, "name the site this monitor runs at (one of uk, us) or make it the witness"},
		{Options{Site: "uk", Witness: true, Platform: p, Env: testEnv, Publisher: &recorder{}}, `choose either site "uk" or the witness`},
		{Options{Site: "fr", Platform: p, Env: testEnv, Publisher: &recorder{}}, `unknown site "fr": the platform file has uk, us`},
		{Options{Site: "uk", Env: testEnv, Publisher: &recorder{}}, "no platform file"},
		{Options{Site: "uk", Platform: p, Publisher: &recorder{}}, "Options.Env is nil"},
		{Options{Site: "uk", Platform: p, Env: testEnv}, "no NATS URL"},
		{Options{Site: "uk", Platform: p, Publisher: &recorder{}, Env: func(n string) (string, bool) {
			if n == "VC_PASS" {
				return "", false
			}
			return testEnv(n)
		}}, "sites[0].vcenter.password_env names VC_PASS, which is not set"},
	} {
		_, err := New(context.Background(), c.o)
		require.Error(t, err)
		require.Contains(t, err.Error(), c.want)
	}
}

func TestASiteObserverWatchesTheOtherSitesAndTheWitnessAll(t *testing.T) {
	m, _ := newTestMonitor(t, Options{Site: "uk"}, nil, nil, nil)
	require.Equal(t, []string{"us"}, m.watched)
	require.Equal(t, "uk", m.Name())
	require.NotNil(t, m.site)
	w, _ := newTestMonitor(t, Options{Witness: true}, nil, nil, nil)
	require.Equal(t, []string{"uk", "us"}, w.watched)
	require.Equal(t, Witness, w.Name())
	require.Nil(t, w.site, "the witness runs no SNMP, HTTP or vSphere loops")
	// Other sites' DSNs are optional: without them no GTID is sampled.
	o := Options{Witness: true, Platform: testPlatform(), Publisher: &recorder{}, Logger: quietLogger(),
		Env: func(n string) (string, bool) {
			if strings.HasPrefix(n, "DSN_") {
				return "", false
			}
			return testEnv(n)
		}}
	w2, err := New(context.Background(), o)
	require.NoError(t, err)
	require.Empty(t, w2.gtid)
	// Other sites' vCenter credentials are optional too: with them, what
	// each watched site serves is counted for its site.down.
	require.Len(t, w.serving, 2)
	require.Contains(t, m.serving, "us")
	o.Env = func(n string) (string, bool) {
		if n == "VC_PASS" {
			return "", false
		}
		return testEnv(n)
	}
	w3, err := New(context.Background(), o)
	require.NoError(t, err)
	require.Empty(t, w3.serving)
}

// Band changes go out at once, a load wavering inside the hysteresis does
// not, and a change NATS did not take is published when it is back.
func TestLoadLoopPublishesBandChanges(t *testing.T) {
	poller := &fakePoller{}
	m, rec := newTestMonitor(t, Options{Site: "uk", Tuning: fast}, nil, poller, nil)
	m.nodes.Store(&[]Node{{Name: "uk-web-1", IP: "127.109.0.10", Service: "web"}, {Name: "uk-web-2", IP: "127.109.0.11", Service: "web"}})
	poller.set("uk-web-1", 0.3)
	poller.set("uk-web-2", 0.5)
	runLoop(t, m.loadLoop)
	require.Eventually(t, func() bool { return len(rec.of(events.TypeNodeLoad)) == 2 }, 5*time.Second, time.Millisecond)

	poller.set("uk-web-1", 2.5)
	require.Eventually(t, func() bool { return len(rec.of(events.TypeNodeLoad)) == 3 }, 5*time.Second, time.Millisecond)
	ev := rec.of(events.TypeNodeLoad)[2]
	require.Equal(t, "uk-web-1", ev.Subject)
	require.Equal(t, "uk", ev.Site)
	require.Equal(t, "uk", ev.Observer)
	require.Equal(t, 2.5, loadOf(t, ev))

	for _, l := range []float64{1.95, 2.05, 1.92, 2.3} {
		poller.set("uk-web-1", l)
		n := poller.rounds.Load()
		require.Eventually(t, func() bool { return poller.rounds.Load() > n+3 }, 5*time.Second, time.Millisecond)
	}
	require.Len(t, rec.of(events.TypeNodeLoad), 3, "inside the hysteresis: still high, nothing to say")

	rec.fail.Store(true)
	poller.set("uk-web-1", 0.3)
	n := poller.rounds.Load()
	require.Eventually(t, func() bool { return poller.rounds.Load() > n+3 }, 5*time.Second, time.Millisecond)
	require.Len(t, rec.of(events.TypeNodeLoad), 3)
	require.Greater(t, m.Stats().Failed, int64(0))
	rec.fail.Store(false)
	require.Eventually(t, func() bool { return len(rec.of(events.TypeNodeLoad)) == 4 }, 5*time.Second, time.Millisecond)
	require.Equal(t, 0.3, loadOf(t, rec.of(events.TypeNodeLoad)[3]))
	require.Equal(t, int64(4), m.Stats().Published[events.TypeNodeLoad])
}

// A node that does not answer SNMP says nothing; a node that leaves the
// list and comes back starts afresh; the heartbeat repeats steady loads.
func TestLoadLoopHeartbeatsAndFollowsTheNodeList(t *testing.T) {
	poller := &fakePoller{}
	tune := fast
	tune.Heartbeat = 50 * time.Millisecond
	m, rec := newTestMonitor(t, Options{Site: "uk", Tuning: tune}, nil, poller, nil)
	m.nodes.Store(&[]Node{{Name: "uk-web-1", IP: "127.109.0.10", Service: "web"}, {Name: "uk-web-9", IP: "127.109.0.18", Service: "web"}})
	poller.set("uk-web-1", 0.3)
	poller.set("uk-web-9", -1)
	runLoop(t, m.loadLoop)
	require.Eventually(t, func() bool { return len(rec.of(events.TypeNodeLoad)) >= 3 }, 5*time.Second, time.Millisecond, "heartbeats")
	for _, ev := range rec.of(events.TypeNodeLoad) {
		require.Equal(t, "uk-web-1", ev.Subject, "uk-web-9 never answered")
	}
	ids := map[string]bool{}
	for _, ev := range rec.of(events.TypeNodeLoad) {
		require.False(t, ids[ev.ID], "every heartbeat has its own ID")
		ids[ev.ID] = true
	}
}

// Site down after `misses` heartbeats, with since at the first miss and
// the GTID sampled while the site was up; re-published under new IDs while
// it lasts; up after `misses` answers.
func TestHeartbeatsDeclareASiteDownAndUp(t *testing.T) {
	prober := &fakeProber{}
	m, rec := newTestMonitor(t, Options{Site: "us", Tuning: fast}, prober, nil, nil)
	g := &fakeGTID{}
	g.gtid.Store("0-1-42")
	m.gtid = map[string]gtidSampler{"uk": g}
	runLoop(t, func(ctx context.Context) { m.watchSite(ctx, "uk") })
	require.Eventually(t, func() bool { return prober.probes.Load() > 5 }, 5*time.Second, time.Millisecond)
	require.Empty(t, rec.of(""), "an answering site is news to nobody")

	killed := time.Now()
	prober.down.Store("uk", true)
	g.gtid.Store("0-1-99") // not sampled: the site is down
	require.Eventually(t, func() bool { return len(rec.of(events.TypeSiteDown)) >= 2 }, 5*time.Second, time.Millisecond)
	downs := rec.of(events.TypeSiteDown)
	var first events.SitePayload
	require.NoError(t, jsonUnmarshal(downs[0].Payload, &first))
	require.Equal(t, "uk", downs[0].Site)
	require.Equal(t, "us", downs[0].Observer)
	require.Equal(t, 3, *first.Misses)
	require.Equal(t, "0-1-42", first.PrimaryGTID)
	require.False(t, first.Since.Before(killed.Add(-20*time.Millisecond)), "since %s is a heartbeat after the kill at %s", first.Since, killed)
	require.True(t, first.Since.Before(downs[0].ObservedAt))
	var again events.SitePayload
	require.NoError(t, jsonUnmarshal(downs[1].Payload, &again))
	require.NotEqual(t, downs[0].ID, downs[1].ID)
	require.True(t, first.Since.Equal(*again.Since), "the outage's start stays")
	require.Greater(t, *again.Misses, 3)

	prober.down.Store("uk", false)
	require.Eventually(t, func() bool { return len(rec.of(events.TypeSiteUp)) == 1 }, 5*time.Second, time.Millisecond)
	up := rec.of(events.TypeSiteUp)[0]
	var p events.SitePayload
	require.NoError(t, jsonUnmarshal(up.Payload, &p))
	require.Equal(t, 3, *p.Misses)
	require.Equal(t, "us", up.Observer)
}

// A site.down carries what the site served when it last answered: counted
// in its vCenter while it was up, kept when the vCenter dies with the site.
func TestSiteDownCarriesWhatTheSiteServed(t *testing.T) {
	prober := &fakeProber{}
	tune := fast
	tune.DiscoverInterval = 5 * time.Millisecond
	m, rec := newTestMonitor(t, Options{Site: "us", Tuning: tune}, prober, nil, nil)
	m.gtid = nil
	srv := &fakeServing{}
	srv.web.Store(2)
	m.serving = map[string]*servingCache{"uk": newServingCache(srv, tune.DiscoverInterval, m.log)}
	runLoop(t, func(ctx context.Context) { m.watchSite(ctx, "uk") })
	require.Eventually(t, func() bool { return srv.samples.Load() > 2 }, 5*time.Second, time.Millisecond)
	srv.web.Store(4) // scaled out: the next sample sees it
	n := srv.samples.Load()
	require.Eventually(t, func() bool { return srv.samples.Load() > n+1 }, 5*time.Second, time.Millisecond)

	srv.down.Store(true)
	prober.down.Store("uk", true)
	require.Eventually(t, func() bool { return len(rec.of(events.TypeSiteDown)) >= 2 }, 5*time.Second, time.Millisecond)
	for _, ev := range rec.of(events.TypeSiteDown) {
		var p events.SitePayload
		require.NoError(t, jsonUnmarshal(ev.Payload, &p))
		require.Equal(t, map[string]int{"web": 4}, p.Serving, "the last count from before the site went silent")
	}
	require.Equal(t, map[string]int{"web": 4}, m.ServingSeen("uk"), "what the next site.down carries")
	require.Nil(t, m.ServingSeen("us"), "a monitor does not count its own site")
	// Validated like any event: a trigger accepts it.
	b, err := events.Encode(rec.of(events.TypeSiteDown)[0])
	require.NoError(t, err)
	_, err = events.Decode(b)
	require.NoError(t, err)
}

// One observer's blip is its own vote only: the witness sees uk down, the
// us monitor sees it up; only the witness says so.
func TestOneObserversBlipIsOneVote(t *testing.T) {
	blind, clear := &fakeProber{}, &fakeProber{}
	blind.down.Store("uk", true)
	w, wrec := newTestMonitor(t, Options{Witness: true, Tuning: fast}, blind, nil, nil)
	us, usrec := newTestMonitor(t, Options{Site: "us", Tuning: fast}, clear, nil, nil)
	w.gtid, us.gtid = nil, nil
	runLoop(t, func(ctx context.Context) { w.watchSite(ctx, "uk") })
	runLoop(t, func(ctx context.Context) { us.watchSite(ctx, "uk") })
	require.Eventually(t, func() bool { return len(wrec.of(events.TypeSiteDown)) == 1 }, 5*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return clear.probes.Load() > 10 }, 5*time.Second, time.Millisecond)
	require.Equal(t, Witness, wrec.of(events.TypeSiteDown)[0].Observer)
	require.Empty(t, usrec.of(""))
}

func TestHealthLoopPublishesChangesOfNodesAndTheLB(t *testing.T) {
	checker := &fakeChecker{}
	m, rec := newTestMonitor(t, Options{Site: "uk", Tuning: fast}, nil, nil, checker)
	m.nodes.Store(&[]Node{{Name: "uk-web-1", IP: "127.109.0.10", Service: "web", Port: 8080, HealthPath: "/healthz"}})
	runLoop(t, m.healthLoop)
	require.Eventually(t, func() bool { return len(rec.of(events.TypeNodeHealth)) == 2 }, 5*time.Second, time.Millisecond)
	subjects := map[string]bool{}
	for _, ev := range rec.of(events.TypeNodeHealth) {
		subjects[ev.Subject] = true
	}
	require.Equal(t, map[string]bool{"uk-web-1": true, "uk-lb": true}, subjects)

	checker.sick.Store("http://127.109.0.10:8080/healthz", true)
	require.Eventually(t, func() bool { return len(rec.of(events.TypeNodeHealth)) == 3 }, 5*time.Second, time.Millisecond)
	ev := rec.of(events.TypeNodeHealth)[2]
	var p events.HealthPayload
	require.NoError(t, jsonUnmarshal(ev.Payload, &p))
	require.False(t, *p.Healthy)
	require.Contains(t, p.Detail, "status 503")
	require.Equal(t, "web", p.Service)
}
