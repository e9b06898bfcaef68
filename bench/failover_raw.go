package bench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"sync"
	"time"

	_ "github.com/go-sql-driver/mysql" // the MariaDB driver the db activities use
	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"

	"github.com/microdc/mdc/dnsquery"
	"github.com/microdc/mdc/haproxyapi"
	"github.com/microdc/mdc/pdnsapi"
	"github.com/microdc/mdc/platform"
	"github.com/microdc/mdc/workflows"
)

// rawSteps are the raw actions of a disaster failover, step by step, in
// the order and with the concurrency FailoverSite uses, made directly with
// the components' clients (govmomi, database/sql, the PowerDNS API client,
// HAProxy's runtime API, DNS queries, HTTP): no Temporal, no activity
// layer, no retries. Their sum is the floor an orchestrated failover is
// compared with.
var rawSteps = []string{"confirm", "fence", "promote", "capacity", "switch LB", "verify"}

// rawFailover holds the target site's clients, connected before the clock
// starts: a worker's are warm too.
type rawFailover struct {
	s              *stack
	failed, target *platform.Site
	targetIP       string
	vc             *govmomi.Client
	db             *sql.DB
	// failedDSN is the failed site's admin DSN: fencing and the promotion's
	// peer check try it, and it refuses.
	failedDSN string
	pdns      map[string][]*pdnsapi.Client
	svc       platform.Service
	answers   []pdnsapi.GeoAnswer
	subnets   []string
}

func newRawFailover(ctx context.Context, s *stack, failed, target string) (*rawFailover, error) {
	r := &rawFailover{s: s, failed: s.site(failed), target: s.site(target), pdns: map[string][]*pdnsapi.Client{}, svc: s.p.Services[0]}
	host, _, err := net.SplitHostPort(r.target.LB.Frontend)
	if err != nil {
		return nil, err
	}
	r.targetIP = host
	env := s.Lab.Lookup
	user, pass, err := s.p.VCenterCredentials(target, env)
	if err != nil {
		return nil, err
	}
	u, err := soap.ParseURL(r.target.VCenter.URL)
	if err != nil {
		return nil, err
	}
	u.User = url.UserPassword(user, pass)
	if r.vc, err = govmomi.NewClient(ctx, u, true); err != nil {
		return nil, fmt.Errorf("log in to %s's vCenter: %w", target, err)
	}
	dsn, err := s.p.DatabaseDSN(target, env)
	if err != nil {
		return nil, err
	}
	if r.db, err = sql.Open("mysql", dsn); err != nil {
		return nil, err
	}
	if err := r.db.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("connect to %s's database: %w", target, err)
	}
	if r.failedDSN, err = s.p.DatabaseDSN(failed, env); err != nil {
		return nil, err
	}
	for _, site := range s.p.Sites {
		for i, d := range site.DNS.Servers {
			key, err := s.p.DNSAPIKey(site.Name, i, env)
			if err != nil {
				return nil, err
			}
			r.pdns[site.Name] = append(r.pdns[site.Name], pdnsapi.NewClient(d.APIURL, key, pdnsapi.WithServerID(d.ServerID), pdnsapi.WithTimeout(2*time.Second)))
		}
	}
	for _, name := range sortedRegions(s.p) {
		reg := s.p.Regions[name]
		r.answers = append(r.answers, pdnsapi.GeoAnswer{Region: name, Subnets: reg.Subnets, IP: r.targetIP})
		r.subnets = append(r.subnets, reg.Subnets...)
	}
	return r, nil
}

func (r *rawFailover) close() {
	_ = r.vc.Logout(context.Background())
	_ = r.db.Close()
}

