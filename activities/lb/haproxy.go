package lb

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/microdc/mdc/apperrors"
	"github.com/microdc/mdc/haproxyapi"
)

// HAProxyConfig is one site's HAProxy, as the platform file describes it.
type HAProxyConfig struct {
	// Site names the site in error messages.
	Site string
	// RuntimeAPI is the stats socket at level admin: host:port or an
	// absolute unix socket path.
	RuntimeAPI string
	// Backend holds the web nodes, e.g. "be_web".
	Backend string
	// ConfigDir is the directory of *.cfg files HAProxy loads (the lab's
	// conf.d). Servers are persisted in its 20-backend-<Backend>.cfg, whose
	// non-server lines are kept. Empty means no persistence: servers added at
	// run time are lost at the next reload (HAProxy 2.6 does not keep them).
	ConfigDir string
	// Timeout bounds each runtime API command; default 2s.
	Timeout time.Duration
	// PollInterval is how often a drain reads the session count; default 100ms.
	PollInterval time.Duration
}

// haproxyDriver is the Driver of a site with HAProxy.
type haproxyDriver struct{ c HAProxyConfig }

// NewHAProxy returns the Driver of a site whose balancer is HAProxy 2.4+.
//
// Admin states (maint, drain) live in HAProxy only; they survive a reload or
// restart only if whoever reloads saves `show servers state` to the
// server-state file first, as the lab does.
func NewHAProxy(cfg HAProxyConfig) Driver {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 100 * time.Millisecond
	}
	return &haproxyDriver{c: cfg}
}

// where names the balancer in messages.
func (d *haproxyDriver) where() string {
	return fmt.Sprintf("haproxy runtime API %s, backend %s", d.c.RuntimeAPI, d.c.Backend)
}

// run sends one command and checks the answer against the accepted ones
// (exact match after trimming; "" accepts an empty answer; none given
// accepts any answer). HAProxy refusing
// the command is Rejected; not answering is Unavailable.
func (d *haproxyDriver) run(ctx context.Context, cmd string, accept ...string) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, d.c.Timeout)
	defer cancel()
	out, err := haproxyapi.RuntimeCommand(cctx, d.c.RuntimeAPI, cmd)
	if err != nil {
		return "", unavailable(err, d.c.Site, d.where())
	}
	out = strings.TrimSpace(out)
	if accept == nil {
		return out, nil
	}
	for _, a := range accept {
		if out == a {
			return out, nil
		}
	}
	return out, apperrors.Rejected("site %s: %s refused %q: %s", d.c.Site, d.where(), cmd, out)
}

// servers reads the backend's servers by name.
func (d *haproxyDriver) servers(ctx context.Context) (map[string]haproxyapi.ServerState, []haproxyapi.ServerState, error) {
	cctx, cancel := context.WithTimeout(ctx, d.c.Timeout)
	defer cancel()
	st, err := haproxyapi.ShowServersState(cctx, d.c.RuntimeAPI, d.c.Backend)
	if err != nil {
		return nil, nil, d.classify(err)
	}
	m := make(map[string]haproxyapi.ServerState, len(st))
	for _, s := range st {
		m[s.Name] = s
	}
	return m, st, nil
}

// sessions reads a server's current sessions plus queued requests.
func (d *haproxyDriver) sessions(ctx context.Context) (map[string]int, error) {
	cctx, cancel := context.WithTimeout(ctx, d.c.Timeout)
	defer cancel()
	rows, err := haproxyapi.ShowStat(cctx, d.c.RuntimeAPI, d.c.Backend)
	if err != nil {
		return nil, d.classify(err)
	}
	m := make(map[string]int, len(rows))
	for _, r := range rows {
		m[r.Server] = r.Sessions()
	}
	return m, nil
}

// classify maps a haproxyapi error to a typed one.
func (d *haproxyDriver) classify(err error) error {
	switch {
	case haproxyapi.IsConnError(err):
		return unavailable(err, d.c.Site, d.where())
	case errors.Is(err, haproxyapi.ErrUnknownBackend):
		return apperrors.NotFound("site %s: HAProxy at %s has no backend %q: check lb.backend in the platform file", d.c.Site, d.c.RuntimeAPI, d.c.Backend)
	default:
		return fmt.Errorf("site %s: %s: %w", d.c.Site, d.where(), err)
	}
}

func (d *haproxyDriver) notFound(name string) error {
	return apperrors.NotFound("site %s: %s has no server %q: add it first (ListServers shows what it has)", d.c.Site, d.where(), name)
}

