package lb

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/apperrors"
	"github.com/microdc/mdc/haproxyapi"
	"github.com/microdc/mdc/lab/haproxy"
)

// HAProxy tests follow lab.Plan with Base 33 (127.33.0.0/16).
const (
	hapAPI      = "127.33.0.1:9999"
	hapFrontend = "127.33.0.2:8080"
	hapURL      = "http://" + hapFrontend
	hapBackend  = "be_web"
	hapSite     = "uk"
)

func hapNode(n int) string { return fmt.Sprintf("127.33.0.%d:8080", 10+n) }

func hapOptions(dir string, servers ...haproxy.Server) haproxy.Options {
	return haproxy.Options{Dir: dir, RuntimeAPI: hapAPI, Frontend: hapFrontend, Backend: hapBackend, HealthPath: "/healthz", Servers: servers}
}

func startHAProxy(t *testing.T, o haproxy.Options) *haproxy.HAProxy {
	t.Helper()
	h, err := haproxy.Start(ctxT(t, 15*time.Second), o)
	require.NoError(t, err)
	t.Cleanup(h.Kill)
	return h
}

// hapSetup starts nodes n1..nodes, HAProxy with n1 configured, and the
// activities over it.
func hapSetup(t *testing.T, nodes int) (*haproxy.HAProxy, *Activities, HAProxyConfig) {
	t.Helper()
	skipShort(t)
	for i := 1; i <= nodes; i++ {
		startNode(t, fmt.Sprintf("n%d", i), hapNode(i))
	}
	h := startHAProxy(t, hapOptions(t.TempDir(), haproxy.Server{Name: "n1", Addr: hapNode(1)}))
	cfg := HAProxyConfig{Site: hapSite, RuntimeAPI: hapAPI, Backend: hapBackend, ConfigDir: h.ConfigDir()}
	a := New(map[string]Driver{hapSite: NewHAProxy(cfg)})
	waitUp(t, a, "n1")
	return h, a, cfg
}

func waitUp(t *testing.T, a *Activities, names ...string) {
	t.Helper()
	waitFor(t, 5*time.Second, strings.Join(names, ",")+" UP", func() bool {
		m := listByName(t, a, hapSite)
		for _, n := range names {
			if m[n].State != StateUp {
				return false
			}
		}
		return true
	})
}

func backendFile(t *testing.T, cfg HAProxyConfig) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(cfg.ConfigDir, haproxyapi.BackendFileName(cfg.Backend)))
	require.NoError(t, err)
	return string(b)
}