func sortedRegions(p *platform.Platform) []string {
	var names []string
	for n := range p.Regions {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// run makes the raw actions once; the failed site must be dead already.
func (r *rawFailover) run(ctx context.Context) (map[string]time.Duration, time.Duration, error) {
	took := map[string]time.Duration{}
	steps := map[string]func(context.Context) error{
		"confirm": r.confirm, "fence": r.fence, "promote": r.promote,
		"capacity": r.capacity, "switch LB": r.switchLB, "verify": r.verify,
	}
	t0 := time.Now()
	for _, name := range rawSteps {
		t := time.Now()
		if err := steps[name](ctx); err != nil {
			return nil, 0, fmt.Errorf("raw %s: %w", name, err)
		}
		took[name] = time.Since(t)
	}
	return took, time.Since(t0), nil
}

// all runs fns at once and returns their errors joined.
func all(fns ...func() error) error {
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() { errs[i] = fn() })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// confirm probes the failed site's front end, runtime API, DNS servers and
// database at once, as ProbeSite does (1 s each); every one must refuse.
func (r *rawFailover) confirm(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	answered := func(what string, err error) error {
		if err == nil {
			return fmt.Errorf("%s answered: the site is not down", what)
		}
		return nil
	}
	dial := func(addr string) error {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
		}
		return answered(addr, err)
	}
	fns := []func() error{
		func() error {
			_, _, err := get(ctx, "http://"+r.failed.LB.Frontend+"/")
			return answered("front end", err)
		},
		func() error { return dial(r.failed.LB.RuntimeAPI) },
		func() error { return dial(r.failed.Database.Address) },
	}
	for _, d := range r.failed.DNS.Servers {
		fns = append(fns, func() error {
			_, err := dnsquery.A(ctx, d.Address, r.svc.DNSRecord, netip.Prefix{})
			return answered("DNS "+d.Address, err)
		})
	}
	return all(fns...)
}

// fence moves every region to the target on every site's DNS servers and
// then verifies the surviving ones (the DNSCutover child), while trying the
// failed site's vCenter and database once each (they refuse).
func (r *rawFailover) fence(ctx context.Context) error {
	dnsBranch := func() error {
		var sets []func() error
		for site, clients := range r.pdns {
			for _, c := range clients {
				sets = append(sets, func() error {
					_, err := c.SetGeo(ctx, r.svc.Zone, r.svc.DNSRecord, workflows.DefaultFailoverCutoverTTL, r.answers, r.targetIP, nil)
					if site == r.failed.Name {
						return nil // refused: the site is down, as in the workflow
					}
					return err
				})
			}
		}
		if err := all(sets...); err != nil {
			return err
		}
		return r.verifyDNS(ctx, r.target)
	}
	vmBranch := func() error {
		u, err := soap.ParseURL(r.failed.VCenter.URL)
		if err != nil {
			return err
		}
		if c, err := govmomi.NewClient(ctx, u, true); err == nil {
			_ = c.Logout(ctx)
			return errors.New("the failed site's vCenter answered")
		}
		return nil
	}
	return all(dnsBranch, vmBranch, func() error { return r.failedDBAnswers(ctx) })
}

// failedDBAnswers tries the failed site's database on a fresh pool.
func (r *rawFailover) failedDBAnswers(ctx context.Context) error {
	db, err := sql.Open("mysql", r.failedDSN)
	if err != nil {
		return err
	}
	defer db.Close()
	if db.PingContext(ctx) == nil {
		return errors.New("the failed site's database answered")
	}
	return nil
}

// verifyDNS asks site's servers, once per region subnet, until each answers
// the target's address.
func (r *rawFailover) verifyDNS(ctx context.Context, site *platform.Site) error {
	var fns []func() error
	for _, d := range site.DNS.Servers {
		for _, subnet := range r.subnets {
			fns = append(fns, func() error {
				for {
					ips, err := dnsquery.A(ctx, d.Address, r.svc.DNSRecord, netip.MustParsePrefix(subnet))
					if err == nil && len(ips) == 1 && ips[0] == r.targetIP {
						return nil
					}
					if ctx.Err() != nil {
						return fmt.Errorf("%s answers %v for %s, want %s", d.Address, ips, subnet, r.targetIP)
					}
					time.Sleep(20 * time.Millisecond)
				}
			})
		}
	}
	return all(fns...)
}

// promote is the promotion's SQL: state, the failed peer's read_only (it
// refuses), apply the relay log received, stop and reset replication,
// writable, new position.
func (r *rawFailover) promote(ctx context.Context) error {
	var ro bool
	var cur, slave, binlog string
	if err := r.db.QueryRowContext(ctx, "SELECT @@global.read_only, @@global.gtid_current_pos, @@global.gtid_slave_pos, @@global.gtid_binlog_pos").
		Scan(&ro, &cur, &slave, &binlog); err != nil {
		return err
	}
	if _, err := slaveIOPos(ctx, r.db); err != nil {
		return err
	}
	if err := r.failedDBAnswers(ctx); err != nil {
		return err
	}
	if _, err := r.db.ExecContext(ctx, "STOP SLAVE IO_THREAD"); err != nil {
		return err
	}
	pos, err := slaveIOPos(ctx, r.db)
	if err != nil {
		return err
	}
	var waited sql.NullInt64
	if err := r.db.QueryRowContext(ctx, "SELECT MASTER_GTID_WAIT(?, 30)", pos).Scan(&waited); err != nil {
		return err
	}
	for _, stmt := range []string{"STOP SLAVE", "RESET SLAVE ALL", "SET GLOBAL read_only=OFF"} {
		if _, err := r.db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", stmt, err)
		}
	}
	return r.db.QueryRowContext(ctx, "SELECT @@global.gtid_current_pos").Scan(&cur)
}

