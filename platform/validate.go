package platform

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// validate checks a decoded platform (defaults applied) and records every
// problem on p.
func (p *parser) validate(pl *Platform) {
	if pl.Version != DefaultVersion {
		p.fail("version", "expected %d (the only format version), got %d", DefaultVersion, pl.Version)
	}
	p.validateRegions(pl)
	if len(pl.Sites) == 0 {
		p.fail("sites", "at least one site is required")
	}
	firstSite := map[string]int{}
	primary := -1
	for i := range pl.Sites {
		s := &pl.Sites[i]
		at := fmt.Sprintf("sites[%d]", i)
		if p.required(at+".name", s.Name, "the site's name, such as uk") && p.label(at+".name", s.Name) {
			if j, dup := firstSite[s.Name]; dup {
				p.fail(at+".name", "duplicate site name %q; sites[%d] already has it", s.Name, j)
			} else {
				firstSite[s.Name] = i
			}
		}
		if s.Region != "" {
			if _, ok := pl.Regions[s.Region]; !ok {
				p.fail(at+".region", "unknown region %q; %s", s.Region, known("regions", sortedKeys(pl.Regions)))
			}
		}
		p.validateSite(s, at)
		if s.Database.Role == "primary" {
			if primary >= 0 {
				p.fail(at+".database.role", "sites[%d] (%s) is already the primary; exactly one site may have role primary", primary, pl.Sites[primary].Name)
			} else {
				primary = i
			}
		}
	}
	if len(pl.Sites) > 0 && primary < 0 {
		p.fail("sites", "no site has database.role primary; exactly one site must be the primary")
	}
	p.validateServices(pl)
	p.validateFailover(pl)
	p.validateReplication(pl, firstSite)
	p.validateTriggers(pl, firstSite)
}

// validateRegions checks region names and that every subnet is a CIDR that
// belongs to one region only (a client cannot be sent to two sites).
func (p *parser) validateRegions(pl *Platform) {
	var all []owned
	for _, name := range sortedKeys(pl.Regions) {
		at := "regions." + name
		p.label(at, name)
		for i, cidr := range pl.Regions[name].Subnets {
			sp := fmt.Sprintf("%s.subnets[%d]", at, i)
			pfx, err := netip.ParsePrefix(cidr)
			if err != nil {
				p.fail(sp, "expected a CIDR such as 10.1.0.0/16 or 2001:db8::/32, got %q", cidr)
				continue
			}
			if pfx.Masked() != pfx {
				p.fail(sp, "%q has host bits set; write %s", cidr, pfx.Masked())
				continue
			}
			all = append(all, owned{pfx, sp})
		}
	}
	p.overlaps(all)
}

// owned is a subnet and the path it was written at.
type owned struct {
	prefix netip.Prefix
	path   string
}

// overlaps reports subnets that share addresses, blaming the one written
// later in the file. Two CIDRs overlap only when one contains the other, so
// after sorting by first address (wider first) a stack of the enclosing
// prefixes finds every overlap in O(n log n): files made large by aliases
// stay cheap.
func (p *parser) overlaps(all []owned) {
	sort.SliceStable(all, func(i, j int) bool {
		a, b := all[i].prefix, all[j].prefix
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c < 0
		}
		return a.Bits() < b.Bits()
	})
	var stack []owned
	for _, cur := range all {
		for len(stack) > 0 && !stack[len(stack)-1].prefix.Contains(cur.prefix.Addr()) {
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 {
			outer := stack[len(stack)-1]
			first, second := outer, cur
			if a, b := p.where(outer.path), p.where(cur.path); a.line > b.line || (a.line == b.line && a.col > b.col) {
				first, second = cur, outer
			}
			p.fail(second.path, "%s overlaps %s (%s); a client network can belong to only one region", second.prefix, first.prefix, first.path)
		}
		stack = append(stack, cur)
	}
}

