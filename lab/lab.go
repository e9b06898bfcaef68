package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// Options configure a lab.
type Options struct {
	// Dir keeps the lab's state (inventories, datadirs, configs, secrets)
	// so that a second start reuses it.
	Dir string
	// Sites are the site names; the first holds the primary database.
	Sites []string
	// Plan is the address plan; DefaultPlan() when zero.
	Plan Plan
	// Zone served by PowerDNS, fully qualified.
	Zone string
	// InitialWeb is the number of web VMs each site starts with.
	InitialWeb int
	Logger     *slog.Logger
}

// DefaultOptions is the lab of `mdc dev`: uk (primary) and us.
func DefaultOptions(dir string) Options {
	return Options{Dir: dir, Sites: []string{"uk", "us"}, Plan: DefaultPlan(), Zone: "mdc.test.", InitialWeb: 2}
}

// regionOf gives site i a region and the client subnets that belong to it.
// The subnets are documentation ranges: they only ever appear inside EDNS
// client-subnet options, never as traffic destinations.
var regionDefaults = []struct {
	Name   string
	Subnet string
}{{"eu", "192.0.2.0/24"}, {"na", "198.51.100.0/24"}, {"ap", "203.0.113.0/24"}}

// Lab is a running multi-site lab.
type Lab struct {
	opts    Options
	sec     *secrets
	sites   []*Site
	byName  map[string]*Site
	log     *slog.Logger
	mu      sync.Mutex
	state   labState
	control *controlServer
}

type labState struct {
	// Initialised is set once replication, DNS zones and LB backends were
	// provisioned; later starts leave them to the workflows that own them.
	Initialised bool `json:"initialised"`
	// Writable records, per site, whether its database took writes when the
	// site last went down. Every MariaDB instance starts read-only (so a
	// fenced primary cannot take writes by restarting); the lab restores
	// what was writable, because a lab restart is not a failover.
	Writable map[string]bool `json:"writable"`
}

