package lb

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/microdc/mdc/apperrors"
)

// Activities changes the load balancers of the platform's sites; register
// it with the worker of each site's task queue.
type Activities struct {
	sites map[string]Driver
}

// New returns the activities over one Driver per site, keyed by site name
// (built with NewHAProxy or NewNginx from the platform file).
func New(sites map[string]Driver) *Activities {
	m := make(map[string]Driver, len(sites))
	for k, v := range sites {
		m[k] = v
	}
	return &Activities{sites: m}
}

// driver returns the site's Driver, or BadInput naming the configured sites.
func (a *Activities) driver(site string) (Driver, error) {
	if d, ok := a.sites[site]; ok {
		return d, nil
	}
	names := make([]string, 0, len(a.sites))
	for k := range a.sites {
		names = append(names, k)
	}
	sort.Strings(names)
	return nil, apperrors.BadInput("unknown site %q: configured sites are %s", site, strings.Join(names, ", "))
}

// AddServerInput names the node to put behind the site's load balancer.
type AddServerInput struct {
	Site string
	Name string // server name, unique in the backend, e.g. "uk-web-3"
	Addr string // ip:port of the node's HTTP server
}

// AddServerResult says whether the server had to be added or changed.
type AddServerResult struct {
	Changed bool
}

// AddServer makes the server present, enabled and health-checked, and
// persists it so reloads and restarts keep it.
func (a *Activities) AddServer(ctx context.Context, in AddServerInput) (AddServerResult, error) {
	d, err := a.driver(in.Site)
	if err != nil {
		return AddServerResult{}, err
	}
	ch, err := d.Add(ctx, Server{Name: in.Name, Addr: in.Addr})
	return AddServerResult{Changed: ch}, err
}

// EnableServerInput names a server to put back in rotation.
type EnableServerInput struct {
	Site string
	Name string
}

// EnableServerResult says whether the server was out of rotation.
type EnableServerResult struct {
	Changed bool
}

// EnableServer takes a server out of maintenance or drain.
func (a *Activities) EnableServer(ctx context.Context, in EnableServerInput) (EnableServerResult, error) {
	d, err := a.driver(in.Site)
	if err != nil {
		return EnableServerResult{}, err
	}
	ch, err := d.Enable(ctx, in.Name)
	return EnableServerResult{Changed: ch}, err
}

// DrainServerInput names a server to drain and how long to wait.
type DrainServerInput struct {
	Site string
	Name string
	// Deadline is how long to wait for current sessions to end;
	// DefaultDrainDeadline if zero. Give the activity a StartToClose longer
	// than this and a heartbeat timeout of a few seconds.
	Deadline time.Duration
}

// DrainServerResult says what the drain did.
type DrainServerResult = DrainResult

// DrainServer stops new sessions to the server and waits, heartbeating,
// until its current ones end; past the deadline it fails with a retryable
// Timeout and leaves the server draining.
func (a *Activities) DrainServer(ctx context.Context, in DrainServerInput) (DrainServerResult, error) {
	d, err := a.driver(in.Site)
	if err != nil {
		return DrainServerResult{}, err
	}
	return d.Drain(ctx, in.Name, in.Deadline)
}

// MaintServerInput names a server to take out of rotation at once.
type MaintServerInput struct {
	Site string
	Name string
}

// MaintServerResult says whether the server was in rotation.
type MaintServerResult struct {
	Changed bool
}

// MaintServer puts the server in maintenance without waiting for sessions.
func (a *Activities) MaintServer(ctx context.Context, in MaintServerInput) (MaintServerResult, error) {
	d, err := a.driver(in.Site)
	if err != nil {
		return MaintServerResult{}, err
	}
	ch, err := d.Maint(ctx, in.Name)
	return MaintServerResult{Changed: ch}, err
}

// RemoveServerInput names a server to delete from the load balancer.
type RemoveServerInput struct {
	Site string
	Name string
}

// RemoveServerResult says whether there was anything to remove.
type RemoveServerResult struct {
	Changed bool
}

// RemoveServer deletes the server from the running balancer and the
// persisted configuration. Drain it first: on HAProxy a server that still
// has sessions is a retryable Conflict.
func (a *Activities) RemoveServer(ctx context.Context, in RemoveServerInput) (RemoveServerResult, error) {
	d, err := a.driver(in.Site)
	if err != nil {
		return RemoveServerResult{}, err
	}
	ch, err := d.Remove(ctx, in.Name)
	return RemoveServerResult{Changed: ch}, err
}

// ListServersInput names the site.
type ListServersInput struct {
	Site string
}

// ListServersResult is the site's servers in the balancer's order.
type ListServersResult struct {
	Servers []ServerStatus
}

// ListServers returns the servers of the site's backend with their state.
func (a *Activities) ListServers(ctx context.Context, in ListServersInput) (ListServersResult, error) {
	d, err := a.driver(in.Site)
	if err != nil {
		return ListServersResult{}, err
	}
	st, err := d.List(ctx)
	return ListServersResult{Servers: st}, err
}