func TestHAProxyOperations(t *testing.T) {
	_, a, cfg := hapSetup(t, 2)
	ctx := ctxT(t, time.Minute)
	in := AddServerInput{Site: hapSite, Name: "n2", Addr: hapNode(2)}

	add, err := a.AddServer(ctx, in)
	require.NoError(t, err)
	require.True(t, add.Changed)
	require.Contains(t, backendFile(t, cfg), "    server n2 "+hapNode(2)+" "+haproxyapi.CheckArgs+"\n")
	add, err = a.AddServer(ctx, in)
	require.NoError(t, err)
	require.False(t, add.Changed, "second add has nothing left to do")
	took := waitFor(t, 5*time.Second, "n2 UP", func() bool { return listByName(t, a, hapSite)["n2"].State == StateUp })
	t.Logf("n2 UP %v after AddServer", took)
	require.Equal(t, []string{"n1", "n2"}, served(t, hapURL, 10))
	require.Equal(t, ServerStatus{Name: "n2", Addr: hapNode(2), State: StateUp, Sessions: 0, Persisted: true}, listByName(t, a, hapSite)["n2"])

	// A node that does not answer is added but never takes traffic: it is
	// DOWN from the start, not UP until its checks fail.
	add, err = a.AddServer(ctx, AddServerInput{Site: hapSite, Name: "dead", Addr: hapNode(9)})
	require.NoError(t, err)
	require.True(t, add.Changed)
	for i := 0; i < 10; i++ {
		require.Equal(t, StateDown, listByName(t, a, hapSite)["dead"].State)
		time.Sleep(100 * time.Millisecond)
	}
	rm, err := a.RemoveServer(ctx, RemoveServerInput{Site: hapSite, Name: "dead"})
	require.NoError(t, err)
	require.True(t, rm.Changed)

	maint, err := a.MaintServer(ctx, MaintServerInput{Site: hapSite, Name: "n2"})
	require.NoError(t, err)
	require.True(t, maint.Changed)
	maint, err = a.MaintServer(ctx, MaintServerInput{Site: hapSite, Name: "n2"})
	require.NoError(t, err)
	require.False(t, maint.Changed)
	require.Equal(t, StateMaint, listByName(t, a, hapSite)["n2"].State)
	require.Equal(t, []string{"n1"}, served(t, hapURL, 6))

	en, err := a.EnableServer(ctx, EnableServerInput{Site: hapSite, Name: "n2"})
	require.NoError(t, err)
	require.True(t, en.Changed)
	en, err = a.EnableServer(ctx, EnableServerInput{Site: hapSite, Name: "n2"})
	require.NoError(t, err)
	require.False(t, en.Changed)
	waitUp(t, a, "n2")
	// Weight 0 (set by hand) takes a server out of rotation too; Enable
	// restores it.
	out, err := haproxyapi.RuntimeCommand(ctx, hapAPI, "set weight be_web/n2 0")
	require.NoError(t, err)
	require.Equal(t, "", strings.TrimSpace(out))
	en, err = a.EnableServer(ctx, EnableServerInput{Site: hapSite, Name: "n2"})
	require.NoError(t, err)
	require.True(t, en.Changed)
	require.Equal(t, []string{"n1", "n2"}, served(t, hapURL, 10))

	dr, err := a.DrainServer(ctx, DrainServerInput{Site: hapSite, Name: "n2", Deadline: 5 * time.Second})
	require.NoError(t, err)
	require.True(t, dr.Changed)
	require.Zero(t, dr.Sessions)
	dr, err = a.DrainServer(ctx, DrainServerInput{Site: hapSite, Name: "n2", Deadline: 5 * time.Second})
	require.NoError(t, err)
	require.False(t, dr.Changed)
	require.Equal(t, StateDrain, listByName(t, a, hapSite)["n2"].State)
	require.Equal(t, []string{"n1"}, served(t, hapURL, 6))

	// Adding a drained server enables it again; adding it at a new address
	// moves it.
	add, err = a.AddServer(ctx, in)
	require.NoError(t, err)
	require.True(t, add.Changed)
	waitUp(t, a, "n2")
	startNode(t, "n2-moved", hapNode(7))
	add, err = a.AddServer(ctx, AddServerInput{Site: hapSite, Name: "n2", Addr: hapNode(7)})
	require.NoError(t, err)
	require.True(t, add.Changed)
	require.Equal(t, hapNode(7), listByName(t, a, hapSite)["n2"].Addr)
	require.Contains(t, backendFile(t, cfg), "    server n2 "+hapNode(7)+" ")
	waitFor(t, 5*time.Second, "traffic to the moved n2", func() bool {
		return strings.Join(served(t, hapURL, 6), ",") == "n1,n2-moved"
	})

	rm, err = a.RemoveServer(ctx, RemoveServerInput{Site: hapSite, Name: "n2"})
	require.NoError(t, err)
	require.True(t, rm.Changed)
	rm, err = a.RemoveServer(ctx, RemoveServerInput{Site: hapSite, Name: "n2"})
	require.NoError(t, err)
	require.False(t, rm.Changed)
	require.NotContains(t, listByName(t, a, hapSite), "n2")
	require.NotContains(t, backendFile(t, cfg), "server n2 ")
	require.Equal(t, []string{"n1"}, served(t, hapURL, 6))
}

