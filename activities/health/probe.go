package health

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/microdc/mdc/apperrors"
)

// Kinds of component ProbeSite checks, in ComponentResult.Kind.
const (
	// KindLBFrontend: the load balancer's frontend answers an HTTP GET.
	KindLBFrontend = "lb-frontend"
	// KindLBRuntimeAPI: the load balancer's runtime API accepts a TCP connection.
	KindLBRuntimeAPI = "lb-runtime-api"
	// KindDNS: an authoritative DNS server answers a query for the service record.
	KindDNS = "dns"
	// KindDB: the database accepts a TCP connection and, with a DSN, runs SELECT 1.
	KindDB = "db"
)

// DefaultProbeTimeout bounds each component's probe when the site's
// configuration sets none. All components are probed at once, so it is
// also about how long a probe of a dead site takes.
const DefaultProbeTimeout = time.Second

// SiteProbeConfig says where one site's components listen. Empty fields are
// not probed; at least one component must be set.
type SiteProbeConfig struct {
	// LBFrontend is the URL of the service behind the load balancer, or
	// its ip:port (probed as http://ip:port/).
	LBFrontend string
	// LBRuntimeAPI is the ip:port of HAProxy's runtime API.
	LBRuntimeAPI string
	// DNSServers are the ip:port addresses of the site's authoritative servers.
	DNSServers []string
	// Record is the service's DNS name, queried for its A record.
	Record string
	// DBAddress is the database's ip:port.
	DBAddress string
	// DBDSN is an optional go-sql-driver/mysql DSN: with it the probe logs
	// in at DBAddress (whatever address the DSN names) and runs SELECT 1.
	// A secret: it never appears in results, errors or logs.
	DBDSN string
	// Timeout bounds each component's probe; 0 means DefaultProbeTimeout.
	Timeout time.Duration
}

// String keeps the DSN out of anything that prints a SiteProbeConfig.
func (c SiteProbeConfig) String() string {
	dsn := ""
	if c.DBDSN != "" {
		dsn = "<redacted>"
	}
	return fmt.Sprintf("{LBFrontend:%s LBRuntimeAPI:%s DNSServers:%v Record:%s DBAddress:%s DBDSN:%s Timeout:%v}",
		redactURL(c.LBFrontend), c.LBRuntimeAPI, c.DNSServers, c.Record, c.DBAddress, dsn, c.Timeout)
}

// ProbeSiteInput names the site to probe.
type ProbeSiteInput struct {
	Site string
}

// ComponentResult is what the probe of one component saw.
type ComponentResult struct {
	// Kind is one of the Kind* constants.
	Kind string
	// Address is where the component was probed (never a DSN).
	Address string
	// Reachable: the component answered at all (an HTTP status, a DNS
	// answer of any rcode, a TCP connection).
	Reachable bool
	// Healthy: the component did its job (HTTP status below 500, a DNS
	// answer with records, SELECT 1 returned 1).
	Healthy bool
	// Latency is the time the probe took, failures included.
	Latency time.Duration
	// Detail says what a reachable component answered, e.g. "status 200".
	Detail string `json:",omitempty"`
	// Error says why the component is not healthy; empty when it is.
	Error string `json:",omitempty"`
}

// ProbeSiteResult is one probe of a site's components.
type ProbeSiteResult struct {
	Site string
	// Reachable: at least one component answered, so the site is not fully
	// dead (it may be partitioned or half-failed).
	Reachable bool
	// Healthy: every component answered and did its job.
	Healthy bool
	// Components are in the order front end, runtime API, DNS servers (in
	// configuration order), database; unconfigured ones are absent.
	Components []ComponentResult
	// Latency is the time the whole probe took: about the slowest component.
	Latency time.Duration
}

// ProbeSite probes every configured component of a site at once, each
// within the site's timeout, so even a dead site is reported in about one
// timeout. Unreachable components are part of the result, not an error: a
// dead site is an answer. The only errors are an unknown site (BadInput)
// and the caller's context ending.
func (a *Activities) ProbeSite(ctx context.Context, in ProbeSiteInput) (ProbeSiteResult, error) {
	cfg, ok := a.Sites[in.Site]
	if !ok {
		return ProbeSiteResult{}, unknownSite(in.Site, a.Sites)
	}
	if err := cfg.validate(); err != nil {
		return ProbeSiteResult{}, apperrors.BadInput("site %q: %v", in.Site, err)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultProbeTimeout
	}
	client := a.Client
	if client == nil {
		client = http.DefaultClient
	}

	var probes []func(context.Context) ComponentResult
	if cfg.LBFrontend != "" {
		probes = append(probes, func(ctx context.Context) ComponentResult { return probeHTTP(ctx, client, frontendURL(cfg.LBFrontend)) })
	}
	if cfg.LBRuntimeAPI != "" {
		probes = append(probes, func(ctx context.Context) ComponentResult { return probeTCP(ctx, KindLBRuntimeAPI, cfg.LBRuntimeAPI) })
	}
	for _, server := range cfg.DNSServers {
		probes = append(probes, func(ctx context.Context) ComponentResult { return probeDNS(ctx, server, cfg.Record) })
	}
	if cfg.DBAddress != "" {
		probes = append(probes, func(ctx context.Context) ComponentResult { return probeDB(ctx, cfg.DBAddress, cfg.DBDSN) })
	}

	start := time.Now()
	res := ProbeSiteResult{Site: in.Site, Components: make([]ComponentResult, len(probes)), Healthy: true}
	var wg sync.WaitGroup
	for i, probe := range probes {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			t0 := time.Now()
			c := probe(ctx)
			c.Latency = time.Since(t0)
			if !c.Healthy && c.Error == "" {
				c.Error = "unhealthy" // every probe sets a reason; this is a backstop
			}
			res.Components[i] = c
		})
	}
	wg.Wait()
	res.Latency = time.Since(start)
	if err := ctx.Err(); err != nil {
		return ProbeSiteResult{}, fmt.Errorf("probe site %s: %w", in.Site, err)
	}
	for _, c := range res.Components {
		res.Reachable = res.Reachable || c.Reachable
		res.Healthy = res.Healthy && c.Healthy
	}
	return res, nil
}