// Add makes s present, at s.Addr, enabled and health-checked: persisted
// first (so a reload in between keeps it), then added at run time.
func (d *haproxyDriver) Add(ctx context.Context, s Server) (bool, error) {
	s, err := validateServer(d.c.Site, s)
	if err != nil {
		return false, err
	}
	// Reading the state first means an unreachable HAProxy changes nothing.
	cur, _, err := d.servers(ctx)
	if err != nil {
		return false, err
	}
	var prev *haproxyapi.ServerLine
	changed, err := d.persist(ctx, func(f *haproxyapi.BackendFile) bool {
		if p, ok := f.Find(s.Name); ok {
			prev = &p
		}
		return f.Set(haproxyapi.Server{Name: s.Name, Addr: s.Addr})
	})
	if err != nil {
		return false, err
	}
	st, ok := cur[s.Name]
	if !ok {
		if _, err := d.run(ctx, haproxyapi.AddServerCommand(d.c.Backend, haproxyapi.Server{Name: s.Name, Addr: s.Addr}), "New server registered."); err != nil {
			if changed && apperrors.Is(err, apperrors.TypeRejected) {
				// HAProxy will never take this server: take it out of the
				// file again, or the next reload would load it.
				d.unpersist(ctx, s.Name, prev)
			}
			return false, err
		}
		changed = true
		// A new dynamic server starts in maintenance with checks off.
		st = haproxyapi.ServerState{Name: s.Name, AdminState: haproxyapi.AdminForcedMaint, UserWeight: 1}
	} else if st.HostPort() != s.Addr {
		// The answer's wording varies with what changed, so the result is
		// checked in the state rather than in the text.
		ap := netip.MustParseAddrPort(s.Addr) // validated above
		cmd := fmt.Sprintf("set server %s/%s addr %s port %d", d.c.Backend, s.Name, ap.Addr(), ap.Port())
		out, _ := d.run(ctx, cmd)
		now, _, err := d.servers(ctx)
		if err != nil {
			return changed, err
		}
		if st = now[s.Name]; st.HostPort() != s.Addr {
			return changed, apperrors.Rejected("site %s: %s refused to move server %s to %s: %s", d.c.Site, d.where(), s.Name, s.Addr, out)
		}
		changed = true
	}
	en, err := d.enable(ctx, st)
	return changed || en, err
}

// Enable takes name out of maintenance or drain, restores its weight and
// turns its health checks on.
func (d *haproxyDriver) Enable(ctx context.Context, name string) (bool, error) {
	if err := validateName(d.c.Site, name); err != nil {
		return false, err
	}
	cur, _, err := d.servers(ctx)
	if err != nil {
		return false, err
	}
	st, ok := cur[name]
	if !ok {
		return false, d.notFound(name)
	}
	return d.enable(ctx, st)
}

// enable brings st to ready with checks on and a non-zero weight.
func (d *haproxyDriver) enable(ctx context.Context, st haproxyapi.ServerState) (bool, error) {
	id := d.c.Backend + "/" + st.Name
	changed := false
	if !st.Checked() {
		if _, err := d.run(ctx, "enable health "+id, ""); err != nil {
			return changed, err
		}
		changed = true
	}
	if st.UserWeight == 0 {
		w := st.InitWeight
		if w == 0 {
			w = 1
		}
		if _, err := d.run(ctx, fmt.Sprintf("set weight %s %d", id, w), ""); err != nil {
			return changed, err
		}
		changed = true
	}
	switch {
	case st.Maint():
		// HAProxy counts a server UP the moment it leaves maintenance,
		// whatever its checks said, so a dead node would take traffic until
		// two checks fail. Marked down in the same command (no traffic is
		// scheduled between the two), it takes traffic once a check passes
		// (within one check interval, 500ms).
		if _, err := d.run(ctx, "set server "+id+" state ready; set server "+id+" health down", ""); err != nil {
			return changed, err
		}
		changed = true
	case st.Drain():
		if _, err := d.run(ctx, "set server "+id+" state ready", ""); err != nil {
			return changed, err
		}
		changed = true
	}
	return changed, nil
}