func TestHAProxyBadInput(t *testing.T) {
	_, a, cfg := hapSetup(t, 1)
	checkBadInput(t, a, hapSite, "n1", func() string { return backendFile(t, cfg) })

	// A backend HAProxy does not have is NotFound, not a crash or a retry.
	wrong := New(map[string]Driver{hapSite: NewHAProxy(HAProxyConfig{Site: hapSite, RuntimeAPI: hapAPI, Backend: "be_nope"})})
	_, err := wrong.ListServers(ctxT(t, 5*time.Second), ListServersInput{Site: hapSite})
	requireType(t, err, apperrors.TypeNotFound)
	require.Contains(t, err.Error(), "lb.backend")

	// A config dir without the backend file is a deployment mistake.
	bad := New(map[string]Driver{hapSite: NewHAProxy(HAProxyConfig{Site: hapSite, RuntimeAPI: hapAPI, Backend: hapBackend, ConfigDir: t.TempDir()})})
	_, err = bad.AddServer(ctxT(t, 5*time.Second), AddServerInput{Site: hapSite, Name: "n5", Addr: hapNode(5)})
	requireType(t, err, apperrors.TypeRejected)
	require.Contains(t, err.Error(), "lb.config_dir")
	require.NotContains(t, listByName(t, a, hapSite), "n5")
}

func TestHAProxyDrainWaitsForSessions(t *testing.T) {
	_, a, _ := hapSetup(t, 1)
	ctx := ctxT(t, time.Minute)
	waitSession := func() {
		waitFor(t, 3*time.Second, "a session on n1", func() bool { return listByName(t, a, hapSite)["n1"].Sessions == 1 })
	}

	// A slow request in flight: the drain waits for it, and it completes.
	slow := slowRequest(hapURL, 1500)
	waitSession()
	rm, err := a.RemoveServer(ctx, RemoveServerInput{Site: hapSite, Name: "n1"})
	requireType(t, err, apperrors.TypeConflict, "a server with sessions is not removed")
	require.False(t, rm.Changed)
	require.Equal(t, StateUp, listByName(t, a, hapSite)["n1"].State, "a refused remove leaves the server as it was")
	start := time.Now()
	dr, err := a.DrainServer(ctx, DrainServerInput{Site: hapSite, Name: "n1", Deadline: 10 * time.Second})
	require.NoError(t, err)
	t.Logf("drain with a 1.5s request in flight took %v", time.Since(start))
	require.True(t, dr.Changed)
	require.Zero(t, dr.Sessions)
	require.Greater(t, dr.Waited, 700*time.Millisecond)
	require.Equal(t, "n1", <-slow, "the in-flight request finished normally")

	// A request that outlives the deadline: Timeout, and the server stays
	// draining.
	_, err = a.EnableServer(ctx, EnableServerInput{Site: hapSite, Name: "n1"})
	require.NoError(t, err)
	waitUp(t, a, "n1")
	slow = slowRequest(hapURL, 3000)
	waitSession()
	start = time.Now()
	_, err = a.DrainServer(ctx, DrainServerInput{Site: hapSite, Name: "n1", Deadline: 500 * time.Millisecond})
	requireType(t, err, apperrors.TypeTimeout)
	require.Less(t, time.Since(start), 1500*time.Millisecond)
	require.Contains(t, err.Error(), "1 sessions")
	require.Equal(t, StateDrain, listByName(t, a, hapSite)["n1"].State)
	// A retry with a longer deadline finds it draining and waits the rest.
	dr, err = a.DrainServer(ctx, DrainServerInput{Site: hapSite, Name: "n1", Deadline: 10 * time.Second})
	require.NoError(t, err)
	require.False(t, dr.Changed)
	require.Equal(t, "n1", <-slow)

	// With no sessions left it can be removed.
	rm, err = a.RemoveServer(ctx, RemoveServerInput{Site: hapSite, Name: "n1"})
	require.NoError(t, err)
	require.True(t, rm.Changed)
}