// validate checks the configuration of one site; messages never include
// the DSN.
func (c SiteProbeConfig) validate() error {
	var errs []error
	if c.LBFrontend == "" && c.LBRuntimeAPI == "" && len(c.DNSServers) == 0 && c.DBAddress == "" {
		errs = append(errs, errors.New("no component to probe: set at least one of LBFrontend, LBRuntimeAPI, DNSServers, DBAddress"))
	}
	if c.LBFrontend != "" {
		if u, err := url.Parse(frontendURL(c.LBFrontend)); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			errs = append(errs, fmt.Errorf("LBFrontend %q is neither an http(s) URL nor ip:port", redactURL(c.LBFrontend)))
		}
	}
	addrs := []struct{ field, addr string }{{"LBRuntimeAPI", c.LBRuntimeAPI}, {"DBAddress", c.DBAddress}}
	for _, s := range c.DNSServers {
		addrs = append(addrs, struct{ field, addr string }{"DNSServers", s})
	}
	for _, a := range addrs {
		if a.addr == "" && a.field != "DNSServers" {
			continue
		}
		if _, port, err := net.SplitHostPort(a.addr); err != nil || port == "" {
			errs = append(errs, fmt.Errorf("%s %q is not host:port", a.field, a.addr))
		}
	}
	if len(c.DNSServers) > 0 && !validName(c.Record) {
		errs = append(errs, fmt.Errorf("Record %q is not a DNS name; DNSServers are probed with a query for it", c.Record))
	}
	if c.DBDSN != "" {
		if c.DBAddress == "" {
			errs = append(errs, errors.New("DBDSN is set but DBAddress is empty: the probe connects to DBAddress"))
		}
		if _, err := parseDSN(c.DBDSN); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("Timeout %v is negative", c.Timeout))
	}
	return errors.Join(errs...)
}

// frontendURL turns ip:port into http://ip:port/ and leaves URLs alone.
func frontendURL(s string) string {
	if strings.Contains(s, "://") {
		return s
	}
	return "http://" + s + "/"
}

// probeTCP connects to addr and hangs up.
func probeTCP(ctx context.Context, kind, addr string) ComponentResult {
	c := ComponentResult{Kind: kind, Address: addr}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		c.Error = fmt.Sprintf("TCP connect to %s: %v", addr, dialReason(err))
		return c
	}
	_ = conn.Close()
	c.Reachable, c.Healthy, c.Detail = true, true, "TCP connect"
	return c
}

// dialReason shortens a dial error to its cause: a context deadline becomes
// "timed out", which is what an operator needs to read.
func dialReason(err error) string {
	if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		return "timed out (host down or packets dropped)"
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return err.Error()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// probeHTTP GETs the front end on a new connection each time, so a probe
// never rides on a pooled connection to a listener that has since died.
func probeHTTP(ctx context.Context, client *http.Client, raw string) ComponentResult {
	u, _ := url.Parse(raw) // validated with the configuration
	c := ComponentResult{Kind: KindLBFrontend, Address: u.Redacted()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		c.Error = fmt.Sprintf("GET %s: %v", c.Address, err)
		return c
	}
	req.Close = true
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		c.Error = fmt.Sprintf("GET %s: %v", c.Address, dialReason(err))
		return c
	}
	_ = resp.Body.Close()
	c.Reachable = true
	c.Detail = fmt.Sprintf("status %d", resp.StatusCode)
	c.Healthy = resp.StatusCode < http.StatusInternalServerError
	if !c.Healthy {
		c.Error = fmt.Sprintf("GET %s answered %d: the load balancer answers but cannot serve (no healthy server behind it?)", c.Address, resp.StatusCode)
	}
	return c
}

// unknownSite is the BadInput error for a site not in sites, listing them.
func unknownSite[T any](site string, sites map[string]T) error {
	if len(sites) == 0 {
		return apperrors.BadInput("unknown site %q: no sites are configured for health probes (check the platform file)", site)
	}
	return apperrors.BadInput("unknown site %q: configured sites are %s", site, strings.Join(slices.Sorted(maps.Keys(sites)), ", "))
}
