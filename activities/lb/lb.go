// Package lb holds the load-balancer activities: add a web node to a site's
// load balancer, enable it, drain it, put it in maintenance, remove it, and
// list what the balancer serves. Each site's balancer is reached through a
// Driver: HAProxy over its runtime API (changes are live at once and
// persisted in the backend's config file so reloads and restarts keep them),
// or nginx OSS through a generated upstream include that is validated with
// `nginx -t` and applied with a reload.
//
// Workflows use the operations in this order:
//
//   - ScaleOut / ProvisionSite: AddServer once the node is healthy (adds the
//     server enabled, with health checks on).
//   - ScaleIn / DrainHost: DrainServer (no new sessions; waits for the
//     current ones up to a deadline, heartbeating), then RemoveServer, then
//     power the VM off.
//   - Maintenance: MaintServer to take a node out at once, EnableServer to
//     put it back.
//   - Verification and operators: ListServers.
//
// Every operation is idempotent and reports whether it changed anything.
// Errors are typed with package apperrors: bad input, an unknown server
// (NotFound), a refused change (Rejected) and a stuck drain (Timeout) are
// told apart from a balancer that is down or slow (Unavailable, retryable).
package lb

import (
	"context"
	"net/netip"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/microdc/mdc/apperrors"
	"github.com/microdc/mdc/haproxyapi"
)

// Driver changes one site's load balancer. Every method is idempotent and
// returns typed apperrors errors.
type Driver interface {
	// Add makes the server present with this address and enabled (ready,
	// weight restored, health checks on), and persists it.
	Add(ctx context.Context, s Server) (changed bool, err error)
	// Enable takes an existing server out of maintenance or drain.
	Enable(ctx context.Context, name string) (bool, error)
	// Drain stops new sessions to the server and waits until its current
	// sessions end or the deadline passes (apperrors.Timeout).
	Drain(ctx context.Context, name string, deadline time.Duration) (DrainResult, error)
	// Maint takes the server out of rotation at once.
	Maint(ctx context.Context, name string) (bool, error)
	// Remove deletes the server from the running balancer and from the
	// persisted configuration; removing an absent server changes nothing.
	Remove(ctx context.Context, name string) (bool, error)
	// List returns the servers of the site's backend (upstream).
	List(ctx context.Context) ([]ServerStatus, error)
}

// Server is a web node to put behind the load balancer.
type Server struct {
	Name string // unique within the backend: letters, digits, _ . : -
	Addr string // ip:port of the node's HTTP server
}

// Server states as reported by List.
const (
	StateUp    = "UP"    // takes new sessions (nginx: configured up; it has no active checks)
	StateDown  = "DOWN"  // enabled but failing health checks (HAProxy only)
	StateMaint = "MAINT" // administratively out of rotation
	StateDrain = "DRAIN" // no new sessions; current ones may finish
	// StateMissing: persisted in the backend's config file but not in the
	// running HAProxy; the next reload or restart brings it back.
	StateMissing = "MISSING"
)

// ServerStatus is one server as the load balancer sees it.
type ServerStatus struct {
	Name  string
	Addr  string
	State string // one of the State* constants
	// Sessions currently on the server (plus requests queued for it);
	// -1 where the balancer cannot tell (nginx OSS).
	Sessions int
	// Persisted says the server is in the persisted configuration, so a
	// reload or restart keeps it.
	Persisted bool
}

// DrainResult says what a drain did.
type DrainResult struct {
	// Changed is false if the server was already draining or in maintenance.
	Changed bool
	// Sessions left when the wait ended: 0 unless the drain timed out.
	// nginx cannot count a server's sessions: there it is the number of
	// workers of the previous configuration still running, or -1 without a
	// pid file.
	Sessions int
	// Waited is how long the drain waited for sessions to end.
	Waited time.Duration
}

// DrainProgress is the heartbeat detail of a drain, so a retried attempt
// (and the Web UI) can see how far it got.
type DrainProgress struct {
	Server   string
	Sessions int
	Waited   time.Duration
}

// DefaultDrainDeadline is used when a drain is asked for without one: long
// enough for ordinary web requests, short enough to notice a stuck client.
const DefaultDrainDeadline = time.Minute

// validateName rejects names the balancers cannot take; the character set
// is HAProxy's, and it also keeps nginx's generated comments unambiguous.
func validateName(site, name string) error {
	if name == "" {
		return apperrors.BadInput("site %s: server name is empty: give the node's name, such as web-3", site)
	}
	if len(name) > 64 || !haproxyapi.NameRE.MatchString(name) {
		return apperrors.BadInput("site %s: server name %q is invalid: use at most 64 letters, digits, _ . : - and no spaces", site, name)
	}
	return nil
}

// canonicalAddr checks that addr is an IP literal and a port (both
// balancers need an address they can use without DNS) that a node can have,
// and returns it in canonical form, which is how HAProxy reports it.
func canonicalAddr(site, name, addr string) (string, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || ap.Port() == 0 {
		return "", apperrors.BadInput("site %s: server %s address %q is invalid: want ip:port with a port from 1 to 65535, such as 127.1.0.10:8080", site, name, addr)
	}
	if ip := ap.Addr(); ip.IsUnspecified() || ip.IsMulticast() || ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return "", apperrors.BadInput("site %s: server %s address %q is not a node's address (unspecified, multicast or broadcast): want the node's ip:port", site, name, addr)
	}
	return ap.String(), nil
}

// validateServer checks a server to add and returns it with its address
// in canonical form.
func validateServer(site string, s Server) (Server, error) {
	if err := validateName(site, s.Name); err != nil {
		return s, err
	}
	addr, err := canonicalAddr(site, s.Name, s.Addr)
	s.Addr = addr
	return s, err
}

// drainDeadline resolves the requested deadline against ctx: a drain
// returns its own Timeout error shortly before the activity's own deadline
// rather than being cut off without a result.
func drainDeadline(ctx context.Context, site, name string, d time.Duration) (time.Time, error) {
	if d < 0 {
		return time.Time{}, apperrors.BadInput("site %s: drain of %s: deadline %v is negative", site, name, d)
	}
	if d == 0 {
		d = DefaultDrainDeadline
	}
	end := time.Now().Add(d)
	if dl, ok := ctx.Deadline(); ok {
		if margin := dl.Add(-200 * time.Millisecond); margin.Before(end) {
			end = margin
		}
	}
	return end, nil
}

// heartbeat records drain progress when running as an activity; called
// directly (tests, CLI) there is nothing to record to.
func heartbeat(ctx context.Context, p DrainProgress) {
	if activity.IsActivity(ctx) {
		activity.RecordHeartbeat(ctx, p)
	}
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// unavailable wraps a failure to reach the balancer as a retryable error;
// the cause (shown after the message) says what failed.
func unavailable(err error, site, what string) error {
	return apperrors.Unavailable(err, "site %s: %s: retry once the load balancer answers", site, what)
}
