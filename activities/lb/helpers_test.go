package lb

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/apperrors"
)

// startNode runs a web node on addr: /healthz answers 200, /slow?ms=N
// answers after N ms, anything else answers the node's name.
func startNode(t *testing.T, name, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		time.Sleep(time.Duration(ms) * time.Millisecond)
		io.WriteString(w, name)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, name) })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

var client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// get fetches path from url and returns the body, failing on non-200.
func get(t *testing.T, url string) string {
	t.Helper()
	body, status, err := fetch(url)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status, "GET %s: %s", url, body)
	return body
}

func fetch(url string) (string, int, error) {
	resp, err := client.Get(url)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode, err
}

// served makes n requests to url and returns the sorted set of answers.
func served(t *testing.T, url string, n int) []string {
	t.Helper()
	set := map[string]bool{}
	for i := 0; i < n; i++ {
		set[get(t, url)] = true
	}
	var out []string
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// slowRequest starts GET url/slow?ms=ms and returns a channel with the
// answer (body or error text).
func slowRequest(url string, ms int) <-chan string {
	ch := make(chan string, 1)
	go func() {
		body, status, err := fetch(fmt.Sprintf("%s/slow?ms=%d", url, ms))
		switch {
		case err != nil:
			ch <- "error: " + err.Error()
		case status != http.StatusOK:
			ch <- fmt.Sprintf("status %d: %s", status, body)
		default:
			ch <- body
		}
	}()
	return ch
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real load balancer; skipped with -short")
	}
}

// listByName lists the site's servers by name.
func listByName(t *testing.T, a *Activities, site string) map[string]ServerStatus {
	t.Helper()
	res, err := a.ListServers(ctxT(t, 5*time.Second), ListServersInput{Site: site})
	require.NoError(t, err)
	m := map[string]ServerStatus{}
	for _, s := range res.Servers {
		m[s.Name] = s
	}
	return m
}

// waitFor polls cond every 50ms until it holds, failing after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			require.FailNowf(t, "timed out", "waiting %v for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

// requireType checks err's apperrors type.
func requireType(t *testing.T, err error, typ string, msgAndArgs ...any) {
	t.Helper()
	require.Error(t, err, msgAndArgs...)
	require.Equal(t, typ, apperrors.TypeOf(err), "error: %v", err)
}

// median of a slice of durations.
func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// checkBadInput runs every operation with each bad input and an unknown
// server, requiring the typed error and no change to what List reports.
// snapshot returns anything else that must not change (e.g. a file).
func checkBadInput(t *testing.T, a *Activities, site, existing string, snapshot func() string) {
	t.Helper()
	ctx := ctxT(t, 30*time.Second)
	before, beforeSnap := listByName(t, a, site), snapshot()
	type op struct {
		name string
		run  func(site, name, addr string) error
	}
	ops := []op{
		{"add", func(s, n, addr string) error {
			_, err := a.AddServer(ctx, AddServerInput{Site: s, Name: n, Addr: addr})
			return err
		}},
		{"enable", func(s, n, _ string) error {
			_, err := a.EnableServer(ctx, EnableServerInput{Site: s, Name: n})
			return err
		}},
		{"drain", func(s, n, _ string) error {
			_, err := a.DrainServer(ctx, DrainServerInput{Site: s, Name: n, Deadline: time.Second})
			return err
		}},
		{"maint", func(s, n, _ string) error {
			_, err := a.MaintServer(ctx, MaintServerInput{Site: s, Name: n})
			return err
		}},
		{"remove", func(s, n, _ string) error {
			_, err := a.RemoveServer(ctx, RemoveServerInput{Site: s, Name: n})
			return err
		}},
	}
	const goodAddr = "127.0.0.1:8080"
	for _, o := range ops {
		err := o.run("mars", existing, goodAddr)
		requireType(t, err, apperrors.TypeBadInput, o.name)
		require.Contains(t, err.Error(), `unknown site "mars": configured sites are `+site)
		requireType(t, o.run(site, "", goodAddr), apperrors.TypeBadInput, o.name+" empty name")
		err = o.run(site, "web 3", goodAddr)
		requireType(t, err, apperrors.TypeBadInput, o.name+" name with a space")
		require.Contains(t, err.Error(), `"web 3"`)
		if o.name != "remove" && o.name != "add" {
			err = o.run(site, "no-such-node", goodAddr)
			requireType(t, err, apperrors.TypeNotFound, o.name+" unknown server")
			require.Contains(t, err.Error(), "no-such-node")
		}
	}
	for _, addr := range []string{"127.0.0.1", "", "127.0.0.1:0", "127.0.0.1:99999", "node3:8080", "127.0.0.1:80 check"} {
		err := ops[0].run(site, "n9", addr)
		requireType(t, err, apperrors.TypeBadInput, "add with address %q", addr)
		require.Contains(t, err.Error(), "ip:port")
	}
	_, err := a.ListServers(ctx, ListServersInput{Site: "mars"})
	requireType(t, err, apperrors.TypeBadInput)
	// Removing a server that is not there is "already done".
	res, err := a.RemoveServer(ctx, RemoveServerInput{Site: site, Name: "no-such-node"})
	require.NoError(t, err)
	require.False(t, res.Changed)
	require.Equal(t, before, listByName(t, a, site), "bad input changed the balancer")
	require.Equal(t, beforeSnap, snapshot(), "bad input changed the persisted config")
}
