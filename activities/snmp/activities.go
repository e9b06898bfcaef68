package snmp

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/microdc/mdc/apperrors"
)

// DefaultPort is the SNMP port used when a site's configuration has none.
const DefaultPort = 161

// SiteConfig is how one site's nodes are polled, resolved from the platform
// file by the worker.
type SiteConfig struct {
	// Port is the agents' UDP port; 0 means DefaultPort.
	Port int
	// Community is the SNMP v2c community; a secret: it stays in this
	// struct and is never written to results, errors or logs.
	Community string
	// Timeout bounds each agent's exchange; 0 means DefaultTimeout.
	Timeout time.Duration
}

// String keeps the community out of anything that prints a SiteConfig.
func (c SiteConfig) String() string {
	return fmt.Sprintf("{Port:%d Community:<redacted> Timeout:%v}", c.Port, c.Timeout)
}

// Activities polls nodes' load averages for workflows.
type Activities struct {
	Poller *Poller
	Sites  map[string]SiteConfig
}

// New returns Activities for sites, checking each site's configuration.
// A nil poller means a new one.
func New(poller *Poller, sites map[string]SiteConfig) (*Activities, error) {
	for name, c := range sites {
		if err := c.validate(name); err != nil {
			return nil, err
		}
	}
	if poller == nil {
		poller = NewPoller()
	}
	return &Activities{Poller: poller, Sites: sites}, nil
}

func (c SiteConfig) validate(site string) error {
	if c.Port < 0 || c.Port > 65535 {
		return fmt.Errorf("snmp: site %q: port %d is out of range 1-65535 (0 means %d)", site, c.Port, DefaultPort)
	}
	if c.Community == "" {
		return fmt.Errorf("snmp: site %q has no SNMP community: set it in the platform file", site)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("snmp: site %q: timeout %v is negative", site, c.Timeout)
	}
	return nil
}

// NodeAddr names a node and its IP address.
type NodeAddr struct {
	Name string
	IP   string
}

// PollLoadInput names the site and the nodes to poll.
type PollLoadInput struct {
	Site  string
	Nodes []NodeAddr
}

// PollLoadResult holds one sample per input node, in input order.
type PollLoadResult struct {
	Samples []Sample
	// Answered is how many samples carry loads.
	Answered int
}

// PollLoad reads the 1, 5 and 15 minute load averages of nodes at a site
// in one round. Agents that do not answer are reported in their samples,
// not as an error, even when none answer: whether that means the nodes are
// down or the site is is the workflow's decision. An unknown site or a
// node IP that is not an IP address is BadInput.
func (a *Activities) PollLoad(ctx context.Context, in PollLoadInput) (PollLoadResult, error) {
	cfg, ok := a.Sites[in.Site]
	if !ok {
		return PollLoadResult{}, unknownSite(in.Site, a.Sites)
	}
	if err := cfg.validate(in.Site); err != nil {
		return PollLoadResult{}, apperrors.BadInput("%v", err)
	}
	port := cfg.Port
	if port == 0 {
		port = DefaultPort
	}
	targets := make([]Target, len(in.Nodes))
	for i, n := range in.Nodes {
		ip, err := netip.ParseAddr(strings.TrimSpace(n.IP))
		if err != nil {
			return PollLoadResult{}, apperrors.BadInput("node %q at site %s: IP %q is not an IP address", n.Name, in.Site, n.IP)
		}
		targets[i] = Target{Node: n.Name, Addr: netip.AddrPortFrom(ip.Unmap(), uint16(port)).String(), Community: cfg.Community} //nolint:gosec // port validated
	}
	if len(targets) == 0 {
		return PollLoadResult{Samples: []Sample{}}, nil
	}
	p := a.Poller
	if p == nil {
		p = NewPoller()
	}
	res := PollLoadResult{Samples: p.Poll(ctx, targets, Options{Timeout: cfg.Timeout})}
	if err := ctx.Err(); err != nil {
		return PollLoadResult{}, fmt.Errorf("poll load of %d nodes at site %s: %w", len(targets), in.Site, err)
	}
	for _, s := range res.Samples {
		if s.OK() {
			res.Answered++
		}
	}
	return res, nil
}

// unknownSite is the BadInput error for a site not in sites, listing them.
func unknownSite[T any](site string, sites map[string]T) error {
	if len(sites) == 0 {
		return apperrors.BadInput("unknown site %q: no sites are configured for SNMP polling (check the platform file)", site)
	}
	return apperrors.BadInput("unknown site %q: configured sites are %s", site, strings.Join(slices.Sorted(maps.Keys(sites)), ", "))
}
