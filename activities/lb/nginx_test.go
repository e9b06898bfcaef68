package lb

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/apperrors"
	"github.com/microdc/mdc/lab/proc"
)

// nginx tests follow lab.Plan with Base 34 (127.34.0.0/16).
const (
	ngFrontend = "127.34.0.2:8080"
	ngURL      = "http://" + ngFrontend
	ngSite     = "us"
	ngUpstream = "be_web"
)

func ngNode(n int) string { return fmt.Sprintf("127.34.0.%d:8080", 10+n) }

// ngLab is a real nginx with its own prefix and configuration.
type ngLab struct {
	dir, conf, errLog, pidFile, include string
	p                                   *proc.Process
	cfg                                 NginxConfig
}

// nginxConf is seed 001's set-up: an upstream whose servers come from the
// include mdc generates, proxied from one frontend. Short timeouts keep the
// old workers of a reload from lingering.
func (l *ngLab) nginxConf() string {
	return fmt.Sprintf(`daemon off;
master_process on;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 128; }
http {
    access_log off;
    client_body_temp_path %[1]s/tmp/body;
    proxy_temp_path %[1]s/tmp/proxy;
    fastcgi_temp_path %[1]s/tmp/fastcgi;
    uwsgi_temp_path %[1]s/tmp/uwsgi;
    scgi_temp_path %[1]s/tmp/scgi;
    keepalive_timeout 5s;
    upstream %[2]s {
        include %[3]s;
    }
    server {
        listen %[4]s;
        location / { proxy_pass http://%[2]s; }
    }
}
`, l.dir, ngUpstream, l.include, ngFrontend)
}

// ngSetup starts nodes n1..nodes and nginx with n1 in the upstream.
func ngSetup(t *testing.T, nodes int) (*ngLab, *Activities) {
	t.Helper()
	skipShort(t)
	for i := 1; i <= nodes; i++ {
		startNode(t, fmt.Sprintf("n%d", i), ngNode(i))
	}
	dir := t.TempDir()
	l := &ngLab{dir: dir, conf: filepath.Join(dir, "nginx.conf"), errLog: filepath.Join(dir, "error.log"),
		pidFile: filepath.Join(dir, "nginx.pid"), include: filepath.Join(dir, "lb", ngUpstream+".servers")}
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "tmp"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Dir(l.include), 0o755))
	require.NoError(t, os.WriteFile(l.conf, []byte(l.nginxConf()), 0o644))
	// The operator's initial include, as mdc would write it.
	require.NoError(t, os.WriteFile(l.include, []byte(renderInclude(ngUpstream, ngInclude{Servers: []ngServer{{Name: "n1", Addr: ngNode(1), State: ngUp}}})), 0o644))
	nginx := []string{"nginx", "-p", dir + "/", "-c", l.conf, "-e", l.errLog}
	l.cfg = NginxConfig{
		Site: ngSite, Upstream: ngUpstream, ConfigDir: filepath.Dir(l.include),
		TestCommand:   append(append([]string{}, nginx...), "-t", "-q"),
		ReloadCommand: append(append([]string{}, nginx...), "-s", "reload"),
		PidFile:       l.pidFile,
	}
	l.start(t)
	return l, New(map[string]Driver{ngSite: NewNginx(l.cfg)})
}

func (l *ngLab) start(t *testing.T) {
	t.Helper()
	p, err := proc.Start("nginx", filepath.Join(l.dir, "nginx.log"), nil, "nginx", "-p", l.dir+"/", "-c", l.conf, "-e", l.errLog)
	require.NoError(t, err)
	l.p = p
	t.Cleanup(p.Kill)
	require.NoError(t, p.WaitTCP(ctxT(t, 10*time.Second), ngFrontend))
	waitFor(t, 5*time.Second, "nginx pid file", func() bool { _, err := masterPID(l.pidFile); return err == nil })
}

func (l *ngLab) includeText(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(l.include)
	require.NoError(t, err)
	return string(b)
}

