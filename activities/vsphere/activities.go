package vsphere

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/microdc/mdc/apperrors"
)

// SiteConfig is one site's vCenter, with its secrets already resolved.
type SiteConfig struct {
	// URL is the SDK endpoint, e.g. https://vc.uk.example/sdk, without credentials.
	URL string
	// Insecure skips TLS verification (self-signed lab certificates).
	Insecure bool
	// Username and Password log in; they never appear in errors or logs.
	Username, Password string
	// Datacenter is the datacenter's name; empty means the only one.
	Datacenter string
	// Cluster is the cluster's name; empty for a standalone ESXi host.
	Cluster string
	// Hosts may run new VMs (automatic placement); empty means every host.
	Hosts []string
	// Datastore new VMs and replicas are stored on.
	Datastore string
	// Network new NICs (of replicas) are attached to.
	Network string
	// Folder is the VM folder holding the site's VMs and templates, as an
	// inventory path (/DC0/vm/mdc) or relative to the datacenter's vm folder
	// (mdc); empty means the vm folder itself. Lookups search it recursively.
	Folder string
	// ResourcePool is an inventory path; empty means the cluster's root pool.
	ResourcePool string
}

// Activities are the vSphere activities of every site. Create it with New;
// it keeps one logged-in session per site, made on first use.
type Activities struct {
	sites map[string]*site
	names string // "uk, us": for unknown-site errors
}

// site is one configured site and its cached session.
type site struct {
	name string
	cfg  SiteConfig
	url  *url.URL // nil when cfg.URL does not parse; every call then fails with BadInput

	mu     sync.Mutex
	client *vim25.Client // logged in; nil until first use or after a lost session
}

// dialTimeout bounds the TCP connect and TLS handshake to a vCenter, so that
// a dead site fails fast even when the caller's deadline is far away.
const dialTimeout = 5 * time.Second

// New returns the activities of the given sites, keyed by site name. It
// does not connect: each site logs in on its first call.
func New(sites map[string]SiteConfig) *Activities {
	a := &Activities{sites: map[string]*site{}}
	names := make([]string, 0, len(sites))
	for name, cfg := range sites {
		s := &site{name: name, cfg: cfg}
		if u, err := url.Parse(cfg.URL); err == nil && u.Host != "" && u.User == nil {
			s.url = u
		}
		a.sites[name] = s
		names = append(names, name)
	}
	sort.Strings(names)
	a.names = strings.Join(names, ", ")
	return a
}

// Logout ends every site's session of a (a worker calls it on shutdown so
// that vCenter does not keep idle sessions until they time out). a can still
// be used: the next call logs in again. It is a function, not a method, so
// that registering a with a Temporal worker does not take it for an activity.
func Logout(ctx context.Context, a *Activities) {
	for _, s := range a.sites {
		s.mu.Lock()
		c := s.client
		s.client = nil
		s.mu.Unlock()
		if c != nil {
			_ = session.NewManager(c).Logout(ctx)
			c.CloseIdleConnections()
		}
	}
}

// site returns the named site, or BadInput naming the configured ones.
func (a *Activities) site(name string) (*site, error) {
	s, ok := a.sites[name]
	if !ok {
		return nil, apperrors.BadInput("unknown site %q: configured sites are %s", name, a.names)
	}
	if s.url == nil {
		shown := "(unparsable)"
		if u, err := url.Parse(s.cfg.URL); err == nil {
			shown = u.Redacted()
		}
		return nil, apperrors.BadInput("site %s: vCenter URL %s is not a valid URL without credentials, such as https://vc.example.com/sdk: fix the site's vcenter.url", s.name, shown)
	}
	return s, nil
}

// where names the site and its vCenter in messages.
func (s *site) where() string { return fmt.Sprintf("site %s (%s)", s.name, s.url.Redacted()) }

// do runs f with the site's session, logging in first if there is none.
// When vCenter says the session is no longer valid (it restarted, or the
// session timed out) it logs in again and runs f once more. Raw govmomi
// errors coming out of f are translated into typed errors (see classify).
func (s *site) do(ctx context.Context, what string, f func(c *vim25.Client) error) error {
	for attempt := 0; ; attempt++ {
		c, err := s.session(ctx)
		if err != nil {
			return err
		}
		err = f(c)
		if err == nil {
			return nil
		}
		if attempt == 0 && fault.Is(err, &types.NotAuthenticated{}) {
			s.drop(c)
			continue
		}
		return s.classify(ctx, what, err)
	}
}

// session returns the cached client, logging in when there is none. The
// login runs without the lock, so a caller with a short deadline is never
// stuck behind another caller's slow login; if two log in at once, the
// second session is logged out again.
func (s *site) session(ctx context.Context) (*vim25.Client, error) {
	s.mu.Lock()
	c := s.client
	s.mu.Unlock()
	if c != nil {
		return c, nil
	}
	c, err := s.login(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != nil {
		extra := c
		go func() {
			lctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
			defer cancel()
			_ = session.NewManager(extra).Logout(lctx)
			extra.CloseIdleConnections()
		}()
		return s.client, nil
	}
	s.client = c
	return c, nil
}

// drop forgets c if it is still the cached client, so the next call logs in.
func (s *site) drop(c *vim25.Client) {
	s.mu.Lock()
	if s.client == c {
		s.client = nil
	}
	s.mu.Unlock()
	c.CloseIdleConnections()
}

// login connects to the site's vCenter and logs in.
func (s *site) login(ctx context.Context) (*vim25.Client, error) {
	sc := soap.NewClient(s.url, s.cfg.Insecure)
	// soap's own TLS dialer ignores the context; this one honours it and
	// gives up on an unreachable address after dialTimeout.
	tlsConf := sc.DefaultTransport().TLSClientConfig.Clone()
	if tlsConf.ServerName == "" {
		tlsConf.ServerName = s.url.Hostname()
	}
	dialer := &tls.Dialer{NetDialer: &net.Dialer{Timeout: dialTimeout}, Config: tlsConf}
	sc.DefaultTransport().DialTLSContext = dialer.DialContext
	sc.DefaultTransport().DialContext = (&net.Dialer{Timeout: dialTimeout}).DialContext

	c, err := vim25.NewClient(ctx, sc)
	if err != nil {
		return nil, s.classify(ctx, "connect", err)
	}
	err = session.NewManager(c).Login(ctx, url.UserPassword(s.cfg.Username, s.cfg.Password))
	if err != nil {
		c.CloseIdleConnections()
		if fault.Is(err, &types.InvalidLogin{}) {
			return nil, apperrors.Auth("%s rejected the login of user %q: fix the site's vCenter username/password secrets (the password is not shown)", s.where(), s.cfg.Username)
		}
		return nil, s.classify(ctx, "log in", err)
	}
	return c, nil
}