func TestHAProxyPersistsAcrossReloadAndRestart(t *testing.T) {
	h, a, cfg := hapSetup(t, 3)
	ctx := ctxT(t, time.Minute)
	for _, n := range []int{2, 3} {
		_, err := a.AddServer(ctx, AddServerInput{Site: hapSite, Name: fmt.Sprintf("n%d", n), Addr: hapNode(n)})
		require.NoError(t, err)
	}
	waitUp(t, a, "n2", "n3")
	_, err := a.MaintServer(ctx, MaintServerInput{Site: hapSite, Name: "n3"})
	require.NoError(t, err)

	// HAProxy 2.6 forgets `add server` servers on reload; the persisted
	// backend file brings n2 back, the server-state file n3's maintenance.
	require.NoError(t, h.Reload(ctx))
	m := listByName(t, a, hapSite)
	require.Contains(t, m, "n2")
	require.Equal(t, StateMaint, m["n3"].State, "maintenance survives a reload")
	waitUp(t, a, "n2")
	require.Equal(t, []string{"n1", "n2"}, served(t, hapURL, 10))

	// And across a stop and start.
	require.NoError(t, h.Stop())
	h2 := startHAProxy(t, hapOptions(filepath.Dir(cfg.ConfigDir)))
	require.Equal(t, cfg.ConfigDir, h2.ConfigDir())
	waitUp(t, a, "n1", "n2")
	require.Equal(t, StateMaint, listByName(t, a, hapSite)["n3"].State, "maintenance survives a restart")
	require.Equal(t, []string{"n1", "n2"}, served(t, hapURL, 10))

	// A removed server stays removed after a reload.
	rm, err := a.RemoveServer(ctx, RemoveServerInput{Site: hapSite, Name: "n2"})
	require.NoError(t, err)
	require.True(t, rm.Changed)
	require.NoError(t, h2.Reload(ctx))
	require.NotContains(t, listByName(t, a, hapSite), "n2")

	// A persisted server HAProxy lost (file edited, not yet reloaded) is
	// listed as missing, and AddServer puts it back without a reload.
	f, err := haproxyapi.ParseBackendFile(hapBackend, backendFile(t, cfg))
	require.NoError(t, err)
	f.Set(haproxyapi.Server{Name: "n2", Addr: hapNode(2)})
	require.NoError(t, os.WriteFile(filepath.Join(cfg.ConfigDir, haproxyapi.BackendFileName(hapBackend)), []byte(f.Render()), 0o644))
	require.Equal(t, ServerStatus{Name: "n2", Addr: hapNode(2), State: StateMissing, Persisted: true}, listByName(t, a, hapSite)["n2"])
	add, err := a.AddServer(ctx, AddServerInput{Site: hapSite, Name: "n2", Addr: hapNode(2)})
	require.NoError(t, err)
	require.True(t, add.Changed)
	waitUp(t, a, "n2")
}

func TestHAProxyUnavailable(t *testing.T) {
	h, a, cfg := hapSetup(t, 2)
	fileBefore := backendFile(t, cfg)
	h.Kill()
	ops := map[string]func(ctx context.Context) error{
		"add": func(ctx context.Context) error {
			_, err := a.AddServer(ctx, AddServerInput{Site: hapSite, Name: "n2", Addr: hapNode(2)})
			return err
		},
		"enable": func(ctx context.Context) error {
			_, err := a.EnableServer(ctx, EnableServerInput{Site: hapSite, Name: "n1"})
			return err
		},
		"drain": func(ctx context.Context) error {
			_, err := a.DrainServer(ctx, DrainServerInput{Site: hapSite, Name: "n1", Deadline: time.Second})
			return err
		},
		"maint": func(ctx context.Context) error {
			_, err := a.MaintServer(ctx, MaintServerInput{Site: hapSite, Name: "n1"})
			return err
		},
		"remove": func(ctx context.Context) error {
			_, err := a.RemoveServer(ctx, RemoveServerInput{Site: hapSite, Name: "n1"})
			return err
		},
		"list": func(ctx context.Context) error {
			_, err := a.ListServers(ctx, ListServersInput{Site: hapSite})
			return err
		},
	}
	// A stopped HAProxy refuses connections: Unavailable at once.
	for name, op := range ops {
		start := time.Now()
		err := op(ctxT(t, 5*time.Second))
		requireType(t, err, apperrors.TypeUnavailable, name)
		require.Contains(t, err.Error(), hapAPI)
		require.Less(t, time.Since(start), time.Second, name)
	}
	require.Equal(t, fileBefore, backendFile(t, cfg), "nothing was persisted while HAProxy was down")

	// A wedged HAProxy (accepts, never answers): Unavailable after the
	// per-command timeout.
	ln, err := net.Listen("tcp", hapAPI)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	cfg.Timeout = 300 * time.Millisecond
	wedged := New(map[string]Driver{hapSite: NewHAProxy(cfg)})
	a = wedged
	for name, op := range ops {
		start := time.Now()
		err := op(ctxT(t, 5*time.Second))
		requireType(t, err, apperrors.TypeUnavailable, name)
		require.Less(t, time.Since(start), time.Second, name)
	}
}

