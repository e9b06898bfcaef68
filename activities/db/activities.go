package db

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"go.temporal.io/sdk/activity"

	"github.com/microdc/mdc/apperrors"
)

// Default client timeouts, used when a site's DSN sets none. A dead site
// must fail an activity in seconds, well inside its StartToClose timeout,
// so the workflow can fence traffic instead.
const (
	DefaultDialTimeout  = 2 * time.Second
	DefaultReadTimeout  = 5 * time.Second
	DefaultWriteTimeout = 5 * time.Second
)

// defaultOpTimeout bounds an operation whose ctx has no deadline (direct
// calls from tests and tools); inside an activity the StartToClose timeout
// applies instead.
const defaultOpTimeout = time.Minute

// probeTimeout bounds looking at another site (the primary, or a peer that
// must not be writable): a dead site must not stall a promotion.
const probeTimeout = 2 * time.Second

// SiteConfig is how the activities reach one site's database, resolved from
// the platform file by the worker (secrets already resolved).
type SiteConfig struct {
	// Address is the ip:port (or host:port) where the other sites' replicas
	// reach this site's server: Repoint uses it as MASTER_HOST/MASTER_PORT.
	Address string
	// DSN is the go-sql-driver/mysql DSN of the admin account (a secret),
	// without a database: the admin account has no rights on any.
	DSN string
	// ReplicationUser and ReplicationPassword (a secret) are what this
	// site's server logs in with when it replicates from another site.
	ReplicationUser, ReplicationPassword string
}

// String keeps the DSN and password out of anything that prints a SiteConfig.
func (c SiteConfig) String() string {
	return fmt.Sprintf("{Address:%s DSN:<redacted> ReplicationUser:%s ReplicationPassword:<redacted>}", c.Address, c.ReplicationUser)
}

// GoString keeps the secrets out of %#v as well.
func (c SiteConfig) GoString() string { return "db.SiteConfig" + c.String() }

// site is one configured site with its connection pool.
type site struct {
	name    string
	cfg     SiteConfig
	host    string // from Address
	port    int
	pool    *sql.DB
	user    string        // admin user, for messages
	read    time.Duration // the DSN's read timeout, bounding single waits
	secrets []string      // scrubbed from every error
	bad     string        // why the configuration is unusable ("" if fine)
}

// Activities manages the sites' databases for workflows; register it with
// every site's worker (it holds the configuration of all sites, since a
// promotion looks at the old primary and a repoint at the new one).
type Activities struct {
	sites map[string]*site
}

// New returns the activities over sites, keyed by site name, with one
// connection pool per site. It does not connect: a site that is down at
// start-up only fails the operations that touch it. A site whose
// configuration is unusable (DSN that does not parse, bad Address) fails
// its operations with BadInput.
func New(sites map[string]SiteConfig) *Activities {
	a := &Activities{sites: make(map[string]*site, len(sites))}
	for name, c := range sites {
		a.sites[name] = newSite(name, c)
	}
	return a
}

func newSite(name string, c SiteConfig) *site {
	s := &site{name: name, cfg: c, read: DefaultReadTimeout}
	s.secrets = []string{c.ReplicationPassword, c.DSN}
	host, portStr, err := net.SplitHostPort(c.Address)
	port, perr := strconv.Atoi(portStr)
	switch {
	case err != nil || host == "":
		s.bad = fmt.Sprintf("Address %q is not host:port", c.Address)
		return s
	case perr != nil || port <= 0 || port > 65535:
		s.bad = fmt.Sprintf("Address %q has a bad port", c.Address)
		return s
	}
	s.host, s.port = host, port
	cfg, err := mysql.ParseDSN(c.DSN)
	if err != nil {
		// The driver's message can quote parts of the DSN, and which part
		// is the password is unknown when it does not parse: scrub every
		// piece of it.
		pieces := strings.FieldsFunc(c.DSN, func(r rune) bool { return strings.ContainsRune(":@/?&=()", r) })
		s.bad = "admin DSN does not parse: " + scrub(err.Error(), append(pieces, s.secrets...))
		return s
	}
	s.secrets = append(s.secrets, cfg.Passwd)
	s.user = cfg.User
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultDialTimeout
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	s.read = cfg.ReadTimeout
	// The driver prints pool housekeeping ("closing bad idle connection")
	// to stderr when a site dies; the activities report failures in their
	// errors, and stray stderr lines only confuse the operator's logs.
	cfg.Logger = &mysql.NopLogger{}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		s.bad = "admin DSN is unusable: " + scrub(err.Error(), s.secrets)
		return s
	}
	s.pool = sql.OpenDB(conn)
	// A few connections suffice: activities run one statement at a time,
	// and a small pool keeps a flapping site from piling up sessions.
	s.pool.SetMaxOpenConns(4)
	s.pool.SetMaxIdleConns(2)
	s.pool.SetConnMaxLifetime(5 * time.Minute)
	return s
}

// Close closes every site's connection pool when the worker stops. It is a
// function, not a method, because the worker registers every exported
// method of Activities as an activity.
func Close(a *Activities) error {
	for _, s := range a.sites {
		if s.pool != nil {
			_ = s.pool.Close()
		}
	}
	return nil
}

// site returns the named site, or BadInput naming the configured sites.
func (a *Activities) site(name string) (*site, error) {
	s, ok := a.sites[name]
	if !ok {
		return nil, apperrors.BadInput("unknown site %q: configured sites are %s", name, strings.Join(slices.Sorted(maps.Keys(a.sites)), ", "))
	}
	if s.bad != "" {
		return nil, apperrors.BadInput("site %s: database configuration is unusable: %s; fix it in the platform file", name, s.bad)
	}
	return s, nil
}

// siteAt returns the configured site whose Address is host:port, or nil.
func (a *Activities) siteAt(host string, port int) *site {
	for _, name := range slices.Sorted(maps.Keys(a.sites)) {
		s := a.sites[name]
		if s.bad == "" && s.port == port && sameHost(s.host, host) {
			return s
		}
	}
	return nil
}

func sameHost(a, b string) bool {
	if ia, ib := net.ParseIP(a), net.ParseIP(b); ia != nil && ib != nil {
		return ia.Equal(ib)
	}
	return strings.EqualFold(a, b)
}

// where names the site's server in messages: "site uk (127.1.0.1:3306)".
func (s *site) where() string { return fmt.Sprintf("site %s (%s)", s.name, s.cfg.Address) }

// withTimeout gives ctx a deadline when it has none.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// heartbeat records progress when running inside an activity, so the
// methods stay callable directly.
func heartbeat(ctx context.Context, details ...any) {
	if activity.IsActivity(ctx) {
		activity.RecordHeartbeat(ctx, details...)
	}
}

// sleepCtx waits d or until ctx ends, reporting whether the wait completed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
