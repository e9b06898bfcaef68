// Package haproxy runs one site's real HAProxy (Debian's haproxy 2.6) for the
// lab: it writes a configuration directory on first start, runs haproxy in
// master-worker mode in the foreground, reloads it through the master CLI,
// and talks to its runtime API (over TCP) through package haproxyapi.
package haproxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/microdc/mdc/haproxyapi"
	"github.com/microdc/mdc/lab/proc"
)

// Server is a web node behind the load balancer.
type Server = haproxyapi.Server

// Options configures one site's HAProxy.
type Options struct {
	Dir        string   // state dir: conf.d/, sockets, server-state, haproxy.log
	RuntimeAPI string   // ip:port of the runtime API (level admin)
	Frontend   string   // ip:port clients connect to
	Backend    string   // backend name, e.g. "be_web"
	HealthPath string   // HTTP health check path, e.g. "/healthz"
	Servers    []Server // servers written into a new configuration
}

// HAProxy is a running haproxy master process and its worker.
type HAProxy struct {
	opts    Options
	confDir string
	master  string // master CLI unix socket
	state   string // server-state file
	p       *proc.Process
}

// Timeouts used when the caller's context has no deadline. haproxy starts
// in tens of milliseconds; seconds mean something is wrong.
const (
	defaultStartTimeout = 15 * time.Second
	stopGrace           = 5 * time.Second
)

// Start writes the configuration into Dir/conf.d unless that directory
// already holds *.cfg files (so a restart keeps what was persisted there),
// checks it with `haproxy -c`, starts `haproxy -W -db`, and returns once the
// runtime API and the frontend accept connections and the runtime API is
// served by this haproxy's worker.
func Start(ctx context.Context, o Options) (*HAProxy, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("haproxy: state dir %q: %w", o.Dir, err)
	}
	o.Dir = dir
	h := &HAProxy{
		opts:    o,
		confDir: filepath.Join(dir, "conf.d"),
		master:  filepath.Join(dir, "master.sock"),
		state:   filepath.Join(dir, "server-state"),
	}
	// Unix socket paths are limited to 107 bytes by the kernel.
	if len(filepath.Join(dir, "admin.sock")) > 100 {
		return nil, fmt.Errorf("haproxy: state dir %q is too long for unix sockets (keep it under ~90 characters)", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("haproxy: create state dir: %w", err)
	}
	has, err := hasConfig(h.confDir)
	if err != nil {
		return nil, fmt.Errorf("haproxy: read config dir %s: %w", h.confDir, err)
	}
	if !has {
		if err := o.writeConfig(h.confDir); err != nil {
			return nil, err
		}
	}
	// A state file with just the format version keeps haproxy from warning
	// about a missing one on first start.
	if _, err := os.Stat(h.state); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(h.state, []byte("1\n"), 0o644); err != nil {
			return nil, fmt.Errorf("haproxy: write %s: %w", h.state, err)
		}
	}
	for _, a := range []struct{ what, addr string }{{"runtime API", o.RuntimeAPI}, {"frontend", o.Frontend}} {
		if err := checkFree(a.addr); err != nil {
			return nil, fmt.Errorf("haproxy: %s address %s is not free (is another haproxy or lab still running there?): %w", a.what, a.addr, err)
		}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultStartTimeout)
		defer cancel()
	}
	if err := h.check(ctx); err != nil {
		return nil, err
	}
	p, err := proc.Start("haproxy", filepath.Join(dir, "haproxy.log"), nil,
		"haproxy", "-W", "-db", "-f", h.confDir, "-S", h.master)
	if err != nil {
		return nil, err
	}
	h.p = p
	if err := h.waitReady(ctx); err != nil {
		p.Kill()
		return nil, err
	}
	return h, nil
}

// checkFree fails when something already listens on addr: haproxy would fail
// to bind, but a readiness probe could mistake the squatter for haproxy.
func checkFree(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return l.Close()
}

// check validates the configuration directory with `haproxy -c`.
func (h *HAProxy) check(ctx context.Context) error {
	out, err := exec.CommandContext(ctx, "haproxy", "-c", "-f", h.confDir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("haproxy: configuration in %s is invalid (fix or delete the files to regenerate them): %w; haproxy -c says:\n%s",
			h.confDir, err, tail(string(out), 2000))
	}
	return nil
}

// waitReady waits for both listeners and for the runtime API to be answered
// by the worker that this master reports as current.
func (h *HAProxy) waitReady(ctx context.Context) error {
	for _, addr := range []string{h.opts.RuntimeAPI, h.opts.Frontend} {
		if err := h.p.WaitTCP(ctx, addr); err != nil {
			return fmt.Errorf("haproxy: %w", err)
		}
	}
	return h.waitWorker(ctx, func(procInfo) bool { return true })
}

// waitWorker polls until the master names a current worker that accept
// approves and that worker answers on the runtime API.
func (h *HAProxy) waitWorker(ctx context.Context, accept func(procInfo) bool) error {
	var last error
	for {
		pi, err := h.showProc(ctx)
		switch {
		case err != nil:
			last = err
		case pi.worker == 0 || !accept(pi):
			last = errors.New("master has no new worker yet")
		default:
			pid, err := h.workerPID(ctx)
			if err != nil {
				last = err
			} else if pid == pi.worker {
				return nil
			} else {
				last = fmt.Errorf("runtime API %s is answered by PID %d, not by this haproxy's worker %d", h.opts.RuntimeAPI, pid, pi.worker)
			}
		}
		if err := h.sleep(ctx); err != nil {
			return fmt.Errorf("haproxy: worker not ready: %v (%w); log %s ends:\n%s", last, err, h.p.LogPath, h.p.Tail(2000))
		}
	}
}

