package triggers

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/embedded"
	"github.com/microdc/mdc/events"
	"github.com/microdc/mdc/platform"
	"github.com/microdc/mdc/workflows"
)

func testPlatform(t testing.TB) *platform.Platform {
	p, err := platform.Load(filepath.Join("testdata", "platform.yaml"))
	require.NoError(t, err)
	return p
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func startNATS(t testing.TB, o embedded.NATSOptions) *embedded.NATS {
	t.Helper()
	srv, err := embedded.StartNATS(o)
	require.NoError(t, err)
	return srv
}

// publisher publishes events, retrying while NATS is away.
type publisher struct {
	nc *nats.Conn
	js jetstream.JetStream
}

func newPublisher(t testing.TB, url string) *publisher {
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, events.EnsureStreams(ctx, js))
	return &publisher{nc: nc, js: js}
}

func (p *publisher) event(t testing.TB, ev events.Event) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := events.Publish(ctx, p.js, ev)
		cancel()
		if err == nil {
			return
		}
		require.True(t, time.Now().Before(deadline), "publish %s: %v", ev.ID, err)
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *publisher) raw(t testing.TB, subject string, data []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := p.js.Publish(ctx, subject, data)
	require.NoError(t, err)
}

func loadEvent(i int, site string) events.Event {
	return events.Event{
		Version: 1, ID: fmt.Sprintf("load-%s-%d", site, i), Type: events.TypeNodeLoad, Site: site,
		Subject: fmt.Sprintf("n%d", i), Observer: "test", ObservedAt: time.Now().UTC(),
		Payload: []byte(fmt.Sprintf(`{"load1":%d.5}`, i%4)),
	}
}

// servedSaw is how many web nodes each observer counted at a site before
// it went down: observers sample at different times.
var servedSaw = map[string]int{"us": 2, "uk": 2, "witness": 3}

func siteDown(id, site string) events.Event { return downFrom(id, site, "us", time.Now()) }

// downFrom is observer's site.down about site, observed at at; the outage
// began a second earlier, the primary's GTID names the observer, and the
// site served as many web nodes as servedSaw says the observer counted.
func downFrom(id, site, observer string, at time.Time) events.Event {
	since := at.Add(-time.Second).UTC()
	pl, _ := events.NewPayload(events.SitePayload{Since: &since, PrimaryGTID: "0-1-" + observer,
		Serving: map[string]int{"web": servedSaw[observer]}})
	return events.Event{Version: 1, ID: id, Type: events.TypeSiteDown, Site: site, Observer: observer, ObservedAt: at.UTC(), Payload: pl}
}

// upFrom is observer's site.up about site, observed at at.
func upFrom(id, site, observer string, at time.Time) events.Event {
	return events.Event{Version: 1, ID: id, Type: events.TypeSiteUp, Site: site, Observer: observer, ObservedAt: at.UTC()}
}

// runTrigger starts a trigger and stops it at cleanup.
func runTrigger(t testing.TB, o Options) *Trigger {
	t.Helper()
	tr, stop := startTrigger(t, o)
	t.Cleanup(stop)
	return tr
}

// startTrigger starts a trigger; stop ends it (once) and checks Run's result.
func startTrigger(t testing.TB, o Options) (*Trigger, func()) {
	t.Helper()
	if o.Logger == nil {
		o.Logger = quietLogger()
	}
	if o.Platform == nil {
		o.Platform = testPlatform(t)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tr, err := New(ctx, o)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx) }()
	var once sync.Once
	return tr, func() {
		once.Do(func() {
			cancel()
			require.NoError(t, <-done)
			tr.Close()
		})
	}
}

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		require.True(t, time.Now().Before(deadline), "timed out after %s waiting for %s", timeout, what)
		time.Sleep(20 * time.Millisecond)
	}
}

// fakeStarter records the actions; failing makes every call fail transiently.
type fakeStarter struct {
	mu        sync.Mutex
	failing   bool
	delay     time.Duration
	failovers map[string]int
	requests  []FailoverRequest
	samples   []workflows.LoadSample
	services  []string
	nodes     map[string]bool
}

func newFake() *fakeStarter {
	return &fakeStarter{failovers: map[string]int{}, nodes: map[string]bool{}}
}

func (f *fakeStarter) StartFailover(_ context.Context, _ *platform.Platform, req FailoverRequest) (StartResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failing {
		return StartResult{}, fmt.Errorf("temporal unavailable (fake)")
	}
	f.failovers[req.FailedSite]++
	f.requests = append(f.requests, req)
	return StartResult{Started: f.failovers[req.FailedSite] == 1, RunID: "fake"}, nil
}

// startCalls returns how often StartFailover was called for site.
func (f *fakeStarter) startCalls(site string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failovers[site]
}

func (f *fakeStarter) SignalLoad(_ context.Context, _ *platform.Platform, site, service string, s workflows.LoadSample) error {
	time.Sleep(f.delay)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failing {
		return fmt.Errorf("temporal unavailable (fake)")
	}
	f.samples = append(f.samples, s)
	f.services = append(f.services, service+"@"+site)
	f.nodes[s.Node] = true
	return nil
}

func (f *fakeStarter) setFailing(v bool) {
	f.mu.Lock()
	f.failing = v
	f.mu.Unlock()
}

func (f *fakeStarter) distinctNodes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.nodes)
}

func deadLetters(t testing.TB, js jetstream.JetStream) []*jetstream.RawStreamMsg {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, events.DeadLetterStream)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		require.NoError(t, err)
		out = append(out, m)
	}
	return out
}
