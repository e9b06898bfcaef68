// Package node runs the lab's web nodes: what a powered-on web VM at a site
// really serves. Each node binds its own loopback address and runs an HTTP
// server (a page, a health check, a database write) and an SNMP agent whose
// load the lab sets. Manager maps vSphere power events to nodes, giving each
// VM an address that stays its own across restarts.
package node

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/microdc/mdc/snmpagent"
)

// Options configure one web node.
type Options struct {
	Name, Site, Service string
	// IP is the node's loopback address, e.g. 127.1.0.10.
	IP string
	// HTTPPort is the web port (e.g. 8080); 0 picks a free one.
	HTTPPort int
	// SNMPPort is the SNMP agent's UDP port (e.g. 1161); 0 picks a free one.
	SNMPPort int
	// Community is the SNMP community; "public" when empty.
	Community string
	// HealthPath is the health-check path; "/healthz" when empty.
	HealthPath string
	// DSN is the site's MariaDB as the app user, in go-sql-driver format. It
	// may be unreachable: the node still starts and serves its page and
	// health. Empty means no database (GET /db answers 503).
	DSN string
	// Logger receives the node's events; nothing is logged when nil.
	Logger *slog.Logger
}

// Info describes a node at one moment.
type Info struct {
	Name, Site, Service, IP string
	// HTTPAddr and SNMPAddr are the bound ip:port of each listener.
	HTTPAddr, SNMPAddr string
	// Load1, Load5 and Load15 are the load averages the SNMP agent reports.
	Load1, Load5, Load15 float64
	// Requests counts HTTP requests served other than health checks, so a
	// test can see how a load balancer spread real traffic.
	Requests uint64
	// HealthChecks counts requests to the health path.
	HealthChecks uint64
	// SNMPRequests counts SNMP requests answered.
	SNMPRequests uint64
	// DB is the last known database status: ok, read-only, down, error,
	// unknown or unconfigured.
	DB string
	// Running is false once the node is stopped (Manager lists powered-off VMs too).
	Running bool
}

// Node is a running web node.
type Node struct {
	opts   Options
	log    *slog.Logger
	ln     net.Listener
	srv    *http.Server
	served chan struct{}
	agent  *snmpagent.Agent
	db     *database

	mu      sync.Mutex
	load    [3]float64
	stopped bool

	requests     atomic.Uint64
	healthChecks atomic.Uint64
}

// Start binds the node's HTTP server to IP:HTTPPort and its SNMP agent to
// IP:SNMPPort. It does not contact the database: the connection is made on
// first use, so a node at a site whose database is down still starts.
func Start(o Options) (*Node, error) {
	if err := o.normalize(); err != nil {
		return nil, err
	}
	log := o.Logger.With("node", o.Name, "site", o.Site, "ip", o.IP)
	db, err := openDatabase(o.DSN, log)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", o.Name, err)
	}
	httpAddr := net.JoinHostPort(o.IP, strconv.Itoa(o.HTTPPort))
	ln, err := net.Listen("tcp4", httpAddr)
	if err != nil {
		db.close()
		return nil, fmt.Errorf("node %s: HTTP listen on %s: %w (is another node or process on that address?)", o.Name, httpAddr, err)
	}
	agent, err := snmpagent.Listen(net.JoinHostPort(o.IP, strconv.Itoa(o.SNMPPort)), o.Community)
	if err != nil {
		ln.Close()
		db.close()
		return nil, fmt.Errorf("node %s: %w", o.Name, err)
	}
	agent.SetDescr(fmt.Sprintf("mdc lab %s node %s, site %s", o.Service, o.Name, o.Site))
	n := &Node{opts: o, log: log, ln: ln, agent: agent, db: db, served: make(chan struct{})}
	n.srv = &http.Server{
		Handler:           n.routes(),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go func() {
		defer close(n.served)
		if err := n.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("HTTP server stopped", "err", err)
		}
	}()
	log.Info("node started", "http", ln.Addr().String(), "snmp", agent.Addr(), "db", db.addrOrNone())
	return n, nil
}

func (o *Options) normalize() error {
	if o.Name == "" {
		return errors.New("node: Options.Name is empty")
	}
	ip := net.ParseIP(o.IP)
	if ip == nil || ip.To4() == nil {
		return fmt.Errorf("node %s: Options.IP %q is not an IPv4 address (want e.g. 127.1.0.10)", o.Name, o.IP)
	}
	if o.Service == "" {
		o.Service = "web"
	}
	if o.Community == "" {
		o.Community = "public"
	}
	if o.HealthPath == "" {
		o.HealthPath = "/healthz"
	}
	switch {
	case o.HealthPath[0] != '/' || strings.ContainsAny(o.HealthPath, "{} \t?#"):
		return fmt.Errorf("node %s: HealthPath %q must be a plain path starting with / (e.g. /healthz)", o.Name, o.HealthPath)
	case o.HealthPath == "/" || o.HealthPath == "/db" || o.HealthPath == "/load":
		return fmt.Errorf("node %s: HealthPath %q collides with a page the node serves; use e.g. /healthz", o.Name, o.HealthPath)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Stop closes both listeners and every open connection, as powering the VM
// off would; connections are refused afterwards. Stopping twice is a no-op.
func (n *Node) Stop() error {
	n.mu.Lock()
	if n.stopped {
		n.mu.Unlock()
		return nil
	}
	n.stopped = true
	n.mu.Unlock()

	// Close, not Shutdown: a VM losing power does not drain its connections.
	errHTTP := n.srv.Close()
	<-n.served
	errSNMP := n.agent.Close()
	n.db.close()
	n.log.Info("node stopped")
	if err := errors.Join(errHTTP, errSNMP); err != nil {
		return fmt.Errorf("node %s: stop: %w", n.opts.Name, err)
	}
	return nil
}

// SetLoad sets the 1-minute load. The 5- and 15-minute averages follow it
// the way the kernel's do, each call counting as one sampling interval:
// they move halfway and a fifth of the way towards it, so a load held over
// several calls shows in all three and a single spike mostly in the first.
func (n *Node) SetLoad(load float64) {
	if load < 0 || load != load { // negative or NaN
		load = 0
	}
	n.mu.Lock()
	n.load[0] = load
	n.load[1] += (load - n.load[1]) / 2
	n.load[2] += (load - n.load[2]) / 5
	l := n.load
	n.mu.Unlock()
	n.agent.SetLoad(l[0], l[1], l[2])
}

// Info reports the node's identity, load and counters.
func (n *Node) Info() Info {
	n.mu.Lock()
	l, running := n.load, !n.stopped
	n.mu.Unlock()
	return Info{
		Name: n.opts.Name, Site: n.opts.Site, Service: n.opts.Service, IP: n.opts.IP,
		HTTPAddr: n.ln.Addr().String(), SNMPAddr: n.agent.Addr(),
		Load1: l[0], Load5: l[1], Load15: l[2],
		Requests: n.requests.Load(), HealthChecks: n.healthChecks.Load(),
		SNMPRequests: n.agent.Stats().Requests,
		DB:           n.db.status(),
		Running:      running,
	}
}
