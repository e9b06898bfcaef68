package lab

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/microdc/mdc/lab/haproxy"
	"github.com/microdc/mdc/lab/mariadb"
	"github.com/microdc/mdc/lab/node"
	"github.com/microdc/mdc/lab/pdns"
	"github.com/microdc/mdc/lab/vcenter"
)

// Site is one lab site and its running components.
type Site struct {
	Name   string
	Index  int
	Region string
	Subnet string

	lab   *Lab
	dir   string
	mu    sync.Mutex
	alive bool

	vc    *vcenter.VCenter
	hap   *haproxy.HAProxy
	dns   *pdns.PDNS
	db    *mariadb.MariaDB
	nodes *node.Manager

	watchCancel context.CancelFunc
	watchDone   chan struct{}
}

const (
	serviceName = "web"
	backendName = "be_web"
	healthPath  = "/healthz"
	appDatabase = "mdc_app"
)

func newSite(l *Lab, i int, name string) *Site {
	return &Site{
		Name: name, Index: i, Region: regionDefaults[i].Name, Subnet: regionDefaults[i].Subnet,
		lab: l, dir: filepath.Join(l.opts.Dir, "sites", name),
	}
}

func (s *Site) plan() Plan            { return s.lab.opts.Plan }
func (s *Site) infraIP() string       { return s.plan().InfraIP(s.Index) }
func (s *Site) hostPort(p int) string { return net.JoinHostPort(s.infraIP(), strconv.Itoa(p)) }
func (s *Site) dbAddr() string        { return s.hostPort(s.plan().DBPort) }
func (s *Site) vcAddr() string        { return s.hostPort(s.plan().VCenterPort) }
func (s *Site) runtimeAPI() string    { return s.hostPort(s.plan().HAProxyAPIPort) }
func (s *Site) dnsAddr() string       { return s.hostPort(s.plan().DNSPort) }
func (s *Site) pdnsAPIAddr() string   { return s.hostPort(s.plan().PDNSAPIPort) }
func (s *Site) frontend() string {
	return net.JoinHostPort(s.plan().FrontendIP(s.Index), strconv.Itoa(s.plan().ServicePort))
}

func (s *Site) appDSN() string {
	return mariadb.DSN("mdc_app", s.lab.sec.DBAppPassword, s.dbAddr(), appDatabase)
}