func TestNginxOperations(t *testing.T) {
	l, a := ngSetup(t, 2)
	ctx := ctxT(t, time.Minute)
	require.Equal(t, []string{"n1"}, served(t, ngURL, 4))
	in := AddServerInput{Site: ngSite, Name: "n2", Addr: ngNode(2)}

	add, err := a.AddServer(ctx, in)
	require.NoError(t, err)
	require.True(t, add.Changed)
	require.Contains(t, l.includeText(t), "server "+ngNode(2)+"; # mdc name=n2 state=up\n")
	require.Equal(t, []string{"n1", "n2"}, served(t, ngURL, 10), "the reload took effect before AddServer returned")
	add, err = a.AddServer(ctx, in)
	require.NoError(t, err)
	require.False(t, add.Changed)
	require.Equal(t, ServerStatus{Name: "n2", Addr: ngNode(2), State: StateUp, Sessions: -1, Persisted: true}, listByName(t, a, ngSite)["n2"])

	maint, err := a.MaintServer(ctx, MaintServerInput{Site: ngSite, Name: "n2"})
	require.NoError(t, err)
	require.True(t, maint.Changed)
	maint, err = a.MaintServer(ctx, MaintServerInput{Site: ngSite, Name: "n2"})
	require.NoError(t, err)
	require.False(t, maint.Changed)
	require.Equal(t, StateMaint, listByName(t, a, ngSite)["n2"].State)
	require.Contains(t, l.includeText(t), "server "+ngNode(2)+" down; # mdc name=n2 state=maint\n")
	require.Equal(t, []string{"n1"}, served(t, ngURL, 10))

	en, err := a.EnableServer(ctx, EnableServerInput{Site: ngSite, Name: "n2"})
	require.NoError(t, err)
	require.True(t, en.Changed)
	en, err = a.EnableServer(ctx, EnableServerInput{Site: ngSite, Name: "n2"})
	require.NoError(t, err)
	require.False(t, en.Changed)
	require.Equal(t, []string{"n1", "n2"}, served(t, ngURL, 10))

	dr, err := a.DrainServer(ctx, DrainServerInput{Site: ngSite, Name: "n2", Deadline: 10 * time.Second})
	require.NoError(t, err)
	require.True(t, dr.Changed)
	require.Zero(t, dr.Sessions)
	dr, err = a.DrainServer(ctx, DrainServerInput{Site: ngSite, Name: "n2", Deadline: 10 * time.Second})
	require.NoError(t, err)
	require.False(t, dr.Changed)
	require.Equal(t, StateDrain, listByName(t, a, ngSite)["n2"].State)
	require.Equal(t, []string{"n1"}, served(t, ngURL, 10))

	rm, err := a.RemoveServer(ctx, RemoveServerInput{Site: ngSite, Name: "n2"})
	require.NoError(t, err)
	require.True(t, rm.Changed)
	rm, err = a.RemoveServer(ctx, RemoveServerInput{Site: ngSite, Name: "n2"})
	require.NoError(t, err)
	require.False(t, rm.Changed)
	require.NotContains(t, l.includeText(t), "n2")
	require.Equal(t, []string{"n1"}, served(t, ngURL, 6))

	// nginx refuses an upstream without servers: removing the last one is
	// Rejected and n1 keeps serving.
	_, err = a.RemoveServer(ctx, RemoveServerInput{Site: ngSite, Name: "n1"})
	requireType(t, err, apperrors.TypeRejected)
	t.Logf("removing the last server: %v", err)
	require.Contains(t, l.includeText(t), "name=n1")
	require.Equal(t, []string{"n1"}, served(t, ngURL, 4))
}

func TestNginxBadInput(t *testing.T) {
	l, a := ngSetup(t, 1)
	checkBadInput(t, a, ngSite, "n1", func() string { return l.includeText(t) })
}

func TestNginxRejectedConfigKeepsOldServing(t *testing.T) {
	l, a := ngSetup(t, 2)
	ctx := ctxT(t, time.Minute)
	before := l.includeText(t)
	good, err := os.ReadFile(l.conf)
	require.NoError(t, err)
	// Someone broke nginx.conf since the last reload: the running nginx
	// is fine, but no new configuration can be loaded.
	require.NoError(t, os.WriteFile(l.conf, []byte(strings.Replace(string(good), "access_log off;", "access_log off;\n    no_such_directive on;", 1)), 0o644))
	_, err = a.AddServer(ctx, AddServerInput{Site: ngSite, Name: "n2", Addr: ngNode(2)})
	requireType(t, err, apperrors.TypeRejected)
	require.Contains(t, err.Error(), `unknown directive "no_such_directive"`)
	require.Contains(t, err.Error(), "previous include is back")
	require.Equal(t, before, l.includeText(t), "the rejected include was rolled back")
	require.Equal(t, []string{"n1"}, served(t, ngURL, 6), "the old configuration keeps serving")
	require.True(t, l.p.Running())

	// Once nginx.conf is fixed the same request succeeds.
	require.NoError(t, os.WriteFile(l.conf, good, 0o644))
	add, err := a.AddServer(ctx, AddServerInput{Site: ngSite, Name: "n2", Addr: ngNode(2)})
	require.NoError(t, err)
	require.True(t, add.Changed)
	require.Equal(t, []string{"n1", "n2"}, served(t, ngURL, 10))

	// A write that happened without a reload (a crash in between) is
	// reloaded by the retry even though the file needs no change.
	require.NoError(t, os.WriteFile(l.include, []byte(renderInclude(ngUpstream, ngInclude{Servers: []ngServer{
		{Name: "n1", Addr: ngNode(1), State: ngUp}, {Name: "n2", Addr: ngNode(2), State: ngMaint}}})), 0o644))
	maint, err := a.MaintServer(ctx, MaintServerInput{Site: ngSite, Name: "n2"})
	require.NoError(t, err)
	require.False(t, maint.Changed)
	require.Equal(t, []string{"n1"}, served(t, ngURL, 10))
}

