package dns

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/apperrors"
	"github.com/microdc/mdc/lab/pdns"
	"github.com/microdc/mdc/pdnsapi"
)

// The tests run real pdns_servers at the lab's addresses for Bases 35 and
// 36 (lab.Plan: 127.<Base>.0.1, DNS port 5300, API port 8081), written out
// because importing package lab would pull in all of it.
const (
	zone    = "mdc.test."
	www     = "www.mdc.test."
	testKey = "dns-activities-key-8e41"
)

var (
	dnsAddrs = []string{"127.35.0.1:5300", "127.36.0.1:5300"}
	apiAddrs = []string{"127.35.0.1:8081", "127.36.0.1:8081"}
)

// testLab is two real pdns servers that together serve site "uk"; site
// "us" has only the second.
type testLab struct {
	t    *testing.T
	dirs []string
	pdns []*pdns.PDNS
	api  []*pdnsapi.Client
	a    *Activities
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func newLab(t *testing.T) *testLab {
	t.Helper()
	if testing.Short() {
		t.Skip("runs real pdns_servers; skipped with -short")
	}
	l := &testLab{t: t}
	for i := range apiAddrs {
		l.dirs = append(l.dirs, filepath.Join(t.TempDir(), "pdns"))
		l.pdns = append(l.pdns, nil)
		l.start(i)
		l.api = append(l.api, pdnsapi.NewClient("http://"+apiAddrs[i], testKey))
		require.NoError(t, l.api[i].EnsureZone(ctxT(t, 5*time.Second), zone, "ns1."+zone))
	}
	l.a = l.activities(testKey)
	return l
}

// start (re)starts server i on its state directory.
func (l *testLab) start(i int) {
	l.t.Helper()
	p, err := pdns.Start(ctxT(l.t, 20*time.Second), pdns.Options{Dir: l.dirs[i], DNSAddr: dnsAddrs[i], APIAddr: apiAddrs[i], APIKey: testKey})
	require.NoError(l.t, err)
	l.t.Cleanup(p.Kill)
	l.pdns[i] = p
}

// activities builds Activities whose servers use key.
func (l *testLab) activities(key string) *Activities {
	l.t.Helper()
	srv := func(i int) Server {
		return Server{APIURL: "http://" + apiAddrs[i], APIKey: key, Address: dnsAddrs[i]}
	}
	a, err := New(map[string]SiteConfig{
		"uk": {Servers: []Server{srv(0), srv(1)}},
		"us": {Servers: []Server{srv(1)}},
	})
	require.NoError(l.t, err)
	return a
}

// serials is each server's SOA serial for zone.
func (l *testLab) serials() []uint32 {
	l.t.Helper()
	var out []uint32
	for _, c := range l.api {
		z, err := c.GetZone(ctxT(l.t, 5*time.Second), zone)
		require.NoError(l.t, err)
		out = append(out, z.Serial)
	}
	return out
}

// requireType fails unless err is an application error of type typ.
func requireType(t *testing.T, err error, typ string) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, typ, apperrors.TypeOf(err), "error: %v", err)
}

// outcomes lists each server's outcome.
func outcomes(r ChangeResult) []string {
	var out []string
	for _, s := range r.Servers {
		out = append(out, s.Outcome)
	}
	return out
}

// median of ds.
func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// webServer serves 200 on /health at addr until stopped.
type webServer struct {
	addr string
	srv  *http.Server
}

func startWeb(t *testing.T, addr string) *webServer {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	w := &webServer{addr: addr, srv: &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			http.NotFound(rw, r)
		}
	})}}
	go func() { _ = w.srv.Serve(ln) }()
	t.Cleanup(w.stop)
	return w
}

func (w *webServer) stop() { _ = w.srv.Close() }
