package platform

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestExampleParses(t *testing.T) {
	p, err := Load("testdata/example.yaml")
	require.NoError(t, err)
	require.Equal(t, "shop", p.Name)
	require.Equal(t, []string{"uk", "us"}, p.SiteNames())
	require.Equal(t, []string{"127.1.0.0/16", "10.1.0.0/16"}, p.Regions["eu"].Subnets)

	uk, ok := p.Site("uk")
	require.True(t, ok)
	require.Equal(t, "https://127.1.0.1:8989/sdk", uk.VCenter.URL)
	require.Equal(t, []string{"DC0_C0_H0", "DC0_C0_H1"}, uk.VCenter.Hosts)
	require.Equal(t, "127.1.0.1:9999", uk.LB.RuntimeAPI)
	require.Equal(t, "MDC_UK_PDNS_API_KEY", uk.DNS.Servers[0].APIKeyEnv)
	require.Equal(t, 1161, uk.SNMP.Port)
	require.Same(t, uk, p.PrimarySite())

	web, ok := p.Service("web")
	require.True(t, ok)
	require.Equal(t, 8080, web.Port)
	require.Equal(t, 2.0, web.Scale.OutLoad)
	require.Equal(t, 2*time.Minute, web.Scale.InWindow.Duration)
	require.Equal(t, time.Hour, p.Replication[0].RPO.Duration)

	_, ok = p.Site("fr")
	require.False(t, ok)
	_, ok = p.Service("db")
	require.False(t, ok)
}

func TestMinimalGetsDefaults(t *testing.T) {
	p, err := Load("testdata/minimal.yaml")
	require.NoError(t, err)
	require.Equal(t, 1, p.Version)
	s := p.Sites[0]
	require.Equal(t, "haproxy", s.LB.Type)
	require.Equal(t, "be_web", s.LB.Backend)
	require.Equal(t, "localhost", s.DNS.Servers[0].ServerID)
	require.Equal(t, 161, s.SNMP.Port)
	require.Equal(t, 2*time.Second, s.SNMP.Timeout.Duration)

	web := p.Services[0]
	require.Equal(t, 60, web.TTL)
	require.Equal(t, 80, web.Port)
	require.Equal(t, "/healthz", web.HealthPath)
	require.Equal(t, Replicas{Min: 1, Max: 4}, web.Replicas)
	require.Equal(t, ScalePolicy{
		OutLoad: 2, InLoad: 1,
		OutWindow: Duration{30 * time.Second}, InWindow: Duration{2 * time.Minute},
		OutCooldown: Duration{time.Minute}, InCooldown: Duration{5 * time.Minute},
	}, web.Scale)
	require.Equal(t, FailoverPolicy{
		DetectionInterval: Duration{5 * time.Second}, Misses: 3, ObserverQuorum: 2,
		Mode: "approval", BlockPeriod: Duration{30 * time.Minute},
		ApprovalDeadline: Duration{15 * time.Minute}, ApprovalDefault: "abort",
		MaxRPO: Duration{30 * time.Second},
	}, p.Failover)
}

// Defaults fill absent keys only: an explicit zero is the operator's choice.
func TestExplicitZeroIsKept(t *testing.T) {
	data := mustRead(t, "testdata/minimal.yaml")
	data = append(data, []byte(`    replicas: {min: 0, max: 2}
    scale: {out_cooldown: 0s, in_window: ~}
replication:
  - {vm: db1, site: lab, target: lab2, rpo: 10m}
`)...)
	_, err := Parse("p.yaml", data)
	require.EqualError(t, err, `p.yaml:31:34: replication[0].target: unknown site "lab2"; defined sites: lab`)

	data = []byte(string(data[:len(data)-len("lab2, rpo: 10m}\n")]) + "lab, rpo: 10m}\n")
	_, err = Parse("p.yaml", data)
	require.EqualError(t, err, `p.yaml:31:34: replication[0].target: target must differ from site (both are "lab"); a replica at the same site does not survive losing it`)
}

func TestExplicitZeroValues(t *testing.T) {
	data := append(mustRead(t, "testdata/minimal.yaml"), []byte(`    replicas: {min: 0, max: 2}
    scale: {out_cooldown: 0s, in_window: ~}
`)...)
	p, err := Parse("p.yaml", data)
	require.NoError(t, err)
	require.Equal(t, Replicas{Min: 0, Max: 2}, p.Services[0].Replicas)
	require.Equal(t, time.Duration(0), p.Services[0].Scale.OutCooldown.Duration)
	require.Equal(t, 2*time.Minute, p.Services[0].Scale.InWindow.Duration, "null means absent: default")
}

func TestAnchorsAndMergeKeys(t *testing.T) {
	data := []byte(`
x-site: &site
  vcenter: &vc {url: "https://vc/sdk", username_env: U, password_env: P, datacenter: DC0, datastore: ds}
  lb: {runtime_api: "127.0.0.1:9999", frontend: "127.0.0.2:80"}
  dns: {servers: [{api_url: "http://127.0.0.1:8081", api_key_env: K, address: "127.0.0.1:53"}]}
sites:
  - <<: *site
    name: a
    database: {address: "127.0.0.1:3306", role: primary, dsn_env: D}
  - <<: *site
    name: b
    vcenter:
      <<: *vc
      datacenter: DC1
    database: {address: "127.0.0.1:3307", role: replica, dsn_env: D}
`)
	_, err := Parse("p.yaml", data)
	require.EqualError(t, err, `p.yaml:2:1: x-site: unknown field (known fields: version, name, regions, sites, services, failover, replication, triggers)`,
		"extension keys are not special: the file has a fixed set of fields")

	// An anchor is defined before its content, so a merge can name the
	// mapping it sits in; that must be an error, not endless recursion.
	data = []byte(`failover: &f {<<: *f, mode: automatic}
`)
	_, err = Parse("p.yaml", data)
	require.Error(t, err)
	require.Contains(t, err.Error(), "p.yaml:1:19: failover: merge refers to a mapping that contains it")
}