// validateSite checks one site's systems.
func (p *parser) validateSite(s *Site, at string) {
	vc := at + ".vcenter"
	if p.required(vc+".url", s.VCenter.URL, "the vCenter or ESXi SDK URL, such as https://vc.example.com/sdk") {
		p.httpURL(vc+".url", s.VCenter.URL, "https://vc.example.com/sdk")
	}
	p.envName(vc+".username_env", s.VCenter.UsernameEnv, true, "the vCenter user name")
	p.envName(vc+".password_env", s.VCenter.PasswordEnv, true, "the vCenter password")
	p.required(vc+".datacenter", s.VCenter.Datacenter, "the datacenter's name in the inventory, such as DC0")
	p.required(vc+".datastore", s.VCenter.Datastore, "the datastore new VMs are placed on, such as LocalDS_0")
	for i, h := range s.VCenter.Hosts {
		p.required(fmt.Sprintf("%s.hosts[%d]", vc, i), h, "the ESXi host's inventory name")
	}

	lb := at + ".lb"
	if p.oneOf(lb+".type", s.LB.Type, "haproxy", "nginx") && s.LB.Type == "nginx" {
		if s.LB.ConfigDir == "" {
			p.fail(lb+".config_dir", "required when type is nginx: the directory holding the generated upstream include")
		}
		if s.LB.ReloadCommand == "" {
			p.fail(lb+".reload_command", "required when type is nginx: the command that reloads nginx, such as \"systemctl reload nginx\"")
		}
	}
	if p.required(lb+".runtime_api", s.LB.RuntimeAPI, "HAProxy's runtime API, host:port or an absolute unix socket path") &&
		!strings.HasPrefix(s.LB.RuntimeAPI, "/") && !validHostPort(s.LB.RuntimeAPI) {
		p.fail(lb+".runtime_api", "expected host:port or an absolute unix socket path, got %q", s.LB.RuntimeAPI)
	}
	p.required(lb+".backend", s.LB.Backend, "the backend (nginx: upstream) holding the web nodes")
	if p.required(lb+".frontend", s.LB.Frontend, "the address clients reach, host:port") {
		p.hostPort(lb+".frontend", s.LB.Frontend, "127.1.0.2:8080")
	}
	if s.LB.ConfigDir != "" && !strings.HasPrefix(s.LB.ConfigDir, "/") {
		p.fail(lb+".config_dir", "expected an absolute path, got %q", s.LB.ConfigDir)
	}

	if len(s.DNS.Servers) == 0 {
		p.fail(at+".dns.servers", "at least one PowerDNS server is required")
	}
	for i, d := range s.DNS.Servers {
		ds := fmt.Sprintf("%s.dns.servers[%d]", at, i)
		if p.required(ds+".api_url", d.APIURL, "the PowerDNS HTTP API URL, such as http://127.1.0.1:8081") {
			p.httpURL(ds+".api_url", d.APIURL, "http://127.1.0.1:8081")
		}
		p.envName(ds+".api_key_env", d.APIKeyEnv, true, "the PowerDNS API key")
		p.required(ds+".server_id", d.ServerID, "the server ID in the API path, normally localhost")
		if p.required(ds+".address", d.Address, "the address answering DNS queries, host:port") {
			p.hostPort(ds+".address", d.Address, "127.1.0.1:53")
		}
	}

	db := at + ".database"
	if p.required(db+".address", s.Database.Address, "the database's host:port") {
		p.hostPort(db+".address", s.Database.Address, "127.1.0.1:3306")
	}
	if p.required(db+".role", s.Database.Role, "primary or replica, as provisioned") {
		p.oneOf(db+".role", s.Database.Role, "primary", "replica")
	}
	p.envName(db+".dsn_env", s.Database.DSNEnv, true, "the admin DSN")
	p.envName(db+".replication_user_env", s.Database.ReplicationUserEnv, false, "the replication user")
	p.envName(db+".replication_password_env", s.Database.ReplicationPasswordEnv, false, "the replication password")
	if (s.Database.ReplicationUserEnv == "") != (s.Database.ReplicationPasswordEnv == "") {
		missing := db + ".replication_password_env"
		if s.Database.ReplicationUserEnv == "" {
			missing = db + ".replication_user_env"
		}
		p.fail(missing, "required: replication_user_env and replication_password_env go together; set both or neither")
	}

	p.port(at+".snmp.port", s.SNMP.Port)
	p.envName(at+".snmp.community_env", s.SNMP.CommunityEnv, false, "the SNMP community")
	p.positive(at+".snmp.timeout", s.SNMP.Timeout)
}

// known describes the valid choices for an unknown reference.
func known(what string, names []string) string {
	if len(names) == 0 {
		return "no " + what + " are defined"
	}
	return "defined " + what + ": " + strings.Join(names, ", ")
}

// sortedKeys returns a map's keys in order, so that checks (and their error
// order) do not depend on map iteration.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
