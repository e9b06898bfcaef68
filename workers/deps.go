package workers

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/microdc/mdc/activities/db"
	"github.com/microdc/mdc/activities/dns"
	"github.com/microdc/mdc/activities/health"
	"github.com/microdc/mdc/activities/lb"
	"github.com/microdc/mdc/activities/snmp"
	"github.com/microdc/mdc/activities/vsphere"
	"github.com/microdc/mdc/platform"
)

// BuildDeps builds the activity structs of a worker that serves the given
// sites, resolving the secrets the platform file names through env.
//
// The worker acts on its own sites' vCenter, LB, DNS and SNMP agents, so
// only their secrets are required. It also observes the other sites (health
// probes, for FailoverSite's quorum), checks their databases before a
// promotion and writes VM replicas to their vCenters; for those it uses
// whatever credentials env holds and probes reachability without them.
func BuildDeps(p *platform.Platform, env platform.Env, sites []string) (Deps, error) {
	for _, name := range sites {
		if _, ok := p.Site(name); !ok {
			return Deps{}, fmt.Errorf("site %q is not in the platform file (it has %s)", name, strings.Join(p.SiteNames(), ", "))
		}
	}
	if err := p.CheckSecrets(env, sites...); err != nil {
		return Deps{}, err
	}
	dnsSites := map[string]dns.SiteConfig{}
	drivers := map[string]lb.Driver{}
	snmpSites := map[string]snmp.SiteConfig{}
	vcs := map[string]vsphere.SiteConfig{}
	dbs := map[string]db.SiteConfig{}
	probes := map[string]health.SiteProbeConfig{}
	for _, name := range p.SiteNames() {
		s, _ := p.Site(name)
		own := slices.Contains(sites, name)
		dsn, dsnErr := p.DatabaseDSN(name, env)
		if own && dsnErr != nil {
			return Deps{}, dsnErr
		}
		if dsnErr == nil {
			cfg := db.SiteConfig{Address: s.Database.Address, DSN: dsn}
			// Replication credentials are optional: a site that is only
			// ever a primary needs none.
			if s.Database.ReplicationUserEnv != "" {
				u, pw, err := p.ReplicationCredentials(name, env)
				if err != nil && own {
					return Deps{}, err
				}
				cfg.ReplicationUser, cfg.ReplicationPassword = u, pw
			}
			dbs[name] = cfg
		}
		probes[name] = probeConfig(p, s, dsn)
		// A replica is written to another site's vCenter by the source
		// site's worker, so other sites' vCenters are configured too when
		// their credentials are at hand.
		user, pass, vcErr := p.VCenterCredentials(name, env)
		if own && vcErr != nil {
			return Deps{}, vcErr
		}
		if vcErr == nil {
			vcs[name] = vsphere.SiteConfigOf(s.VCenter, user, pass)
		}
		if !own {
			continue
		}
		servers, err := dnsServers(p, name, s, env)
		if err != nil {
			return Deps{}, err
		}
		dnsSites[name] = dns.SiteConfig{Servers: servers}
		drivers[name] = lbDriver(name, s.LB)
		community, err := p.SNMPCommunity(name, env)
		if err != nil {
			return Deps{}, err
		}
		snmpSites[name] = snmp.SiteConfig{Port: s.SNMP.Port, Community: community, Timeout: s.SNMP.Timeout.Duration}
	}
	var d Deps
	var err error
	if d.DNS, err = dns.New(dnsSites); err != nil {
		return Deps{}, fmt.Errorf("DNS activities: %w", err)
	}
	d.LB = lb.New(drivers)
	if d.SNMP, err = snmp.New(snmp.NewPoller(), snmpSites); err != nil {
		return Deps{}, fmt.Errorf("SNMP activities: %w", err)
	}
	if d.Health, err = health.New(probes, &http.Client{Timeout: 10 * time.Second}); err != nil {
		return Deps{}, fmt.Errorf("health activities: %w", err)
	}
	d.VSphere = vsphere.New(vcs)
	d.DB = db.New(dbs)
	return d, nil
}

func dnsServers(p *platform.Platform, name string, s *platform.Site, env platform.Env) ([]dns.Server, error) {
	var servers []dns.Server
	for i, srv := range s.DNS.Servers {
		key, err := p.DNSAPIKey(name, i, env)
		if err != nil {
			return nil, err
		}
		servers = append(servers, dns.Server{APIURL: srv.APIURL, APIKey: key, ServerID: srv.ServerID, Address: srv.Address})
	}
	return servers, nil
}

// probeConfig is how any worker checks a site from outside: the LB
// frontend, its runtime API, every DNS server and the database (SELECT 1
// when the DSN is known, a TCP connect otherwise).
func probeConfig(p *platform.Platform, s *platform.Site, dsn string) health.SiteProbeConfig {
	probe := health.SiteProbeConfig{
		LBFrontend: s.LB.Frontend, LBRuntimeAPI: s.LB.RuntimeAPI,
		DBAddress: s.Database.Address, DBDSN: dsn, Timeout: time.Second,
	}
	for _, srv := range s.DNS.Servers {
		probe.DNSServers = append(probe.DNSServers, srv.Address)
	}
	if len(p.Services) > 0 {
		probe.Record = p.Services[0].DNSRecord
	}
	if s.LB.Type == "nginx" {
		// nginx has no runtime API to probe.
		probe.LBRuntimeAPI = ""
	}
	return probe
}

func lbDriver(site string, c platform.LB) lb.Driver {
	if c.Type == "nginx" {
		return lb.NewNginx(lb.NginxConfig{
			Site: site, Upstream: c.Backend, ConfigDir: c.ConfigDir, ReloadCommand: strings.Fields(c.ReloadCommand),
		})
	}
	return lb.NewHAProxy(lb.HAProxyConfig{Site: site, RuntimeAPI: c.RuntimeAPI, Backend: c.Backend, ConfigDir: c.ConfigDir})
}
