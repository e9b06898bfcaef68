package haproxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/haproxyapi"
)

// Addresses follow lab.Plan with Base 31 (127.31.0.0/16), written out here
// because package lab imports this one.
const (
	apiAddr      = "127.31.0.1:9999"
	frontendAddr = "127.31.0.2:8080"
	backendName  = "be_web"
)

func nodeAddr(n int) string { return fmt.Sprintf("127.31.0.%d:8080", 10+n) }

// node is a tiny web node: /healthz answers 200, anything else its name.
type node struct {
	name string
	srv  *http.Server
}

func startNode(t *testing.T, name, addr string) *node {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, name) })
	n := &node{name: name, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
	go n.srv.Serve(ln)
	t.Cleanup(n.stop)
	return n
}

func (n *node) stop() { n.srv.Close() }

func testOptions(dir string, servers ...Server) Options {
	return Options{Dir: dir, RuntimeAPI: apiAddr, Frontend: frontendAddr, Backend: backendName, HealthPath: "/healthz", Servers: servers}
}

func start(t *testing.T, o Options) *HAProxy {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	h, err := Start(ctx, o)
	require.NoError(t, err)
	t.Cleanup(h.Kill)
	return h
}

var client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// get fetches / through the frontend and returns the answering node's name.
func get(t *testing.T) string {
	t.Helper()
	resp, err := client.Get("http://" + frontendAddr + "/")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "body: %s", b)
	return string(b)
}

// served makes n requests and returns the sorted set of nodes that answered.
func served(t *testing.T, n int) []string {
	t.Helper()
	set := map[string]bool{}
	for i := 0; i < n; i++ {
		set[get(t)] = true
	}
	var names []string
	for k := range set {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// states returns the backend's servers by name.
func states(t *testing.T) map[string]haproxyapi.ServerState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := haproxyapi.ShowServersState(ctx, apiAddr, backendName)
	require.NoError(t, err)
	m := map[string]haproxyapi.ServerState{}
	for _, s := range st {
		require.Equal(t, backendName, s.Backend)
		m[s.Name] = s
	}
	return m
}

// waitState polls until cond holds for the backend's servers, failing after d.
func waitState(t *testing.T, d time.Duration, what string, cond func(map[string]haproxyapi.ServerState) bool) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		m := states(t)
		if cond(m) {
			return time.Since(start)
		}
		if time.Since(start) > d {
			require.FailNowf(t, "timed out", "waiting %v for %s; servers: %+v", d, what, m)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func run(t *testing.T, cmd string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := haproxyapi.RuntimeCommand(ctx, apiAddr, cmd)
	require.NoError(t, err)
	return strings.TrimSpace(out)
}

func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real haproxy; skipped with -short")
	}
}

func TestTrafficHealthAndDynamicServers(t *testing.T) {
	skipShort(t)
	startNode(t, "n1", nodeAddr(0))
	n2 := startNode(t, "n2", nodeAddr(1))
	h := start(t, testOptions(t.TempDir(), Server{Name: "n1", Addr: nodeAddr(0)}, Server{Name: "n2", Addr: nodeAddr(1)}))
	require.NotZero(t, h.PID())

	waitState(t, 3*time.Second, "n1 and n2 UP", func(m map[string]haproxyapi.ServerState) bool {
		return len(m) == 2 && m["n1"].Up() && m["n2"].Up()
	})
	m := states(t)
	require.Equal(t, "127.31.0.10", m["n1"].Addr)
	require.Equal(t, 8080, m["n1"].Port)
	require.Equal(t, []string{"n1", "n2"}, served(t, 10))

	// A node that dies is taken out within ~1s and traffic goes on.
	n2.stop()
	took := waitState(t, 3*time.Second, "n2 DOWN", func(m map[string]haproxyapi.ServerState) bool {
		return m["n2"].OpState == haproxyapi.OpStopped && m["n1"].Up()
	})
	t.Logf("n2 marked DOWN %v after its server stopped", took)
	require.Equal(t, []string{"n1"}, served(t, 10))

	// A node added at run time serves once enabled.
	startNode(t, "n3", nodeAddr(2))
	require.Equal(t, "New server registered.", run(t, haproxyapi.AddServerCommand(backendName, Server{Name: "n3", Addr: nodeAddr(2)})))
	require.True(t, states(t)["n3"].Maint(), "a dynamic server starts in maintenance")
	require.Empty(t, run(t, "enable server be_web/n3"))
	require.Empty(t, run(t, "enable health be_web/n3"))
	waitState(t, 3*time.Second, "n3 UP", func(m map[string]haproxyapi.ServerState) bool { return m["n3"].Up() })
	require.Equal(t, []string{"n1", "n3"}, served(t, 10))

	// Maintenance takes it out of rotation; then it can be deleted.
	require.Empty(t, run(t, "set server be_web/n3 state maint"))
	require.True(t, states(t)["n3"].Maint())
	require.Equal(t, []string{"n1"}, served(t, 10))
	require.Equal(t, "Server deleted.", run(t, "del server be_web/n3"))
	require.NotContains(t, states(t), "n3")
	require.Equal(t, "No such server.", run(t, "set server be_web/n3 state ready"))
}