func TestHAProxyUnixSocket(t *testing.T) {
	h, _, cfg := hapSetup(t, 2)
	cfg.RuntimeAPI = h.AdminSocket()
	a := New(map[string]Driver{hapSite: NewHAProxy(cfg)})
	ctx := ctxT(t, 30*time.Second)
	add, err := a.AddServer(ctx, AddServerInput{Site: hapSite, Name: "n2", Addr: hapNode(2)})
	require.NoError(t, err)
	require.True(t, add.Changed)
	waitUp(t, a, "n2")
	rm, err := a.RemoveServer(ctx, RemoveServerInput{Site: hapSite, Name: "n2"})
	require.NoError(t, err)
	require.True(t, rm.Changed)
	_, err = New(map[string]Driver{hapSite: NewHAProxy(HAProxyConfig{Site: hapSite, RuntimeAPI: filepath.Join(t.TempDir(), "none.sock"), Backend: hapBackend})}).
		ListServers(ctx, ListServersInput{Site: hapSite})
	requireType(t, err, apperrors.TypeUnavailable)
}

// TestHAProxyLatency reports the median time of add, drain (no sessions)
// and remove against the real HAProxy.
func TestHAProxyLatency(t *testing.T) {
	_, a, _ := hapSetup(t, 2)
	ctx := ctxT(t, time.Minute)
	var add, drain, remove []time.Duration
	for i := 0; i < 15; i++ {
		start := time.Now()
		_, err := a.AddServer(ctx, AddServerInput{Site: hapSite, Name: "n2", Addr: hapNode(2)})
		require.NoError(t, err)
		add = append(add, time.Since(start))
		start = time.Now()
		_, err = a.DrainServer(ctx, DrainServerInput{Site: hapSite, Name: "n2", Deadline: 5 * time.Second})
		require.NoError(t, err)
		drain = append(drain, time.Since(start))
		start = time.Now()
		_, err = a.RemoveServer(ctx, RemoveServerInput{Site: hapSite, Name: "n2"})
		require.NoError(t, err)
		remove = append(remove, time.Since(start))
	}
	t.Logf("haproxy median latency: add %v, drain (idle) %v, remove %v", median(add), median(drain), median(remove))
}

// TestHAProxyRejectedAddIsNotPersisted: a server HAProxy refuses is taken
// out of the backend file again, so no later reload loads it.
func TestHAProxyRejectedAddIsNotPersisted(t *testing.T) {
	h, a, cfg := hapSetup(t, 2)
	ctx := ctxT(t, 30*time.Second)
	// static-rr cannot take servers at run time.
	path := filepath.Join(cfg.ConfigDir, haproxyapi.BackendFileName(hapBackend))
	static := strings.Replace(backendFile(t, cfg), "balance roundrobin", "balance static-rr", 1)
	require.NoError(t, os.WriteFile(path, []byte(static), 0o644))
	require.NoError(t, h.Reload(ctx))

	_, err := a.AddServer(ctx, AddServerInput{Site: hapSite, Name: "n2", Addr: hapNode(2)})
	requireType(t, err, apperrors.TypeRejected)
	t.Logf("rejected add: %v", err)
	require.Contains(t, err.Error(), "add server")
	require.Equal(t, static, backendFile(t, cfg))
	require.NotContains(t, listByName(t, a, hapSite), "n2")
}