// start brings the site's components up in dependency order: the database
// (nodes write to it), vCenter and the nodes of its powered-on VMs, DNS, and
// the load balancer last because its first configuration lists those nodes.
func (s *Site) start(ctx context.Context) error {
	sec := s.lab.sec
	t0 := time.Now()
	if err := s.startDB(ctx); err != nil {
		return err
	}
	vc, err := vcenter.Start(ctx, vcenter.Options{
		Site: s.Name, Addr: s.vcAddr(), Username: sec.VCenterUser, Password: sec.VCenterPassword,
		StateFile: filepath.Join(s.dir, "vcenter.json"), Service: serviceName,
		Template: "web-template", Snapshot: "golden", InitialWeb: s.lab.opts.InitialWeb,
	})
	if err != nil {
		return fmt.Errorf("site %s: vcenter: %w", s.Name, err)
	}
	s.vc = vc
	nodes, err := node.NewManager(node.ManagerOptions{
		Site: s.Name, IPs: func(n int) string { return s.plan().NodeIP(s.Index, n) }, MaxNodes: MaxNodes,
		HTTPPort: s.plan().ServicePort, SNMPPort: s.plan().SNMPPort, Community: sec.SNMPCommunity,
		HealthPath: healthPath, DSN: s.appDSN(), Reporter: vc,
		AllocFile: filepath.Join(s.dir, "nodes.json"), Logger: s.lab.log,
	})
	if err != nil {
		return fmt.Errorf("site %s: nodes: %w", s.Name, err)
	}
	s.nodes = nodes
	if err := s.startWatch(ctx); err != nil {
		return err
	}
	if err := s.startDNS(ctx); err != nil {
		return err
	}
	if err := s.startHAProxy(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	s.alive = true
	s.mu.Unlock()
	s.lab.log.Info("site up", "site", s.Name, "took", time.Since(t0).Round(time.Millisecond))
	return nil
}

func (s *Site) startDB(ctx context.Context) error {
	sec := s.lab.sec
	db, err := mariadb.Start(ctx, mariadb.Options{
		Dir: filepath.Join(s.dir, "mariadb"), Addr: s.dbAddr(), ServerID: uint32(s.Index + 1), Database: appDatabase,
		Users: mariadb.Users{
			AdminUser: "mdc_admin", AdminPassword: sec.DBAdminPassword,
			AppUser: "mdc_app", AppPassword: sec.DBAppPassword,
			ReplUser: "mdc_repl", ReplPassword: sec.DBReplPassword,
		},
	})
	if err != nil {
		return fmt.Errorf("site %s: mariadb: %w", s.Name, err)
	}
	s.db = db
	if s.lab.wasWritable(s.Name) {
		if err := db.MakePrimary(ctx); err != nil {
			return fmt.Errorf("site %s: make the database writable again: %w", s.Name, err)
		}
	}
	return nil
}

func (s *Site) startDNS(ctx context.Context) error {
	d, err := pdns.Start(ctx, pdns.Options{
		Dir: filepath.Join(s.dir, "pdns"), DNSAddr: s.dnsAddr(), APIAddr: s.pdnsAPIAddr(), APIKey: s.lab.sec.PDNSAPIKey,
	})
	if err != nil {
		return fmt.Errorf("site %s: powerdns: %w", s.Name, err)
	}
	s.dns = d
	return nil
}

func (s *Site) startHAProxy(ctx context.Context) error {
	var servers []haproxy.Server
	for _, n := range s.nodes.Nodes() {
		if !n.Running {
			continue
		}
		servers = append(servers, haproxy.Server{Name: n.Name, Addr: net.JoinHostPort(n.IP, strconv.Itoa(s.plan().ServicePort))})
	}
	h, err := haproxy.Start(ctx, haproxy.Options{
		Dir: filepath.Join(s.dir, "haproxy"), RuntimeAPI: s.runtimeAPI(), Frontend: s.frontend(),
		Backend: backendName, HealthPath: healthPath, Servers: servers,
	})
	if err != nil {
		return fmt.Errorf("site %s: haproxy: %w", s.Name, err)
	}
	s.hap = h
	return nil
}

// startWatch follows the site's VMs in vCenter and runs a node for every
// powered-on web VM. It returns once the initial states were handled, so
// the nodes of the VMs that were on are serving when start returns.
func (s *Site) startWatch(ctx context.Context) error {
	wctx, cancel := context.WithCancel(context.Background())
	s.watchCancel, s.watchDone = cancel, make(chan struct{})
	initial := make(chan struct{})
	var once sync.Once
	go func() {
		defer close(s.watchDone)
		err := s.vc.Watch(wctx, func(st vcenter.VMState) {
			if st.Name == "" {
				// An empty state marks the end of the initial listing.
				once.Do(func() { close(initial) })
				return
			}
			ev := node.VMEvent{Name: st.Name, Ref: st.Ref, Role: st.Tags["mdc.role"], Service: st.Tags["mdc.service"], PoweredOn: st.PoweredOn, Deleted: st.Deleted}
			if err := s.nodes.Handle(wctx, ev); err != nil {
				s.lab.log.Warn("web node did not follow its VM", "site", s.Name, "vm", st.Name, "err", err)
			}
		})
		if err != nil && wctx.Err() == nil {
			s.lab.log.Error("vCenter watch ended", "site", s.Name, "err", err)
		}
		once.Do(func() { close(initial) })
	}()
	select {
	case <-initial:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("site %s: waiting for the web nodes of powered-on VMs: %w", s.Name, ctx.Err())
	}
}

func (s *Site) publishDNS(ctx context.Context) error {
	zone := s.lab.opts.Zone
	if err := s.dns.EnsureZone(ctx, zone, "ns1."+zone); err != nil {
		return fmt.Errorf("site %s: create DNS zone %s: %w", s.Name, zone, err)
	}
	var answers []pdns.GeoAnswer
	for _, o := range s.lab.sites {
		answers = append(answers, pdns.GeoAnswer{Subnets: []string{o.Subnet}, IP: o.plan().FrontendIP(o.Index)})
	}
	fallback := s.lab.sites[0].plan().FrontendIP(0)
	if err := s.dns.SetGeoA(ctx, zone, "www."+zone, 60, answers, fallback); err != nil {
		return fmt.Errorf("site %s: publish www.%s: %w", s.Name, zone, err)
	}
	return nil
}

// kill stops every component at once, as a power cut would; on-disk state
// (datadir, configs, inventory) is kept for revive.
func (s *Site) kill() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.alive {
		return &alreadyError{fmt.Sprintf("site %s is already down; bring it back with `mdc lab revive-site %s`", s.Name, s.Name)}
	}
	s.stopLocked(true)
	s.alive = false
	return nil
}

