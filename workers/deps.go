package workers

import (
	"fmt"
	"net/http"
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

// BuildDeps builds every activity struct for the given sites from the
// platform file, resolving the secrets it names through env. Only those
// sites' variables must be set: a site's worker need not know the other
// sites' passwords.
func BuildDeps(p *platform.Platform, env platform.Env, sites []string) (Deps, error) {
	if err := p.CheckSecrets(env, sites...); err != nil {
		return Deps{}, err
	}
	dnsSites := map[string]dns.SiteConfig{}
	drivers := map[string]lb.Driver{}
	snmpSites := map[string]snmp.SiteConfig{}
	probes := map[string]health.SiteProbeConfig{}
	vcs := map[string]vsphere.SiteConfig{}
	dbs := map[string]db.SiteConfig{}
	for _, name := range sites {
		s, ok := p.Site(name)
		if !ok {
			return Deps{}, fmt.Errorf("site %q is not in the platform file (it has %s)", name, strings.Join(p.SiteNames(), ", "))
		}
		var servers []dns.Server
		var dnsAddrs []string
		for i, srv := range s.DNS.Servers {
			key, err := p.DNSAPIKey(name, i, env)
			if err != nil {
				return Deps{}, err
			}
			servers = append(servers, dns.Server{APIURL: srv.APIURL, APIKey: key, ServerID: srv.ServerID, Address: srv.Address})
			dnsAddrs = append(dnsAddrs, srv.Address)
		}
		dnsSites[name] = dns.SiteConfig{Servers: servers}

		drivers[name] = lbDriver(name, s.LB)

		user, pass, err := p.VCenterCredentials(name, env)
		if err != nil {
			return Deps{}, err
		}
		vc := s.VCenter
		vcs[name] = vsphere.SiteConfig{
			URL: vc.URL, Insecure: vc.Insecure, Username: user, Password: pass, Datacenter: vc.Datacenter,
			Cluster: vc.Cluster, Hosts: vc.Hosts, Datastore: vc.Datastore, Network: vc.Network, Folder: vc.Folder,
			ResourcePool: vc.ResourcePool,
		}

		community, err := p.SNMPCommunity(name, env)
		if err != nil {
			return Deps{}, err
		}
		snmpSites[name] = snmp.SiteConfig{Port: s.SNMP.Port, Community: community, Timeout: s.SNMP.Timeout.Duration}

		dsn, err := p.DatabaseDSN(name, env)
		if err != nil {
			return Deps{}, err
		}
		// Replication credentials are optional: a site that is only ever a
		// primary needs none.
		var replUser, replPass string
		if s.Database.ReplicationUserEnv != "" {
			if replUser, replPass, err = p.ReplicationCredentials(name, env); err != nil {
				return Deps{}, err
			}
		}
		dbs[name] = db.SiteConfig{Address: s.Database.Address, DSN: dsn, ReplicationUser: replUser, ReplicationPassword: replPass}
		probe := health.SiteProbeConfig{
			LBFrontend: s.LB.Frontend, LBRuntimeAPI: s.LB.RuntimeAPI, DNSServers: dnsAddrs,
			DBAddress: s.Database.Address, DBDSN: dsn, Timeout: time.Second,
		}
		if len(p.Services) > 0 {
			probe.Record = p.Services[0].DNSRecord
		}
		if s.LB.Type == "nginx" {
			// nginx has no runtime API to probe.
			probe.LBRuntimeAPI = ""
		}
		probes[name] = probe
	}
	var d Deps
	var err error
	if d.DNS, err = dns.New(dnsSites); err != nil {
		return Deps{}, fmt.Errorf("DNS activities: %w", err)
	}
	d.LB = lb.New(drivers)
	d.VSphere = vsphere.New(vcs)
	d.DB = db.New(dbs)
	if d.SNMP, err = snmp.New(snmp.NewPoller(), snmpSites); err != nil {
		return Deps{}, fmt.Errorf("SNMP activities: %w", err)
	}
	if d.Health, err = health.New(probes, &http.Client{Timeout: 10 * time.Second}); err != nil {
		return Deps{}, fmt.Errorf("health activities: %w", err)
	}
	return d, nil
}

func lbDriver(site string, c platform.LB) lb.Driver {
	if c.Type == "nginx" {
		return lb.NewNginx(lb.NginxConfig{
			Site: site, Upstream: c.Backend, ConfigDir: c.ConfigDir, ReloadCommand: strings.Fields(c.ReloadCommand),
		})
	}
	return lb.NewHAProxy(lb.HAProxyConfig{Site: site, RuntimeAPI: c.RuntimeAPI, Backend: c.Backend, ConfigDir: c.ConfigDir})
}