// sleep waits a poll interval, failing early if haproxy exited or ctx ended.
func (h *HAProxy) sleep(ctx context.Context) error {
	select {
	case <-h.p.Exited():
		return errors.New("haproxy exited")
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(50 * time.Millisecond):
		return nil
	}
}

// showProc asks the master CLI which worker is current.
func (h *HAProxy) showProc(ctx context.Context) (procInfo, error) {
	out, err := haproxyapi.RuntimeCommand(ctx, h.master, "show proc")
	if err != nil {
		return procInfo{}, err
	}
	return parseShowProc(out)
}

// workerPID asks the runtime API which process answers it.
func (h *HAProxy) workerPID(ctx context.Context) (int, error) {
	out, err := haproxyapi.RuntimeCommand(ctx, h.opts.RuntimeAPI, "show info")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "Pid: "); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, fmt.Errorf("runtime API %s: no Pid in `show info`", h.opts.RuntimeAPI)
}

// Reload saves the server states, validates the configuration, asks the
// master for a reload, and returns once a new worker serves the runtime API.
// A configuration that fails validation leaves the running worker untouched.
func (h *HAProxy) Reload(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultStartTimeout)
		defer cancel()
	}
	if err := h.saveState(ctx); err != nil {
		return err
	}
	if err := h.check(ctx); err != nil {
		return err
	}
	before, err := h.showProc(ctx)
	if err != nil {
		return fmt.Errorf("haproxy reload: %w", err)
	}
	if _, err := haproxyapi.RuntimeCommand(ctx, h.master, "reload"); err != nil {
		return fmt.Errorf("haproxy reload: %w", err)
	}
	var failed bool
	err = h.waitWorker(ctx, func(pi procInfo) bool {
		failed = pi.failedReloads > before.failedReloads
		return failed || pi.worker != before.worker
	})
	if err == nil && failed {
		err = fmt.Errorf("haproxy reload failed, the old worker keeps running; log %s ends:\n%s", h.p.LogPath, h.p.Tail(2000))
	}
	return err
}

// saveState writes `show servers state` to the server-state file that the
// configuration loads, so admin states and weights survive reloads and stops.
func (h *HAProxy) saveState(ctx context.Context) error {
	out, err := haproxyapi.RuntimeCommand(ctx, h.opts.RuntimeAPI, "show servers state")
	if err != nil {
		return fmt.Errorf("haproxy: save server state: %w", err)
	}
	if _, err := haproxyapi.ParseServersState(out); err != nil {
		return fmt.Errorf("haproxy: save server state: %w", err)
	}
	tmp := h.state + ".tmp"
	if err := os.WriteFile(tmp, []byte(out), 0o644); err != nil {
		return fmt.Errorf("haproxy: save server state: %w", err)
	}
	if err := os.Rename(tmp, h.state); err != nil {
		return fmt.Errorf("haproxy: save server state: %w", err)
	}
	return nil
}

// Stop saves the server states (best effort), then stops haproxy: SIGTERM,
// and SIGKILL after a grace period.
func (h *HAProxy) Stop() error {
	if !h.p.Running() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	saveErr := h.saveState(ctx)
	cancel()
	if err := h.p.Stop(stopGrace); err != nil {
		return fmt.Errorf("haproxy: stop PID %d: %w", h.p.PID(), err)
	}
	if saveErr != nil {
		return fmt.Errorf("haproxy stopped, but its server states were not saved: %w", saveErr)
	}
	return nil
}

// Kill stops haproxy at once with SIGKILL, as a crashed site would; server
// states are not saved. It returns once the listening addresses are free.
func (h *HAProxy) Kill() {
	h.p.Kill()
	// The worker shares the master's process group and gets the same
	// SIGKILL, but it may close its sockets just after the master is reaped.
	deadline := time.Now().Add(2 * time.Second)
	for _, addr := range []string{h.opts.RuntimeAPI, h.opts.Frontend} {
		for checkFree(addr) != nil && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// PID is the haproxy master's process ID.
func (h *HAProxy) PID() int { return h.p.PID() }

// ConfigDir is the directory of *.cfg files haproxy loads in lexical order.
func (h *HAProxy) ConfigDir() string { return h.confDir }

// RuntimeAPI is the ip:port of the runtime API.
func (h *HAProxy) RuntimeAPI() string { return h.opts.RuntimeAPI }

// AdminSocket is the path of the runtime API's unix socket (level admin,
// mode 600): the same API as RuntimeAPI, for clients on this machine.
func (h *HAProxy) AdminSocket() string { return filepath.Join(h.opts.Dir, "admin.sock") }

// LogPath is the file haproxy's stdout and stderr go to.
func (h *HAProxy) LogPath() string { return h.p.LogPath }

// Exited is closed when the haproxy master has exited.
func (h *HAProxy) Exited() <-chan struct{} { return h.p.Exited() }

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return s
}
