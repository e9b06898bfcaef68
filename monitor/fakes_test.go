package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/microdc/mdc/activities/health"
	"github.com/microdc/mdc/activities/snmp"
	"github.com/microdc/mdc/events"
	"github.com/microdc/mdc/platform"
)

// testPlatform is two sites, uk (primary) and us, and one web service with
// seed 001's thresholds; heartbeats every 20 ms, down after 3 misses.
func testPlatform() *platform.Platform {
	site := func(name string, n int, role string) platform.Site {
		// Lab base 109 (this package's unit tests): nothing listens there;
		// the loops under test talk to fakes.
		ip := fmt.Sprintf("127.%d.0.", 108+n)
		return platform.Site{
			Name: name,
			VCenter: platform.VCenter{URL: "https://" + ip + "1:8989/sdk", Insecure: true,
				UsernameEnv: "VC_USER", PasswordEnv: "VC_PASS", Datacenter: "DC0", Datastore: "LocalDS_0"},
			LB:       platform.LB{Type: "haproxy", RuntimeAPI: ip + "1:9999", Backend: "be_web", Frontend: ip + "2:8080"},
			DNS:      platform.DNS{Servers: []platform.DNSServer{{APIURL: "http://" + ip + "1:8081", APIKeyEnv: "PDNS_KEY", Address: ip + "1:5300"}}},
			Database: platform.Database{Address: ip + "1:3306", Role: role, DSNEnv: "DSN_" + name},
			SNMP:     platform.SNMP{Port: 1161, CommunityEnv: "SNMP_COMMUNITY", Timeout: platform.Duration{Duration: time.Second}},
		}
	}
	return &platform.Platform{
		Version: 1, Name: "test",
		Sites: []platform.Site{site("uk", 1, "primary"), site("us", 2, "replica")},
		Services: []platform.Service{{Name: "web", Zone: "mdc.test.", DNSRecord: "www.mdc.test.", Port: 8080, HealthPath: "/healthz",
			Template: "web-template", Snapshot: "golden", Replicas: platform.Replicas{Min: 1, Max: 4},
			Scale: platform.ScalePolicy{OutLoad: 2.0, InLoad: 1.0}}},
		Failover: platform.FailoverPolicy{DetectionInterval: platform.Duration{Duration: 20 * time.Millisecond}, Misses: 3, ObserverQuorum: 2},
	}
}

// testEnv holds every secret testPlatform names.
func testEnv(name string) (string, bool) {
	v, ok := map[string]string{
		"VC_USER": "user", "VC_PASS": "pass", "PDNS_KEY": "key", "SNMP_COMMUNITY": "public",
		"DSN_uk": "mdc_admin:pw@tcp(127.109.0.1:3306)/", "DSN_us": "mdc_admin:pw@tcp(127.110.0.1:3306)/",
	}[name]
	return v, ok
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// recorder is a Publisher that keeps what it was given and can be told to
// fail, as NATS would while it is away.
type recorder struct {
	mu   sync.Mutex
	evs  []events.Event
	fail atomic.Bool
}

func (r *recorder) Publish(_ context.Context, ev events.Event) (bool, error) {
	if err := events.Validate(ev); err != nil {
		return false, err
	}
	if r.fail.Load() {
		return false, errors.New("nats: timeout")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, ev)
	return false, nil
}

// of returns the events of typ (all types when empty) in publish order.
func (r *recorder) of(typ string) []events.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []events.Event
	for _, ev := range r.evs {
		if typ == "" || ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

// fakePoller answers every target with the load set for its node; a node
// set to -1 does not answer.
type fakePoller struct {
	mu     sync.Mutex
	loads  map[string]float64
	rounds atomic.Int64
}

func (f *fakePoller) set(node string, load float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.loads == nil {
		f.loads = map[string]float64{}
	}
	f.loads[node] = load
}

func (f *fakePoller) Poll(_ context.Context, targets []snmp.Target, _ snmp.Options) []snmp.Sample {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]snmp.Sample, len(targets))
	for i, t := range targets {
		out[i] = snmp.Sample{Node: t.Node, Addr: t.Addr}
		if l, ok := f.loads[t.Node]; ok && l >= 0 {
			out[i].Load1 = l
		} else {
			out[i].Err, out[i].ErrKind = "SNMP agent "+t.Addr+" did not answer", snmp.ErrTimeout
		}
	}
	f.rounds.Add(1)
	return out
}

// fakeProber reports a site reachable or not, as set.
type fakeProber struct {
	down   sync.Map // site -> bool
	probes atomic.Int64
}

func (f *fakeProber) ProbeSite(_ context.Context, in health.ProbeSiteInput) (health.ProbeSiteResult, error) {
	f.probes.Add(1)
	down, _ := f.down.Load(in.Site)
	up := down == nil || !down.(bool)
	return health.ProbeSiteResult{Site: in.Site, Reachable: up, Healthy: up,
		Components: []health.ComponentResult{{Kind: health.KindLBFrontend, Reachable: up}}}, nil
}

type fakeGTID struct{ gtid atomic.Value }

func (f *fakeGTID) PrimaryGTID(context.Context, string) (string, error) {
	g, _ := f.gtid.Load().(string)
	return g, nil
}

// fakeChecker answers health checks by URL: healthy unless set otherwise.
type fakeChecker struct{ sick sync.Map }

func (f *fakeChecker) CheckHTTP(_ context.Context, in health.CheckHTTPInput) (health.CheckHTTPResult, error) {
	if _, bad := f.sick.Load(in.URL); bad {
		return health.CheckHTTPResult{Status: 503, Reason: "GET " + in.URL + ": status 503, want 200"}, nil
	}
	return health.CheckHTTPResult{Healthy: true, Status: 200, Latency: time.Millisecond}, nil
}

// newTestMonitor builds a monitor through New with the recorder as its
// publisher, then swaps its clients for the fakes given (nil keeps New's).
func newTestMonitor(t *testing.T, o Options, prober siteProber, poller loadPoller, checker httpChecker) (*Monitor, *recorder) {
	t.Helper()
	rec := &recorder{}
	if o.Platform == nil {
		o.Platform = testPlatform()
	}
	o.Env, o.Publisher, o.Logger = testEnv, rec, quietLogger()
	m, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	if prober != nil {
		m.prober = prober
	}
	if poller != nil {
		m.poller = poller
	}
	if checker != nil {
		m.checker = checker
	}
	return m, rec
}

// runLoop runs one loop of m until the test ends.
func runLoop(t *testing.T, loop func(context.Context)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); loop(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// fakeServing counts nodes as set; it fails while down is set, as a dead
// site's vCenter would.
type fakeServing struct {
	web     atomic.Int64
	down    atomic.Bool
	samples atomic.Int64
}

func (f *fakeServing) Serving(context.Context) (map[string]int, error) {
	f.samples.Add(1)
	if f.down.Load() {
		return nil, errors.New("vCenter does not answer")
	}
	return map[string]int{"web": int(f.web.Load())}, nil
}
