package workflows

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/microdc/mdc/activities/dns"
	"github.com/microdc/mdc/activities/vsphere"
	"github.com/microdc/mdc/platform"
)

// nodeRole is the mdc.role of every service's nodes: the platform's
// services are load-balanced web tiers.
const nodeRole = "web"

// NewProvisionSiteInput builds ProvisionSite's input for site from the
// platform file: each service's minimum replicas named
// "<site>-<service>-<n>", its template and golden snapshot, the site's
// placement hosts and datastore, the service's geo record answering every
// region with its own site's load balancer, and the site's database role.
func NewProvisionSiteInput(p *platform.Platform, site string) (ProvisionSiteInput, error) {
	s, ok := p.Site(site)
	if !ok {
		return ProvisionSiteInput{}, fmt.Errorf("unknown site %q: the platform file has %s", site, strings.Join(p.SiteNames(), ", "))
	}
	answers, fallback, err := siteAnswers(p)
	if err != nil {
		return ProvisionSiteInput{}, err
	}
	in := ProvisionSiteInput{Site: site}
	for _, svc := range p.Services {
		ps := ProvisionService{
			Name: svc.Name,
			Tags: map[string]string{vsphere.TagRole: nodeRole, vsphere.TagService: svc.Name, vsphere.TagSite: site},
			// The site's VM folder and datastore are the clone defaults, so
			// Folder stays empty (CloneVM takes a folder inside the site's).
			Template: svc.Template, Snapshot: svc.Snapshot, Datastore: s.VCenter.Datastore,
			Hosts: append([]string(nil), s.VCenter.Hosts...), Backend: s.LB.Backend,
			Port: svc.Port, HealthPath: svc.HealthPath,
		}
		for n := 1; n <= svc.Replicas.Min; n++ {
			ps.VMs = append(ps.VMs, fmt.Sprintf("%s-%s-%d", site, svc.Name, n))
		}
		if svc.DNSRecord != "" {
			ps.DNS = &ProvisionDNS{Zone: svc.Zone, Name: svc.DNSRecord, TTL: svc.TTL, Answers: answers, Fallback: fallback}
			if _, port, err := net.SplitHostPort(s.LB.Frontend); err == nil {
				// pdns checks each answer's load balancer itself, so a
				// region whose site cannot serve gets the next healthy one.
				if n, err := strconv.Atoi(port); err == nil {
					ps.DNS.HealthCheck = &dns.HealthCheck{Port: n, Path: svc.HealthPath}
				}
			}
		}
		in.Services = append(in.Services, ps)
	}
	if s.Database.Role != "" {
		in.Database = &ProvisionDatabase{Role: s.Database.Role}
		if prim := p.PrimarySite(); prim != nil {
			in.Database.PrimarySite, in.Database.PrimaryAddress = prim.Name, prim.Database.Address
		}
	}
	return in, nil
}

// siteAnswers gives every region that has a site the IP of that site's load
// balancer (the first site of the region, in file order), and the primary
// site's as the fallback for clients of no region.
func siteAnswers(p *platform.Platform) ([]dns.GeoAnswer, string, error) {
	regions := make([]string, 0, len(p.Regions))
	for r := range p.Regions {
		regions = append(regions, r)
	}
	sort.Strings(regions)
	var answers []dns.GeoAnswer
	for _, r := range regions {
		for _, s := range p.Sites {
			if s.Region != r {
				continue
			}
			ip, err := frontendIP(s)
			if err != nil {
				return nil, "", err
			}
			answers = append(answers, dns.GeoAnswer{Region: r, Subnets: p.Regions[r].Subnets, IP: ip})
			break
		}
	}
	fb := p.PrimarySite()
	if fb == nil && len(p.Sites) > 0 {
		fb = &p.Sites[0]
	}
	if fb == nil {
		return nil, "", fmt.Errorf("the platform file has no sites")
	}
	fallback, err := frontendIP(*fb)
	return answers, fallback, err
}

