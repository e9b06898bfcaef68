package lb

import (
	"context"
	"time"

	"github.com/microdc/mdc/apperrors"
)

// Add makes s present at s.Addr and up in the upstream.
func (d *nginxDriver) Add(ctx context.Context, s Server) (bool, error) {
	s, err := validateServer(d.c.Site, s)
	if err != nil {
		return false, err
	}
	ch, _, err := d.change(ctx, func(inc *ngInclude) (bool, error) {
		i := inc.find(s.Name)
		if i < 0 {
			inc.Servers = append(inc.Servers, ngServer{Name: s.Name, Addr: s.Addr, Params: d.c.ServerParams, State: ngUp})
			return true, nil
		}
		cur := &inc.Servers[i]
		if cur.Addr == s.Addr && cur.State == ngUp {
			return false, nil
		}
		cur.Addr, cur.State = s.Addr, ngUp
		return true, nil
	})
	return ch, err
}

// setState moves an existing server to state.
func (d *nginxDriver) setState(ctx context.Context, name, state string, keep func(cur string) bool) (bool, []ngProc, error) {
	if err := validateName(d.c.Site, name); err != nil {
		return false, nil, err
	}
	return d.change(ctx, func(inc *ngInclude) (bool, error) {
		i := inc.find(name)
		if i < 0 {
			return false, apperrors.NotFound("site %s: nginx upstream %s (%s) has no server %q: add it first (ListServers shows what it has)", d.c.Site, d.c.Upstream, d.path(), name)
		}
		if inc.Servers[i].State == state || keep(inc.Servers[i].State) {
			return false, nil
		}
		inc.Servers[i].State = state
		return true, nil
	})
}

// Enable marks the server up again.
func (d *nginxDriver) Enable(ctx context.Context, name string) (bool, error) {
	ch, _, err := d.setState(ctx, name, ngUp, func(string) bool { return false })
	return ch, err
}

// Maint marks the server down; requests already on it finish in the old
// workers.
func (d *nginxDriver) Maint(ctx context.Context, name string) (bool, error) {
	ch, _, err := d.setState(ctx, name, ngMaint, func(string) bool { return false })
	return ch, err
}

// Drain marks the server down (unless it is down already) and waits until
// no worker of an older configuration is left: those hold every request
// that may still be using the server. nginx OSS cannot count a server's
// sessions, so this also waits for old requests to other servers; without a
// pid file it waits the whole deadline.
func (d *nginxDriver) Drain(ctx context.Context, name string, deadline time.Duration) (DrainResult, error) {
	if err := validateName(d.c.Site, name); err != nil {
		return DrainResult{}, err
	}
	end, err := drainDeadline(ctx, d.c.Site, name, deadline)
	if err != nil {
		return DrainResult{}, err
	}
	ch, before, err := d.setState(ctx, name, ngDrain, func(cur string) bool { return cur == ngMaint })
	res := DrainResult{Changed: ch, Sessions: -1}
	if err != nil {
		return res, err
	}
	start := time.Now()
	if d.c.PidFile == "" {
		// Nothing to observe: waiting the deadline out is the only way to
		// be sure requests on the server had their time.
		for {
			res.Waited = time.Since(start)
			heartbeat(ctx, DrainProgress{Server: name, Sessions: -1, Waited: res.Waited})
			left := time.Until(end)
			if left <= 0 {
				return res, nil
			}
			if err := sleepCtx(ctx, min(left, time.Second)); err != nil {
				return res, apperrors.Timeout("site %s: drain of %s interrupted: %v", d.c.Site, name, err)
			}
		}
	}
	for {
		n, err := d.oldWorkers(before)
		if err != nil {
			return res, err
		}
		res.Sessions, res.Waited = n, time.Since(start)
		heartbeat(ctx, DrainProgress{Server: name, Sessions: n, Waited: res.Waited})
		if n == 0 {
			return res, nil
		}
		if !time.Now().Add(d.c.PollInterval).Before(end) {
			return res, apperrors.Timeout("site %s: server %s is down in upstream %s, but %d nginx workers of the previous configuration still serve requests after %v; retry to wait longer (nginx's worker_shutdown_timeout bounds them)",
				d.c.Site, name, d.c.Upstream, n, res.Waited.Round(time.Millisecond))
		}
		if err := sleepCtx(ctx, d.c.PollInterval); err != nil {
			return res, apperrors.Timeout("site %s: drain of %s interrupted with %d old nginx workers left: %v", d.c.Site, name, n, err)
		}
	}
}

// oldWorkers counts the workers that served an older configuration: those
// in before that are still alive, and any child shutting down (left by an
// earlier reload, which matters when a drain is retried).
func (d *nginxDriver) oldWorkers(before []ngProc) (int, error) {
	master, err := masterPID(d.c.PidFile)
	if err != nil {
		return 0, unavailable(err, d.c.Site, "nginx drain")
	}
	now, err := children(master)
	if err != nil {
		return 0, unavailable(err, d.c.Site, "nginx drain")
	}
	old := map[int]bool{}
	for _, p := range before {
		if alive(p.PID) {
			old[p.PID] = true
		}
	}
	for _, p := range now {
		if p.ShuttingDown {
			old[p.PID] = true
		}
	}
	return len(old), nil
}

// Remove deletes the server's line; requests already on it finish in the
// old workers. nginx refuses an upstream without servers, so removing the
// last one is Rejected.
func (d *nginxDriver) Remove(ctx context.Context, name string) (bool, error) {
	if err := validateName(d.c.Site, name); err != nil {
		return false, err
	}
	ch, _, err := d.change(ctx, func(inc *ngInclude) (bool, error) {
		i := inc.find(name)
		if i < 0 {
			return false, nil
		}
		inc.Servers = append(inc.Servers[:i], inc.Servers[i+1:]...)
		return true, nil
	})
	return ch, err
}

// List returns the include's servers: their configured state (nginx OSS
// has no active health checks to report) and unknown sessions (-1).
func (d *nginxDriver) List(ctx context.Context) ([]ServerStatus, error) {
	if err := d.checkConfig(); err != nil {
		return nil, err
	}
	inc, _, _, err := d.read()
	if err != nil {
		return nil, err
	}
	var out []ServerStatus
	for _, s := range inc.Servers {
		st := StateUp
		switch s.State {
		case ngMaint:
			st = StateMaint
		case ngDrain:
			st = StateDrain
		}
		out = append(out, ServerStatus{Name: s.Name, Addr: s.Addr, State: st, Sessions: -1, Persisted: true})
	}
	return out, nil
}
