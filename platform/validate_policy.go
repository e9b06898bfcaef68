package platform

import (
	"fmt"
)

// validateServices checks the load-balanced tiers and their scaling rules.
func (p *parser) validateServices(pl *Platform) {
	first := map[string]int{}
	for i := range pl.Services {
		s := &pl.Services[i]
		at := fmt.Sprintf("services[%d]", i)
		if p.required(at+".name", s.Name, "the service's name, such as web") && p.label(at+".name", s.Name) {
			if j, dup := first[s.Name]; dup {
				p.fail(at+".name", "duplicate service name %q; services[%d] already has it", s.Name, j)
			} else {
				first[s.Name] = i
			}
		}
		zoneOK := p.required(at+".zone", s.Zone, "the DNS zone, fully qualified, such as \"example.com.\"") &&
			p.fqdn(at+".zone", s.Zone, "example.com.")
		if p.required(at+".dns_record", s.DNSRecord, "the name clients resolve, fully qualified, such as \"www.example.com.\"") &&
			p.fqdn(at+".dns_record", s.DNSRecord, "www.example.com.") && zoneOK && !inZone(s.DNSRecord, s.Zone) {
			p.fail(at+".dns_record", "%q is not inside zone %q; the record must be the zone or a name below it", s.DNSRecord, s.Zone)
		}
		p.atLeast(at+".ttl", s.TTL, 1)
		p.required(at+".template", s.Template, "the VM template new nodes are cloned from")
		p.required(at+".snapshot", s.Snapshot, "the template's golden snapshot that clones are linked to")
		p.port(at+".port", s.Port)
		if len(s.HealthPath) == 0 || s.HealthPath[0] != '/' {
			p.fail(at+".health_path", "expected an absolute URL path such as /healthz, got %q", s.HealthPath)
		}

		r := at + ".replicas"
		minOK := p.atLeast(r+".min", s.Replicas.Min, 0)
		if p.atLeast(r+".max", s.Replicas.Max, 1) && minOK && s.Replicas.Min > s.Replicas.Max {
			hint := ""
			if !p.present[r+".max"] {
				hint = " (the default max); set max too"
			}
			p.fail(r+".min", "min %d is greater than max %d%s", s.Replicas.Min, s.Replicas.Max, hint)
		}

		sc := at + ".scale"
		outOK, inOK := s.Scale.OutLoad > 0, s.Scale.InLoad > 0 // NaN fails both
		if !outOK {
			p.fail(sc+".out_load", "expected a load average above 0, got %g", s.Scale.OutLoad)
		}
		if !inOK {
			p.fail(sc+".in_load", "expected a load average above 0, got %g", s.Scale.InLoad)
		}
		if outOK && inOK && !(s.Scale.InLoad < s.Scale.OutLoad) {
			p.fail(sc+".in_load", "in_load %g must be below out_load %g; otherwise a copy could be added and removed at the same load", s.Scale.InLoad, s.Scale.OutLoad)
		}
		p.nonNegative(sc+".out_window", s.Scale.OutWindow)
		p.nonNegative(sc+".in_window", s.Scale.InWindow)
		p.nonNegative(sc+".out_cooldown", s.Scale.OutCooldown)
		p.nonNegative(sc+".in_cooldown", s.Scale.InCooldown)
	}
}

// validateFailover checks the FailoverSite policy.
func (p *parser) validateFailover(pl *Platform) {
	f := &pl.Failover
	p.positive("failover.detection_interval", f.DetectionInterval)
	p.atLeast("failover.misses", f.Misses, 1)
	// Each site observes the others, and a witness outside the sites may add
	// one more vote, so a quorum above sites+1 could never be reached.
	if most := len(pl.Sites) + 1; len(pl.Sites) > 0 && (f.ObserverQuorum < 1 || f.ObserverQuorum > most) {
		p.fail("failover.observer_quorum", "expected from 1 to %d (the number of sites, plus one for a witness), got %d", most, f.ObserverQuorum)
	}
	p.oneOf("failover.mode", f.Mode, "automatic", "approval")
	p.nonNegative("failover.block_period", f.BlockPeriod)
	if f.Mode == "approval" {
		p.positive("failover.approval_deadline", f.ApprovalDeadline)
	} else {
		p.nonNegative("failover.approval_deadline", f.ApprovalDeadline)
	}
	p.oneOf("failover.approval_default", f.ApprovalDefault, "proceed", "abort")
	p.nonNegative("failover.max_rpo", f.MaxRPO)
}

// validateReplication checks the protected VMs; sites maps valid site names
// to their index.
func (p *parser) validateReplication(pl *Platform, sites map[string]int) {
	type key struct{ vm, site string }
	first := map[key]int{}
	for i := range pl.Replication {
		r := &pl.Replication[i]
		at := fmt.Sprintf("replication[%d]", i)
		p.required(at+".vm", r.VM, "the name of the VM to protect")
		siteOK := p.knownSite(at+".site", r.Site, sites, "the site the VM runs at")
		targetOK := p.knownSite(at+".target", r.Target, sites, "the site the replica is kept at")
		if siteOK && targetOK && r.Site == r.Target {
			p.fail(at+".target", "target must differ from site (both are %q); a replica at the same site does not survive losing it", r.Site)
		}
		if r.VM != "" && r.Site != "" {
			k := key{r.VM, r.Site}
			if j, dup := first[k]; dup {
				p.fail(at+".vm", "VM %q at site %q is already protected by replication[%d]", r.VM, r.Site, j)
			} else {
				first[k] = i
			}
		}
		p.positive(at+".rpo", r.RPO)
		p.atLeast(at+".keep", r.Keep, 1)
	}
}

// knownSite checks a reference to a site by name.
func (p *parser) knownSite(path, name string, sites map[string]int, what string) bool {
	if !p.required(path, name, what) {
		return false
	}
	if _, ok := sites[name]; !ok {
		p.fail(path, "unknown site %q; %s", name, known("sites", sortedKeys(sites)))
		return false
	}
	return true
}