func frontendIP(s platform.Site) (string, error) {
	ip, _, err := net.SplitHostPort(s.LB.Frontend)
	if err != nil {
		return "", fmt.Errorf("site %s: lb.frontend %q is not host:port: %w", s.Name, s.LB.Frontend, err)
	}
	return ip, nil
}

// NewReplicateVMInput builds ReplicateVM's input for the protected VM vm of
// site, as the platform file's replication list describes it.
func NewReplicateVMInput(p *platform.Platform, site, vm string) (ReplicateVMInput, error) {
	for _, in := range NewReplicateVMInputs(p) {
		if in.Site == site && in.VM == vm {
			return in, nil
		}
	}
	var known []string
	for _, r := range p.Replication {
		known = append(known, r.Site+"/"+r.VM)
	}
	if len(known) == 0 {
		known = []string{"none"}
	}
	return ReplicateVMInput{}, fmt.Errorf("VM %s of site %s is not in the platform file's replication list (protected VMs: %s)",
		vm, site, strings.Join(known, ", "))
}

// NewReplicateVMInputs builds ReplicateVM's input for every protected VM of
// the platform file, in file order.
func NewReplicateVMInputs(p *platform.Platform) []ReplicateVMInput {
	out := make([]ReplicateVMInput, 0, len(p.Replication))
	for _, r := range p.Replication {
		out = append(out, ReplicateVMInput{VM: r.VM, Site: r.Site, Target: r.Target, RPO: r.RPO.Duration, Keep: r.Keep})
	}
	return out
}

// NewDrainHostInput builds DrainHost's input: VMs of host may move to the
// site's other placement hosts.
func NewDrainHostInput(p *platform.Platform, site, host string, deadline time.Duration) (DrainHostInput, error) {
	s, ok := p.Site(site)
	if !ok {
		return DrainHostInput{}, fmt.Errorf("unknown site %q: the platform file has %s", site, strings.Join(p.SiteNames(), ", "))
	}
	if host == "" {
		return DrainHostInput{}, fmt.Errorf("site %s: name the host to drain (placement hosts: %s)", site, strings.Join(s.VCenter.Hosts, ", "))
	}
	return DrainHostInput{Site: site, Host: host, Deadline: deadline, Hosts: append([]string(nil), s.VCenter.Hosts...)}, nil
}

// NewFailbackInput builds Failback's input for returned, which failed over
// to current: its protected VMs to re-replicate, every service's record as
// it is after the failover (every region answered by current) for the
// returned site's servers to catch up with and, with switchBack, the
// planned FailoverSite from current back to returned.
func NewFailbackInput(p *platform.Platform, returned, current string, switchBack bool) (FailbackInput, error) {
	for _, s := range []string{returned, current} {
		if _, ok := p.Site(s); !ok {
			return FailbackInput{}, fmt.Errorf("unknown site %q: the platform file has %s", s, strings.Join(p.SiteNames(), ", "))
		}
	}
	in := FailbackInput{ReturnedSite: returned, CurrentPrimarySite: current}
	for _, r := range NewReplicateVMInputs(p) {
		if r.Site == returned {
			in.Replicate = append(in.Replicate, r)
		}
	}
	for _, svc := range p.Services {
		c, err := NewDNSCutoverInput(p, svc.Name, current, ModePlanned)
		if err != nil {
			return FailbackInput{}, err
		}
		in.DNS = append(in.DNS, FailbackRecord{Zone: c.Zone, Name: c.Name, TTL: c.TTL, Answers: c.Answers, Fallback: c.Fallback})
	}
	if switchBack {
		sb, err := NewFailoverSiteInput(p, current, returned, ModePlanned)
		if err != nil {
			return FailbackInput{}, err
		}
		sb.Reason = fmt.Sprintf("failback: %s is back, moving the service home from %s", returned, current)
		in.SwitchBack = &sb
	}
	return in, nil
}