// slaveIOPos reads SHOW SLAVE STATUS's Gtid_IO_Pos.
func slaveIOPos(ctx context.Context, db *sql.DB) (string, error) {
	rows, err := db.QueryContext(ctx, "SHOW SLAVE STATUS")
	if err != nil {
		return "", err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return "", err
	}
	if !rows.Next() {
		return "", errors.New("the target's database does not replicate")
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return "", err
	}
	for i, c := range cols {
		if c == "Gtid_IO_Pos" {
			return vals[i].String, nil
		}
	}
	return "", errors.New("SHOW SLAVE STATUS has no Gtid_IO_Pos")
}

// capacity lists the target's VMs with their power state, guest IP and
// tags (one property-collector read of a container view) and counts the
// service's running web nodes.
func (r *rawFailover) capacity(ctx context.Context) error {
	m := view.NewManager(r.vc.Client)
	v, err := m.CreateContainerView(ctx, r.vc.ServiceContent.RootFolder, []string{"VirtualMachine"}, true)
	if err != nil {
		return err
	}
	defer func() { _ = v.Destroy(context.Background()) }()
	var vms []mo.VirtualMachine
	if err := v.Retrieve(ctx, []string{"VirtualMachine"}, []string{"name", "runtime.powerState", "guest.ipAddress", "config.extraConfig", "config.template"}, &vms); err != nil {
		return err
	}
	n := 0
	for _, vm := range vms {
		if vm.Guest != nil && vm.Guest.IpAddress != "" && vm.Runtime.PowerState == "poweredOn" {
			n++
		}
	}
	if n == 0 {
		return errors.New("no running node with an IP at the target")
	}
	return nil
}

// switchLB reads the target's servers once per node (AddServer's check of
// a server already present) and once more for their state, and needs every
// server UP.
func (r *rawFailover) switchLB(ctx context.Context) error {
	lb := r.target.LB
	servers, err := haproxyapi.ShowServersState(ctx, lb.RuntimeAPI, lb.Backend)
	if err != nil {
		return err
	}
	fns := make([]func() error, len(servers))
	for i := range servers {
		fns[i] = func() error { _, err := haproxyapi.ShowServersState(ctx, lb.RuntimeAPI, lb.Backend); return err }
	}
	if err := all(fns...); err != nil {
		return err
	}
	if servers, err = haproxyapi.ShowServersState(ctx, lb.RuntimeAPI, lb.Backend); err != nil {
		return err
	}
	for _, s := range servers {
		if !s.Up() {
			return fmt.Errorf("server %s is not UP", s.Name)
		}
	}
	return nil
}

// verify is the end-to-end check: every region's answer on the surviving
// servers, and HTTP 200 for the health path and a database write through
// the target's load balancer.
func (r *rawFailover) verify(ctx context.Context) error {
	check := func(path string) error {
		code, body, err := get(ctx, "http://"+r.target.LB.Frontend+path)
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("%s: HTTP %d: %s", path, code, body)
		}
		return nil
	}
	return all(
		func() error { return r.verifyDNS(ctx, r.target) },
		func() error {
			if err := check(r.svc.HealthPath); err != nil {
				return err
			}
			return check(workflows.DefaultWritePath)
		},
	)
}