func (s *Site) stop(abrupt bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked(abrupt)
	if s.vc != nil {
		s.boundedVC("close", s.vc.Close)
	}
	s.alive = false
}

func (s *Site) stopLocked(abrupt bool) {
	if s.alive {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		s.lab.recordWritable(ctx, s)
		cancel()
	}
	if s.watchCancel != nil {
		s.watchCancel()
		<-s.watchDone
		s.watchCancel = nil
	}
	if s.nodes != nil {
		s.nodes.StopAll()
	}
	if s.vc != nil {
		s.boundedVC("stop", s.vc.Stop)
	}
	for _, c := range []interface {
		Kill()
		Stop() error
	}{s.hap, s.dns, s.db} {
		if isNil(c) {
			continue
		}
		if abrupt {
			c.Kill()
		} else {
			_ = c.Stop()
		}
	}
}

// revive restarts the site's components from their on-disk state.
func (s *Site) revive(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.alive {
		return &alreadyError{fmt.Sprintf("site %s is already up; nothing to revive", s.Name)}
	}
	if err := s.vc.Revive(ctx); err != nil {
		return fmt.Errorf("site %s: revive vcenter: %w", s.Name, err)
	}
	if err := s.startDB(ctx); err != nil {
		return err
	}
	if err := s.startDNS(ctx); err != nil {
		return err
	}
	if err := s.startWatch(ctx); err != nil {
		return err
	}
	if err := s.startHAProxy(ctx); err != nil {
		return err
	}
	s.alive = true
	return nil
}

// Alive reports whether the site is up (not killed).
func (s *Site) Alive() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.alive
}

// isNil reports whether a component interface holds a nil pointer (a
// component that never started).
func isNil(c interface{ Kill() }) bool {
	switch v := c.(type) {
	case *haproxy.HAProxy:
		return v == nil
	case *pdns.PDNS:
		return v == nil
	case *mariadb.MariaDB:
		return v == nil
	}
	return c == nil
}

// vcStopTimeout bounds stopping a site's vCenter simulator. vcsim can
// deadlock internally (a property-filter update against object locks held
// by concurrent clone tasks); a wedged simulator must not wedge Ctrl-C or a
// kill-site. Its inventory file then keeps the last background save.
const vcStopTimeout = 5 * time.Second

func (s *Site) boundedVC(what string, fn func()) {
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(vcStopTimeout):
		s.lab.log.Error("vCenter simulator did not "+what+" in time; going on without it (its saved inventory may miss the last changes)",
			"site", s.Name, "after", vcStopTimeout)
	}
}
