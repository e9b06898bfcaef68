package workflows

import (
	"fmt"
	"net"
	"sort"
	"strings"

	"github.com/microdc/mdc/activities/dns"
	"github.com/microdc/mdc/platform"
)

// NewDNSCutoverInput builds the input that sends every region's clients of
// service to target's load balancer, on every site's DNS servers.
func NewDNSCutoverInput(p *platform.Platform, service, target, mode string) (DNSCutoverInput, error) {
	svc, ok := p.Service(service)
	if !ok {
		return DNSCutoverInput{}, fmt.Errorf("unknown service %q: the platform file has %s", service, strings.Join(serviceNames(p), ", "))
	}
	t, ok := p.Site(target)
	if !ok {
		return DNSCutoverInput{}, fmt.Errorf("unknown site %q: the platform file has %s", target, strings.Join(p.SiteNames(), ", "))
	}
	ip, _, err := net.SplitHostPort(t.LB.Frontend)
	if err != nil {
		return DNSCutoverInput{}, fmt.Errorf("site %s: lb.frontend %q: %w", target, t.LB.Frontend, err)
	}
	regions := make([]string, 0, len(p.Regions))
	for r := range p.Regions {
		regions = append(regions, r)
	}
	sort.Strings(regions)
	in := DNSCutoverInput{
		Mode: mode, Sites: p.SiteNames(), Zone: svc.Zone, Name: svc.DNSRecord, Fallback: ip, TTL: svc.TTL,
	}
	for _, r := range regions {
		in.Answers = append(in.Answers, dns.GeoAnswer{Region: r, Subnets: p.Regions[r].Subnets, IP: ip})
	}
	return in, nil
}

func serviceNames(p *platform.Platform) []string {
	var names []string
	for _, s := range p.Services {
		names = append(names, s.Name)
	}
	return names
}