func TestMergeKeys(t *testing.T) {
	data := []byte(`failover: &f {mode: automatic, misses: 5}
sites:
  - name: a
    vcenter: &vc {url: "https://vc/sdk", username_env: U, password_env: P, datacenter: DC0, datastore: ds}
    lb: &lb {runtime_api: "127.0.0.1:9999", frontend: "127.0.0.2:80"}
    dns: &dns {servers: [{api_url: "http://127.0.0.1:8081", api_key_env: K, address: "127.0.0.1:53"}]}
    database: {address: "127.0.0.1:3306", role: primary, dsn_env: D}
  - name: b
    vcenter:
      <<: *vc
      datacenter: DC1
    lb: *lb
    dns: *dns
    database: {address: "127.0.0.1:3307", role: replica, dsn_env: D}
`)
	p, err := Parse("p.yaml", data)
	require.NoError(t, err)
	require.Equal(t, "DC1", p.Sites[1].VCenter.Datacenter)
	require.Equal(t, "https://vc/sdk", p.Sites[1].VCenter.URL)
	require.Equal(t, "127.0.0.1:9999", p.Sites[1].LB.RuntimeAPI)
	require.Equal(t, "automatic", p.Failover.Mode)
	require.Equal(t, 5, p.Failover.Misses)
}

func TestRoundTrip(t *testing.T) {
	for _, file := range []string{"testdata/example.yaml", "testdata/minimal.yaml"} {
		t.Run(filepath.Base(file), func(t *testing.T) {
			p, err := Load(file)
			require.NoError(t, err)
			out, err := Marshal(p)
			require.NoError(t, err)
			back, err := Parse("marshalled.yaml", out)
			require.NoError(t, err, string(out))
			require.Equal(t, p, back)
			again, err := Marshal(back)
			require.NoError(t, err)
			require.Equal(t, string(out), string(again))
		})
	}
}

func TestApplyDefaultsForGoBuiltPlatform(t *testing.T) {
	p := &Platform{
		Sites:    []Site{{Name: "a", DNS: DNS{Servers: []DNSServer{{}}}}},
		Services: []Service{{Name: "web"}, {Name: "api", Replicas: Replicas{Min: 0, Max: 2}}},
	}
	p.ApplyDefaults()
	require.Equal(t, 1, p.Version)
	require.Equal(t, "haproxy", p.Sites[0].LB.Type)
	require.Equal(t, "localhost", p.Sites[0].DNS.Servers[0].ServerID)
	require.Equal(t, Replicas{Min: 1, Max: 4}, p.Services[0].Replicas)
	require.Equal(t, Replicas{Min: 0, Max: 2}, p.Services[1].Replicas, "min 0 with a max is deliberate")
	require.Equal(t, "approval", p.Failover.Mode)
}

func TestEmbeddedExampleIsTheTestdataFile(t *testing.T) {
	require.Equal(t, string(mustRead(t, "testdata/example.yaml")), string(Example))
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	require.ErrorIs(t, err, os.ErrNotExist)
	require.Contains(t, err.Error(), "read platform file: open ")
	require.Contains(t, err.Error(), "point MDC_PLATFORM_FILE at your platform file", "says what to do")
}

func TestManyErrorsAreCollected(t *testing.T) {
	data := []byte(`version: 2
sites:
  - name: UK
    vcenter: {url: "ftp://x", username_env: U, password_env: P, datacenter: D, datastore: S}
    lb: {runtime_api: foo, frontend: "x:1"}
    dns: {servers: []}
    database: {address: "h:1", role: master, dsn_env: D}
`)
	_, err := Parse("p.yaml", data)
	require.EqualError(t, err, `p.yaml:1:10: version: expected 1 (the only format version), got 2
p.yaml:2:1: sites: no site has database.role primary; exactly one site must be the primary
p.yaml:3:11: sites[0].name: expected a name of lowercase letters, digits and '-' (at most 63, not starting or ending with '-'), got "UK"
p.yaml:4:20: sites[0].vcenter.url: expected an http or https URL such as https://vc.example.com/sdk, got "ftp://x"
p.yaml:5:23: sites[0].lb.runtime_api: expected host:port or an absolute unix socket path, got "foo"
p.yaml:6:11: sites[0].dns.servers: at least one PowerDNS server is required
p.yaml:7:38: sites[0].database.role: expected primary or replica, got "master"`)

	var verr *ValidationError
	require.ErrorAs(t, err, &verr)
	require.Len(t, verr.Errors, 7)
	require.Equal(t, FieldError{File: "p.yaml", Line: 5, Column: 23, Field: "sites[0].lb.runtime_api",
		Msg: `expected host:port or an absolute unix socket path, got "foo"`}, verr.Errors[4])
}

func TestErrorCountIsCapped(t *testing.T) {
	data := []byte("sites:\n")
	for i := 0; i < 150; i++ {
		data = append(data, "  - 1\n"...)
	}
	_, err := Parse("p.yaml", data)
	var verr *ValidationError
	require.ErrorAs(t, err, &verr)
	require.Len(t, verr.Errors, maxErrors+1)
	require.Equal(t, "p.yaml: 51 more errors not shown; fix the ones above first", verr.Errors[maxErrors].Error())
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return data
}

func BenchmarkParseExample(b *testing.B) {
	data, err := os.ReadFile("testdata/example.yaml")
	require.NoError(b, err)
	for b.Loop() {
		if _, err := Parse("example.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}