// Maint puts name in maintenance: no new sessions; current ones go on.
func (d *haproxyDriver) Maint(ctx context.Context, name string) (bool, error) {
	if err := validateName(d.c.Site, name); err != nil {
		return false, err
	}
	cur, _, err := d.servers(ctx)
	if err != nil {
		return false, err
	}
	st, ok := cur[name]
	if !ok {
		return false, d.notFound(name)
	}
	if st.AdminState&haproxyapi.AdminForcedMaint != 0 {
		return false, nil
	}
	if _, err := d.run(ctx, "set server "+d.c.Backend+"/"+name+" state maint", ""); err != nil {
		return false, err
	}
	return true, nil
}

// Drain sets name to drain (unless it is already draining or in
// maintenance, which takes no new sessions either) and polls `show stat`
// until its sessions and queue are empty or the deadline passes.
func (d *haproxyDriver) Drain(ctx context.Context, name string, deadline time.Duration) (DrainResult, error) {
	if err := validateName(d.c.Site, name); err != nil {
		return DrainResult{}, err
	}
	end, err := drainDeadline(ctx, d.c.Site, name, deadline)
	if err != nil {
		return DrainResult{}, err
	}
	cur, _, err := d.servers(ctx)
	if err != nil {
		return DrainResult{}, err
	}
	st, ok := cur[name]
	if !ok {
		return DrainResult{}, d.notFound(name)
	}
	var res DrainResult
	if !st.Drain() && !st.Maint() {
		if _, err := d.run(ctx, "set server "+d.c.Backend+"/"+name+" state drain", ""); err != nil {
			return res, err
		}
		res.Changed = true
	}
	start := time.Now()
	for {
		sess, err := d.sessions(ctx)
		if err != nil {
			return res, err
		}
		n, ok := sess[name]
		if !ok {
			return res, apperrors.NotFound("site %s: server %s was removed from %s while draining", d.c.Site, name, d.where())
		}
		res.Sessions, res.Waited = n, time.Since(start)
		heartbeat(ctx, DrainProgress{Server: name, Sessions: n, Waited: res.Waited})
		if n == 0 {
			return res, nil
		}
		if !time.Now().Add(d.c.PollInterval).Before(end) {
			return res, apperrors.Timeout("site %s: server %s still has %d sessions after draining for %v (%s); it stays in drain: retry to wait longer, or use MaintServer/RemoveServer to cut them off",
				d.c.Site, name, n, res.Waited.Round(time.Millisecond), d.where())
		}
		if err := sleepCtx(ctx, d.c.PollInterval); err != nil {
			return res, apperrors.Timeout("site %s: drain of %s interrupted with %d sessions left: %v", d.c.Site, name, n, err)
		}
	}
}

// Remove deletes name from HAProxy and from the persisted config. HAProxy
// deletes only a server in maintenance without connections, so a server
// that still has sessions is a retryable Conflict (drain it first) and is
// left as it was.
func (d *haproxyDriver) Remove(ctx context.Context, name string) (bool, error) {
	if err := validateName(d.c.Site, name); err != nil {
		return false, err
	}
	cur, _, err := d.servers(ctx)
	if err != nil {
		return false, err
	}
	changed := false
	if st, ok := cur[name]; ok {
		sess, err := d.sessions(ctx)
		if err != nil {
			return false, err
		}
		if n := sess[name]; n > 0 {
			return false, apperrors.Conflict("site %s: server %s still has %d sessions on %s: drain it first (DrainServer), then remove it", d.c.Site, name, n, d.where())
		}
		if err := d.delete(ctx, st); err != nil {
			return false, err
		}
		changed = true
	}
	pch, err := d.persist(ctx, func(f *haproxyapi.BackendFile) bool { return f.Delete(name) })
	return changed || pch, err
}

// delete puts st in maintenance and deletes it. Idle server-side
// connections kept for reuse also block `del server` in HAProxy 2.6; they
// are closed soon after the server enters maintenance, so it retries until
// the command timeout.
func (d *haproxyDriver) delete(ctx context.Context, st haproxyapi.ServerState) error {
	id := d.c.Backend + "/" + st.Name
	if st.AdminState&haproxyapi.AdminForcedMaint == 0 {
		if _, err := d.run(ctx, "set server "+id+" state maint", ""); err != nil {
			return err
		}
	}
	const busy = "Server still has connections attached to it, cannot remove it."
	end := time.Now().Add(d.c.Timeout)
	for {
		out, err := d.run(ctx, "del server "+id, "Server deleted.", busy)
		if err != nil || out != busy {
			return err
		}
		if time.Now().After(end) {
			return apperrors.Conflict("site %s: %s: server %s is in maintenance but HAProxy still holds connections to it after %v; retry later",
				d.c.Site, d.where(), st.Name, d.c.Timeout)
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return unavailable(err, d.c.Site, "delete "+id)
		}
	}
}

