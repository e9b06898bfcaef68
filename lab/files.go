package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/microdc/mdc/lab/mariadb"
	"github.com/microdc/mdc/platform"
)

// Names of the environment variables the lab's platform file refers to.
const (
	EnvVCUser        = "MDC_LAB_VC_USER"
	EnvVCPassword    = "MDC_LAB_VC_PASSWORD"
	EnvPDNSAPIKey    = "MDC_LAB_PDNS_API_KEY"
	EnvDBReplUser    = "MDC_LAB_DB_REPL_USER"
	EnvDBReplPass    = "MDC_LAB_DB_REPL_PASSWORD"
	EnvSNMPCommunity = "MDC_LAB_SNMP_COMMUNITY"
)

// EnvDBDSN names the variable holding site's admin DSN.
func EnvDBDSN(site string) string { return "MDC_LAB_" + strings.ToUpper(site) + "_DB_DSN" }

// PlatformPath is where the lab writes its platform file.
func (l *Lab) PlatformPath() string { return filepath.Join(l.opts.Dir, "platform.yaml") }

// EnvPath is where the lab writes its secrets as shell variable assignments.
func (l *Lab) EnvPath() string { return filepath.Join(l.opts.Dir, "lab.env") }

// Env returns the lab's secrets as the environment variables its platform
// file names, for processes (and in-process components) that use the lab.
func (l *Lab) Env() map[string]string {
	env := map[string]string{
		EnvVCUser: l.sec.VCenterUser, EnvVCPassword: l.sec.VCenterPassword, EnvPDNSAPIKey: l.sec.PDNSAPIKey,
		EnvDBReplUser: "mdc_repl", EnvDBReplPass: l.sec.DBReplPassword, EnvSNMPCommunity: l.sec.SNMPCommunity,
	}
	for _, s := range l.sites {
		env[EnvDBDSN(s.Name)] = mariadb.DSN("mdc_admin", l.sec.DBAdminPassword, s.dbAddr(), "")
	}
	return env
}

// Lookup resolves a variable from the lab's secrets first, then the process
// environment: what in-process components pass to platform secret resolution.
func (l *Lab) Lookup(name string) (string, bool) {
	if v, ok := l.Env()[name]; ok {
		return v, true
	}
	return os.LookupEnv(name)
}

// Platform describes the lab as a platform file, so that everything built
// for real sites runs against the lab unchanged.
func (l *Lab) Platform() *platform.Platform {
	p := &platform.Platform{Version: 1, Name: "lab", Regions: map[string]platform.Region{}}
	zone := l.opts.Zone
	for _, s := range l.sites {
		p.Regions[s.Region] = platform.Region{Subnets: []string{s.Subnet}}
		role := "replica"
		if s.Index == 0 {
			role = "primary"
		}
		site := platform.Site{
			Name: s.Name, Region: s.Region, Location: "lab " + s.infraIP(),
			VCenter: platform.VCenter{
				URL: "https://" + s.vcAddr() + "/sdk", Insecure: true,
				UsernameEnv: EnvVCUser, PasswordEnv: EnvVCPassword,
			},
			LB: platform.LB{
				Type: "haproxy", RuntimeAPI: s.runtimeAPI(), Backend: backendName, Frontend: s.frontend(),
				ConfigDir: filepath.Join(s.dir, "haproxy", "conf.d"),
			},
			DNS: platform.DNS{Servers: []platform.DNSServer{{
				APIURL: "http://" + s.pdnsAPIAddr(), APIKeyEnv: EnvPDNSAPIKey, ServerID: "localhost", Address: s.dnsAddr(),
			}}},
			Database: platform.Database{
				Address: s.dbAddr(), Role: role, DSNEnv: EnvDBDSN(s.Name),
				ReplicationUserEnv: EnvDBReplUser, ReplicationPasswordEnv: EnvDBReplPass,
			},
			SNMP: platform.SNMP{Port: l.opts.Plan.SNMPPort, CommunityEnv: EnvSNMPCommunity, Timeout: platform.Duration{Duration: time.Second}},
		}
		if s.vc != nil {
			site.VCenter.Datacenter = s.vc.Datacenter()
			site.VCenter.Cluster = s.vc.Cluster()
			site.VCenter.Hosts = s.vc.Hosts()
			site.VCenter.Datastore = s.vc.Datastore()
			site.VCenter.Network = s.vc.Network()
			site.VCenter.Folder = s.vc.Folder()
			site.VCenter.ResourcePool = s.vc.ResourcePool()
		}
		p.Sites = append(p.Sites, site)
	}
	p.Services = []platform.Service{{
		Name: serviceName, Zone: zone, DNSRecord: "www." + zone, TTL: 60, Template: "web-template", Snapshot: "golden",
		Port: l.opts.Plan.ServicePort, HealthPath: healthPath,
		Replicas: platform.Replicas{Min: 1, Max: 4},
		Scale: platform.ScalePolicy{
			OutLoad: 2.0, InLoad: 1.0,
			OutWindow: platform.Duration{Duration: 5 * time.Second}, InWindow: platform.Duration{Duration: 10 * time.Second},
			OutCooldown: platform.Duration{Duration: 10 * time.Second}, InCooldown: platform.Duration{Duration: 20 * time.Second},
		},
	}}
	// The lab's policy is tuned for fast drills: a site is declared down after
	// 3 missed 1 s heartbeats, and no human needs to approve.
	p.Failover = platform.FailoverPolicy{
		DetectionInterval: platform.Duration{Duration: time.Second}, Misses: 3, ObserverQuorum: 2, Mode: "automatic",
		BlockPeriod: platform.Duration{Duration: 10 * time.Minute}, ApprovalDeadline: platform.Duration{Duration: 5 * time.Minute},
		ApprovalDefault: "abort", MaxRPO: platform.Duration{Duration: 30 * time.Second},
	}
	if len(l.sites) > 1 {
		first, second := l.sites[0], l.sites[1]
		p.Replication = []platform.ProtectedVM{
			{VM: first.Name + "-db-1", Site: first.Name, Target: second.Name, RPO: platform.Duration{Duration: 15 * time.Minute}, Keep: 3},
		}
	}
	return p
}

// WriteFiles writes the platform file and lab.env (the secrets, 0600, as
// `export NAME='value'` lines to source in another shell).
func (l *Lab) WriteFiles() error {
	b, err := platform.Marshal(l.Platform())
	if err != nil {
		return fmt.Errorf("render lab platform file: %w", err)
	}
	header := "# Written by the mdc lab: it describes the running lab. Secrets are in lab.env.\n"
	if err := writeFileAtomic(l.PlatformPath(), append([]byte(header), b...), 0o644); err != nil {
		return err
	}
	env := l.Env()
	names := make([]string, 0, len(env))
	for k := range env {
		names = append(names, k)
	}
	sort.Strings(names)
	var sb strings.Builder
	sb.WriteString("# The lab's credentials. Source it: . " + l.EnvPath() + "\n")
	for _, k := range names {
		sb.WriteString("export " + k + "='" + env[k] + "'\n")
	}
	// The CLI finds this lab's platform file wherever the state dir is
	// (mdc dev --state-dir, make dev STATE_DIR=...): without it, commands
	// run from another shell looked in the default state dir.
	sb.WriteString("# The platform file of this lab, for mdc's commands.\n")
	sb.WriteString("export MDC_PLATFORM_FILE='" + l.PlatformPath() + "'\n")
	return writeFileAtomic(l.EnvPath(), []byte(sb.String()), 0o600)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s is corrupt (remove it to start that part afresh): %w", path, err)
	}
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, b, 0o600)
}