// recordWritable notes whether site's database is writable; called just
// before the site stops.
func (l *Lab) recordWritable(ctx context.Context, s *Site) {
	if s.db == nil {
		return
	}
	ro, err := s.db.ReadOnly(ctx)
	if err != nil {
		l.log.Warn("cannot tell whether the database is writable; it will come back read-only", "site", s.Name, "err", err)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.state.Writable == nil {
		l.state.Writable = map[string]bool{}
	}
	l.state.Writable[s.Name] = !ro
	if err := writeJSON(filepath.Join(l.opts.Dir, "lab.json"), l.state); err != nil {
		l.log.Warn("cannot save lab state", "err", err)
	}
}

// wasWritable reports whether site's database should be made writable on start.
func (l *Lab) wasWritable(name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.state.Writable[name]
}

// Start brings every site up (in parallel) and writes the platform file.
func Start(ctx context.Context, o Options) (*Lab, error) {
	if o.Plan == (Plan{}) {
		o.Plan = DefaultPlan()
	}
	if len(o.Sites) == 0 {
		o.Sites = []string{"uk", "us"}
	}
	if len(o.Sites) > len(regionDefaults) {
		return nil, fmt.Errorf("the lab supports at most %d sites, got %d", len(regionDefaults), len(o.Sites))
	}
	if o.Zone == "" {
		o.Zone = "mdc.test."
	}
	if o.InitialWeb == 0 {
		o.InitialWeb = 2
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create lab state dir: %w", err)
	}
	sec, err := loadSecrets(o.Dir)
	if err != nil {
		return nil, err
	}
	l := &Lab{opts: o, sec: sec, byName: map[string]*Site{}, log: o.Logger}
	if err := readJSON(filepath.Join(o.Dir, "lab.json"), &l.state); err != nil {
		return nil, err
	}
	for i, name := range o.Sites {
		s := newSite(l, i, name)
		l.sites = append(l.sites, s)
		l.byName[name] = s
	}
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	for _, s := range l.sites {
		g.Go(func() error { return s.start(gctx) })
	}
	if err := g.Wait(); err != nil {
		l.Stop()
		return nil, err
	}
	if !l.state.Initialised {
		if err := l.initialise(ctx); err != nil {
			l.Stop()
			return nil, err
		}
		l.state.Initialised = true
		l.state.Writable = map[string]bool{l.sites[0].Name: true}
		if err := writeJSON(filepath.Join(o.Dir, "lab.json"), l.state); err != nil {
			l.Stop()
			return nil, err
		}
	}
	if err := l.WriteFiles(); err != nil {
		l.Stop()
		return nil, err
	}
	l.log.Info("lab ready", "sites", strings.Join(o.Sites, ","), "took", time.Since(start).Round(time.Millisecond))
	return l, nil
}

// initialise provisions what only the first start does: the database
// replication topology and the DNS records. After that they belong to the
// platform (failover moves them) and a restart must not undo that.
func (l *Lab) initialise(ctx context.Context) error {
	primary := l.sites[0]
	if err := primary.db.MakePrimary(ctx); err != nil {
		return fmt.Errorf("site %s: make database primary: %w", primary.Name, err)
	}
	for _, s := range l.sites[1:] {
		if err := s.db.MakeReplicaOf(ctx, primary.dbAddr(), "mdc_repl", l.sec.DBReplPassword); err != nil {
			return fmt.Errorf("site %s: make database a replica of %s: %w", s.Name, primary.Name, err)
		}
	}
	for _, s := range l.sites {
		if err := s.publishDNS(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Stop stops every site and the control API; state stays on disk.
func (l *Lab) Stop() {
	if l.control != nil {
		l.control.stop()
	}
	var wg sync.WaitGroup
	for _, s := range l.sites {
		wg.Add(1)
		go func() { defer wg.Done(); s.stop(false) }()
	}
	wg.Wait()
}

// Site returns the named site.
func (l *Lab) Site(name string) (*Site, error) {
	s, ok := l.byName[name]
	if !ok {
		return nil, &UnknownSiteError{Name: name, Known: l.opts.Sites}
	}
	return s, nil
}

// UnknownSiteError names the site asked for and the ones that exist.
type UnknownSiteError struct {
	Name  string
	Known []string
}

func (e *UnknownSiteError) Error() string {
	return fmt.Sprintf("unknown site %q: the lab has %s", e.Name, strings.Join(e.Known, ", "))
}

// KillSite stops everything at a site at once, as a power cut would.
func (l *Lab) KillSite(ctx context.Context, name string) error {
	s, err := l.Site(name)
	if err != nil {
		return err
	}
	return s.kill()
}

// ReviveSite brings a killed site back with the state it had.
func (l *Lab) ReviveSite(ctx context.Context, name string) error {
	s, err := l.Site(name)
	if err != nil {
		return err
	}
	return s.revive(ctx)
}

// SetLoad sets a web node's 1-minute load average as its SNMP agent reports it.
func (l *Lab) SetLoad(node string, load float64) error {
	if load < 0 || load > 1000 {
		return fmt.Errorf("load %v out of range: give a load average between 0 and 1000", load)
	}
	var known []string
	for _, s := range l.sites {
		for _, n := range s.nodes.Nodes() {
			if n.Name == node {
				return s.nodes.SetLoad(node, load)
			}
			known = append(known, n.Name)
		}
	}
	sort.Strings(known)
	if len(known) == 0 {
		return fmt.Errorf("unknown node %q: no web node is running", node)
	}
	return fmt.Errorf("unknown node %q: running nodes are %s", node, strings.Join(known, ", "))
}

// Dir is the lab's state directory.
func (l *Lab) Dir() string { return l.opts.Dir }

// Plan is the lab's address plan.
func (l *Lab) Plan() Plan { return l.opts.Plan }

// Sites lists the sites in order.
func (l *Lab) Sites() []*Site { return l.sites }

// errAlready matches (errors.Is) a kill of a dead site or a revive of a live one.
var errAlready = errors.New("site already in that state")

// alreadyError says which site is already in which state and what to do.
type alreadyError struct{ msg string }

func (e *alreadyError) Error() string        { return e.msg }
func (e *alreadyError) Is(target error) bool { return target == errAlready }