func TestNginxDrainWaitsForOldWorkers(t *testing.T) {
	_, a := ngSetup(t, 1)
	ctx := ctxT(t, time.Minute)

	slow := slowRequest(ngURL, 1500)
	time.Sleep(200 * time.Millisecond) // let nginx pass the request on; nothing to poll for
	start := time.Now()
	dr, err := a.DrainServer(ctx, DrainServerInput{Site: ngSite, Name: "n1", Deadline: 10 * time.Second})
	require.NoError(t, err)
	t.Logf("nginx drain with a 1.5s request in flight took %v", time.Since(start))
	require.True(t, dr.Changed)
	require.Greater(t, dr.Waited, 700*time.Millisecond, "the drain waited for the in-flight request")
	require.Equal(t, "n1", <-slow, "the in-flight request finished normally")

	_, err = a.EnableServer(ctx, EnableServerInput{Site: ngSite, Name: "n1"})
	require.NoError(t, err)
	slow = slowRequest(ngURL, 3000)
	time.Sleep(200 * time.Millisecond)
	start = time.Now()
	_, err = a.DrainServer(ctx, DrainServerInput{Site: ngSite, Name: "n1", Deadline: 700 * time.Millisecond})
	requireType(t, err, apperrors.TypeTimeout)
	require.Less(t, time.Since(start), 2*time.Second)
	// The retry finds n1 already down and still waits for the old worker.
	dr, err = a.DrainServer(ctx, DrainServerInput{Site: ngSite, Name: "n1", Deadline: 10 * time.Second})
	require.NoError(t, err)
	require.False(t, dr.Changed)
	require.Greater(t, dr.Waited, 500*time.Millisecond)
	require.Equal(t, "n1", <-slow)
}

func TestNginxUnavailable(t *testing.T) {
	l, a := ngSetup(t, 2)
	before := l.includeText(t)
	require.NoError(t, l.p.Stop(5*time.Second))
	start := time.Now()
	_, err := a.AddServer(ctxT(t, 10*time.Second), AddServerInput{Site: ngSite, Name: "n2", Addr: ngNode(2)})
	requireType(t, err, apperrors.TypeUnavailable)
	t.Logf("add with nginx stopped: %v after %v", err, time.Since(start))
	require.Less(t, time.Since(start), 3*time.Second)
	require.Equal(t, before, l.includeText(t), "the include was rolled back")

	// Started again, the retry succeeds.
	l.start(t)
	add, err := a.AddServer(ctxT(t, 10*time.Second), AddServerInput{Site: ngSite, Name: "n2", Addr: ngNode(2)})
	require.NoError(t, err)
	require.True(t, add.Changed)
	require.Equal(t, []string{"n1", "n2"}, served(t, ngURL, 10))
}

// TestNginxLatency reports the median time of a change (write, nginx -t,
// reload, new workers up) against the real nginx.
func TestNginxLatency(t *testing.T) {
	_, a := ngSetup(t, 2)
	ctx := ctxT(t, time.Minute)
	var add, remove []time.Duration
	for i := 0; i < 7; i++ {
		start := time.Now()
		_, err := a.AddServer(ctx, AddServerInput{Site: ngSite, Name: "n2", Addr: ngNode(2)})
		require.NoError(t, err)
		add = append(add, time.Since(start))
		start = time.Now()
		_, err = a.RemoveServer(ctx, RemoveServerInput{Site: ngSite, Name: "n2"})
		require.NoError(t, err)
		remove = append(remove, time.Since(start))
	}
	t.Logf("nginx median latency (test + reload): add %v, remove %v", median(add), median(remove))
}