func TestReloadKeepsServingAndAdminState(t *testing.T) {
	skipShort(t)
	startNode(t, "n1", nodeAddr(0))
	startNode(t, "n2", nodeAddr(1))
	h := start(t, testOptions(t.TempDir(), Server{Name: "n1", Addr: nodeAddr(0)}, Server{Name: "n2", Addr: nodeAddr(1)}))
	waitState(t, 3*time.Second, "both UP", func(m map[string]haproxyapi.ServerState) bool { return m["n1"].Up() && m["n2"].Up() })
	require.Empty(t, run(t, "set server be_web/n2 state maint"))

	// Requests keep flowing while the reload happens.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var mu sync.Mutex
	var fails []string
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 2000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			resp, err := client.Get("http://" + frontendAddr + "/")
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
			if err != nil {
				mu.Lock()
				fails = append(fails, err.Error())
				mu.Unlock()
			}
		}
	}()
	before := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, h.Reload(ctx))
	require.True(t, h.p.Running(), "the master re-executes itself in place and keeps its PID")
	t.Logf("reload took %v", time.Since(before))
	time.Sleep(200 * time.Millisecond) // let requests run against the new worker too
	close(stop)
	wg.Wait()
	require.Empty(t, fails, "requests failed during reload")

	// The maintenance state came back from the server-state file.
	require.True(t, states(t)["n2"].Maint(), "n2's maint state should survive the reload")
	require.Equal(t, []string{"n1"}, served(t, 6))

	// A broken configuration is refused and the old worker keeps serving.
	bad := filepath.Join(h.ConfigDir(), "30-broken.cfg")
	require.NoError(t, os.WriteFile(bad, []byte("backend be_bad\n    balance nonsense\n"), 0o644))
	err := h.Reload(ctx)
	require.ErrorContains(t, err, "invalid")
	require.ErrorContains(t, err, "30-broken.cfg:2")
	require.Equal(t, []string{"n1"}, served(t, 2))
}

func TestRestartKeepsConfig(t *testing.T) {
	skipShort(t)
	startNode(t, "n1", nodeAddr(0))
	startNode(t, "n5", nodeAddr(5))
	dir := t.TempDir()
	h := start(t, testOptions(dir, Server{Name: "n1", Addr: nodeAddr(0)}))
	files, err := filepath.Glob(filepath.Join(h.ConfigDir(), "*.cfg"))
	require.NoError(t, err)
	require.Equal(t, []string{"00-global.cfg", "10-frontend.cfg", "20-backend-be_web.cfg"}, baseNames(files))

	// Persist a server the way an activity would: in its own file.
	be := filepath.Join(h.ConfigDir(), "20-backend-be_web.cfg")
	b, err := os.ReadFile(be)
	require.NoError(t, err)
	persisted := string(b) + "    server n5 " + nodeAddr(5) + " " + haproxyapi.CheckArgs + "\n"
	require.NoError(t, os.WriteFile(be, []byte(persisted), 0o644))
	require.NoError(t, h.Stop())
	require.NoError(t, h.Stop(), "Stop twice is harmless")

	// Restart with different initial servers: the directory's config wins.
	h2 := start(t, testOptions(dir, Server{Name: "n9", Addr: nodeAddr(9)}))
	require.NotEqual(t, h.PID(), h2.PID())
	got, err := os.ReadFile(be)
	require.NoError(t, err)
	require.Equal(t, persisted, string(got))
	waitState(t, 3*time.Second, "n1 and n5 UP", func(m map[string]haproxyapi.ServerState) bool {
		_, n9 := m["n9"]
		return len(m) == 2 && m["n1"].Up() && m["n5"].Up() && !n9
	})
	require.Equal(t, []string{"n1", "n5"}, served(t, 6))
	require.NoError(t, h2.Stop())

	// A killed haproxy leaves sockets behind; a new one starts anyway.
	h3 := start(t, testOptions(dir))
	h3.Kill()
	h4 := start(t, testOptions(dir))
	require.Equal(t, []string{"n1", "n5"}, served(t, 6))
	require.NoError(t, h4.Stop())
}

func baseNames(paths []string) []string {
	var out []string
	for _, p := range paths {
		out = append(out, filepath.Base(p))
	}
	sort.Strings(out)
	return out
}

func TestStartBusyPort(t *testing.T) {
	skipShort(t)
	ln, err := net.Listen("tcp", frontendAddr)
	require.NoError(t, err)
	defer ln.Close()
	_, err = Start(context.Background(), testOptions(t.TempDir(), Server{Name: "n1", Addr: nodeAddr(0)}))
	require.Error(t, err)
	require.Contains(t, err.Error(), frontendAddr)
	require.Contains(t, err.Error(), "not free")
}

func TestStartInvalidConfig(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "conf.d", "00-global.cfg"), []byte("global\n    no-such-keyword\n"), 0o644))
	_, err := Start(context.Background(), testOptions(dir))
	require.ErrorContains(t, err, "no-such-keyword")
}

// TestStartupTime measures how long Start takes (median of five).
func TestStartupTime(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	var took []time.Duration
	for i := 0; i < 5; i++ {
		before := time.Now()
		h := start(t, testOptions(dir, Server{Name: "n1", Addr: nodeAddr(0)}))
		took = append(took, time.Since(before))
		require.NoError(t, h.Stop())
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	t.Logf("haproxy start-up: median %v (min %v, max %v)", took[2], took[0], took[4])
}