// List returns HAProxy's servers with their sessions, then the persisted
// servers HAProxy does not have (StateMissing).
func (d *haproxyDriver) List(ctx context.Context) ([]ServerStatus, error) {
	_, st, err := d.servers(ctx)
	if err != nil {
		return nil, err
	}
	sess, err := d.sessions(ctx)
	if err != nil {
		return nil, err
	}
	var persisted haproxyapi.BackendFile
	if d.c.ConfigDir != "" {
		if persisted, err = d.readFile(); err != nil {
			return nil, err
		}
	}
	var out []ServerStatus
	seen := map[string]bool{}
	for _, s := range st {
		_, p := persisted.Find(s.Name)
		seen[s.Name] = true
		out = append(out, ServerStatus{Name: s.Name, Addr: s.HostPort(), State: stateOf(s), Sessions: sess[s.Name], Persisted: p})
	}
	for _, s := range persisted.Servers {
		if !seen[s.Name] {
			out = append(out, ServerStatus{Name: s.Name, Addr: s.Addr, State: StateMissing, Sessions: 0, Persisted: true})
		}
	}
	return out, nil
}

// stateOf names a server's state; the admin state wins over health.
func stateOf(s haproxyapi.ServerState) string {
	switch {
	case s.Maint():
		return StateMaint
	case s.Drain():
		return StateDrain
	case s.OpState == haproxyapi.OpStopped:
		return StateDown
	default:
		return StateUp
	}
}

// unpersist restores the file's line for name to prev (nil: no line) after
// HAProxy rejected the server. Best effort: the rejection is what the
// caller reports.
func (d *haproxyDriver) unpersist(ctx context.Context, name string, prev *haproxyapi.ServerLine) {
	_, _ = d.persist(ctx, func(f *haproxyapi.BackendFile) bool {
		if prev == nil {
			return f.Delete(name)
		}
		return f.Set(haproxyapi.Server{Name: prev.Name, Addr: prev.Addr})
	})
}

// filePath is the persisted backend file.
func (d *haproxyDriver) filePath() string {
	return filepath.Join(d.c.ConfigDir, haproxyapi.BackendFileName(d.c.Backend))
}

// readFile parses the persisted backend file. A missing or foreign file is
// a deployment mistake no retry fixes, so it is Rejected with what to do.
func (d *haproxyDriver) readFile() (haproxyapi.BackendFile, error) {
	b, err := os.ReadFile(d.filePath())
	if errors.Is(err, os.ErrNotExist) {
		return haproxyapi.BackendFile{}, apperrors.Rejected("site %s: cannot persist servers: %s does not exist; lb.config_dir must be the directory of *.cfg files HAProxy loads, holding the backend %s section in %s",
			d.c.Site, d.filePath(), d.c.Backend, haproxyapi.BackendFileName(d.c.Backend))
	}
	if err != nil {
		return haproxyapi.BackendFile{}, fmt.Errorf("site %s: read persisted HAProxy config: %w", d.c.Site, err)
	}
	f, err := haproxyapi.ParseBackendFile(d.c.Backend, string(b))
	if err != nil {
		return haproxyapi.BackendFile{}, apperrors.Rejected("site %s: cannot persist servers in %s: %v; fix the file by hand", d.c.Site, d.filePath(), err)
	}
	return f, nil
}

// persist applies edit to the backend file under the directory lock and
// rewrites it atomically if edit changed it. Without a ConfigDir it does
// nothing.
func (d *haproxyDriver) persist(ctx context.Context, edit func(*haproxyapi.BackendFile) bool) (bool, error) {
	if d.c.ConfigDir == "" {
		return false, nil
	}
	unlock, err := lockDir(ctx, d.c.ConfigDir, "mdc-"+d.c.Backend)
	if err != nil {
		return false, fmt.Errorf("site %s: persist servers: %w", d.c.Site, err)
	}
	defer unlock()
	f, err := d.readFile()
	if err != nil {
		return false, err
	}
	if !edit(&f) {
		return false, nil
	}
	if err := writeAtomic(d.filePath(), []byte(f.Render()), 0o644); err != nil {
		return false, fmt.Errorf("site %s: persist servers: %w", d.c.Site, err)
	}
	return true, nil
}
