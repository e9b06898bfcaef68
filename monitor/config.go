package monitor

import (
	"fmt"
	"net/http"
	"time"

	"github.com/microdc/mdc/activities/db"
	"github.com/microdc/mdc/activities/health"
	"github.com/microdc/mdc/activities/snmp"
	"github.com/microdc/mdc/activities/vsphere"
	"github.com/microdc/mdc/platform"
)

// build resolves secrets and builds the clients of the loops. Secrets stay
// in the activity structs, which keep them out of errors and logs.
func (m *Monitor) build() error {
	p, env := m.o.Platform, m.o.Env
	timeout := probeTimeout(p.Failover.DetectionInterval.Duration)
	probes := map[string]health.SiteProbeConfig{}
	dbs := map[string]db.SiteConfig{}
	for i := range p.Sites {
		s := &p.Sites[i]
		if s.Name == m.o.Site {
			continue // a site's monitor does not watch its own site
		}
		m.watched = append(m.watched, s.Name)
		// Other sites' DSNs are optional: without one the probe only
		// connects to the database port and no GTID is sampled.
		dsn, err := p.DatabaseDSN(s.Name, env)
		if err != nil {
			dsn = ""
		} else {
			dbs[s.Name] = db.SiteConfig{Address: s.Database.Address, DSN: dsn}
		}
		probes[s.Name] = probeConfig(p, s, dsn, timeout)
	}
	prober, err := health.New(probes, &http.Client{})
	if err != nil {
		return fmt.Errorf("monitor %s: %w", m.name, err)
	}
	m.prober = prober
	m.buildServing(p, env)
	m.gtid = map[string]gtidSampler{}
	if len(dbs) > 0 {
		sampler := dbSampler{a: db.New(dbs)}
		for name := range dbs {
			m.gtid[name] = sampler
		}
	}
	if m.o.Witness {
		return nil
	}
	return m.buildLocal()
}

// buildLocal prepares the loops that watch the monitor's own site: its
// vCenter (node discovery, events), its nodes' SNMP agents and HTTP.
func (m *Monitor) buildLocal() error {
	p, env, name := m.o.Platform, m.o.Env, m.o.Site
	s, _ := p.Site(name)
	user, pass, err := p.VCenterCredentials(name, env)
	if err != nil {
		return fmt.Errorf("monitor for site %s needs the site's vCenter credentials (node discovery, vSphere events): %w", name, err)
	}
	community, err := p.SNMPCommunity(name, env)
	if err != nil {
		return fmt.Errorf("monitor for site %s needs the site's SNMP community: %w", name, err)
	}
	m.vcCfg = vsphere.SiteConfigOf(s.VCenter, user, pass)
	m.site = s
	m.vc = vsphere.New(map[string]vsphere.SiteConfig{name: m.vcCfg})
	m.lister = &vcenterLister{vc: m.vc, site: name, services: p.Services}
	m.poller = snmp.NewPoller()
	port := s.SNMP.Port
	if port == 0 {
		port = snmp.DefaultPort
	}
	m.snmp = snmpTarget{port: port, community: community, timeout: s.SNMP.Timeout.Duration}
	m.checker = &health.Activities{Client: &http.Client{}}
	return nil
}

// probeConfig is how a monitor checks another site from outside: its LB
// frontend, runtime API, every DNS server and its database (SELECT 1 with
// the DSN when known, a TCP connect otherwise). It matches what the
// workers' ProbeSite checks for FailoverSite's confirmation, so the
// monitors and the workflow agree on what "unreachable" means.
func probeConfig(p *platform.Platform, s *platform.Site, dsn string, timeout time.Duration) health.SiteProbeConfig {
	c := health.SiteProbeConfig{
		LBFrontend: s.LB.Frontend, LBRuntimeAPI: s.LB.RuntimeAPI,
		DBAddress: s.Database.Address, DBDSN: dsn, Timeout: timeout,
	}
	for _, srv := range s.DNS.Servers {
		c.DNSServers = append(c.DNSServers, srv.Address)
	}
	if len(p.Services) > 0 {
		c.Record = p.Services[0].DNSRecord
	}
	if s.LB.Type == "nginx" || len(s.LB.RuntimeAPI) > 0 && s.LB.RuntimeAPI[0] == '/' {
		// nginx has no runtime API, and a unix socket is local to the LB's
		// host: neither can be probed from another site.
		c.LBRuntimeAPI = ""
	}
	return c
}
