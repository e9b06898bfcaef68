package workflows

import (
	"fmt"
	"net"
	"sort"
	"strings"

	"github.com/microdc/mdc/platform"
)

// DefaultWritePath is the path FailoverSite requests through the target's
// load balancer to prove a database write: mdc's web nodes (and the lab's)
// write a row on GET /db. Real services set their own in the input.
const DefaultWritePath = "/db"

// NewFailoverSiteInput builds FailoverSite's input from the platform file:
// the failover policy, every site (frontend, DNS servers, database), the
// regions' subnets and each service's record, port, health path, template
// and minimum replicas. The caller fills Reason, RequestedBy, Force,
// DryRun, DetectedAt and DBAppUser (the platform file does not name the
// application's database account).
func NewFailoverSiteInput(p *platform.Platform, failed, target, mode string) (FailoverSiteInput, error) {
	var problems []string
	if _, ok := p.Site(failed); !ok {
		problems = append(problems, fmt.Sprintf("unknown failed site %q", failed))
	}
	if _, ok := p.Site(target); !ok {
		problems = append(problems, fmt.Sprintf("unknown target site %q", target))
	}
	if failed == target && failed != "" {
		problems = append(problems, fmt.Sprintf("failed site and target are both %q: fail over to another site", failed))
	}
	switch mode {
	case ModeDisaster, ModePlanned, ModeTest:
	default:
		problems = append(problems, fmt.Sprintf("mode %q: expected disaster, planned or test", mode))
	}
	if len(p.Services) == 0 {
		problems = append(problems, "the platform file has no services to fail over")
	}
	if len(problems) > 0 {
		return FailoverSiteInput{}, fmt.Errorf("failover %s -> %s: %s (the platform file has sites %s)",
			failed, target, strings.Join(problems, "; "), strings.Join(p.SiteNames(), ", "))
	}
	pol := p.Failover
	in := FailoverSiteInput{
		FailedSite: failed, TargetSite: target, Mode: mode,
		Policy: FailoverPolicy{
			ObserverQuorum: pol.ObserverQuorum, ApprovalMode: pol.Mode,
			ApprovalDeadline: pol.ApprovalDeadline.Duration, ApprovalDefault: pol.ApprovalDefault,
			BlockPeriod: pol.BlockPeriod.Duration, MaxRPO: pol.MaxRPO.Duration,
		},
	}
	for _, s := range p.Sites {
		if _, _, err := net.SplitHostPort(s.LB.Frontend); err != nil {
			return FailoverSiteInput{}, fmt.Errorf("site %s: lb.frontend %q is not host:port: %w", s.Name, s.LB.Frontend, err)
		}
		facts := FailoverSiteFacts{Name: s.Name, Region: s.Region, Frontend: s.LB.Frontend, DBAddress: s.Database.Address}
		for _, d := range s.DNS.Servers {
			facts.DNSServers = append(facts.DNSServers, d.Address)
		}
		in.Sites = append(in.Sites, facts)
	}
	regions := make([]string, 0, len(p.Regions))
	for r := range p.Regions {
		regions = append(regions, r)
	}
	sort.Strings(regions)
	for _, r := range regions {
		in.Regions = append(in.Regions, FailoverRegion{Name: r, Subnets: append([]string(nil), p.Regions[r].Subnets...)})
	}
	for _, s := range p.Services {
		in.Services = append(in.Services, FailoverService{
			Name: s.Name, Zone: s.Zone, Record: s.DNSRecord, TTL: s.TTL, Port: s.Port, HealthPath: s.HealthPath,
			WritePath: DefaultWritePath, Template: s.Template, Snapshot: s.Snapshot, MinNodes: max(s.Replicas.Min, 1),
		})
	}
	return in, nil
}
