package platform

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// badCase is a broken variant of testdata/base.yaml: old is replaced by new
// (old must occur exactly once), or the whole file is given.
type badCase struct {
	name     string
	old, new string
	whole    *string
	want     string
}

func whole(s string) *string { return &s }

const (
	lbFields      = "(known fields: type, runtime_api, backend, frontend, config_dir, reload_command)"
	ukFrontend    = "      frontend: 127.1.0.2:80"
	ukDSN         = "      dsn_env: UK_DB_DSN"
	webSnapshot   = "    snapshot: golden"
	inlineSecrets = "inline secrets are not allowed; put the value in an environment variable and name it in "
)

var badCases = []badCase{
	{name: "unknown field", old: ukFrontend, new: ukFrontend + "\n      weight: 3",
		want: "b.yaml:17:7: sites[0].lb.weight: unknown field " + lbFields},
	{name: "misspelt field", old: "      runtime_api: 127.1.0.1:9999", new: "      runtime_apl: 127.1.0.1:9999",
		want: "b.yaml:14:5: sites[0].lb.runtime_api: required: HAProxy's runtime API, host:port or an absolute unix socket path\n" +
			"b.yaml:15:7: sites[0].lb.runtime_apl: unknown field; did you mean runtime_api? " + lbFields},
	{name: "inline vcenter password", old: "      password_env: UK_VC_PASS", new: "      password: hunter2",
		want: "b.yaml:8:5: sites[0].vcenter.password_env: required: the name of the environment variable holding the vCenter password\n" +
			"b.yaml:11:7: sites[0].vcenter.password: " + inlineSecrets + "password_env"},
	{name: "inline vcenter username", old: "      username_env: UK_VC_USER", new: "      username_env: UK_VC_USER\n      username: admin",
		want: "b.yaml:11:7: sites[0].vcenter.username: " + inlineSecrets + "username_env"},
	{name: "inline api key", old: "          api_key_env: UK_PDNS_KEY", new: "          api_key_env: UK_PDNS_KEY\n          api_key: hunter2",
		want: "b.yaml:21:11: sites[0].dns.servers[0].api_key: " + inlineSecrets + "api_key_env"},
	{name: "inline dsn", old: ukDSN, new: ukDSN + "\n      dsn: root:hunter2@tcp(127.0.0.1:3306)/",
		want: "b.yaml:26:7: sites[0].database.dsn: " + inlineSecrets + "dsn_env"},
	{name: "inline database password", old: ukDSN, new: ukDSN + "\n      password: hunter2",
		want: "b.yaml:26:7: sites[0].database.password: " + inlineSecrets + "dsn_env"},
	{name: "inline snmp community", old: ukDSN, new: ukDSN + "\n    snmp:\n      community: hunter2",
		want: "b.yaml:27:7: sites[0].snmp.community: " + inlineSecrets + "community_env"},
	{name: "secret pasted into an _env field", old: "      password_env: UK_VC_PASS", new: "      password_env: hunter2",
		want: "b.yaml:11:21: sites[0].vcenter.password_env: expected the name of an environment variable holding the vCenter password ([A-Z_][A-Z0-9_]*, such as MDC_UK_VC_PASSWORD); the value is not shown in case it is the secret itself"},
	{name: "duration without unit", old: "    rpo: 15m", new: "    rpo: 15",
		want: `b.yaml:55:10: replication[0].rpo: expected a duration with a unit, got the bare number 15; write "15s" for seconds or "15m" for minutes`},
	{name: "duration unparseable", old: "    rpo: 15m", new: "    rpo: soon",
		want: `b.yaml:55:10: replication[0].rpo: expected a duration such as "30s", "5m" or "1h30m", got "soon"`},
	{name: "missing vcenter url", old: "      url: https://vc.uk.example/sdk\n", new: "",
		want: "b.yaml:8:5: sites[0].vcenter.url: required: the vCenter or ESXi SDK URL, such as https://vc.example.com/sdk"},
	{name: "missing service template", old: "    template: web-tpl\n", new: "",
		want: "b.yaml:46:5: services[0].template: required: the VM template new nodes are cloned from"},
	{name: "duplicate site", old: "  - name: us", new: "  - name: uk",
		want: `b.yaml:26:11: sites[1].name: duplicate site name "uk"; sites[0] already has it` + "\n" +
			`b.yaml:54:13: replication[0].target: unknown site "us"; defined sites: uk`},
	{name: "site name not a label", old: "  - name: us", new: "  - name: US-East",
		want: `b.yaml:26:11: sites[1].name: expected a name of lowercase letters, digits and '-' (at most 63, not starting or ending with '-'), got "US-East"` + "\n" +
			`b.yaml:54:13: replication[0].target: unknown site "us"; defined sites: uk`},
	{name: "unknown region", old: "    region: eu", new: "    region: asia",
		want: `b.yaml:7:13: sites[0].region: unknown region "asia"; defined regions: eu`},
	{name: "bad CIDR", old: "[10.1.0.0/16]", new: "[10.1.0.0]",
		want: `b.yaml:4:15: regions.eu.subnets[0]: expected a CIDR such as 10.1.0.0/16 or 2001:db8::/32, got "10.1.0.0"`},
	{name: "CIDR with host bits", old: "[10.1.0.0/16]", new: "[10.1.2.3/16]",
		want: `b.yaml:4:15: regions.eu.subnets[0]: "10.1.2.3/16" has host bits set; write 10.1.0.0/16`},
	{name: "overlapping regions", old: "[10.1.0.0/16]", new: "[10.1.0.0/16]\n  us:\n    subnets: [10.0.0.0/8]",
		want: "b.yaml:6:15: regions.us.subnets[0]: 10.0.0.0/8 overlaps 10.1.0.0/16 (regions.eu.subnets[0]); a client network can belong to only one region"},
	{name: "bad URL scheme", old: "https://vc.uk.example/sdk", new: "ftp://vc.uk.example/sdk",
		want: `b.yaml:9:12: sites[0].vcenter.url: expected an http or https URL such as https://vc.example.com/sdk, got "ftp://vc.uk.example/sdk"`},
	{name: "credentials in URL", old: "https://vc.uk.example/sdk", new: "https://admin:hunter2@vc.uk.example/sdk",
		want: "b.yaml:9:12: sites[0].vcenter.url: the URL must not carry credentials; name the environment variables that hold them in the *_env fields (URL shown without them: https://admin:xxxxx@vc.uk.example/sdk)"},
	{name: "two primaries", old: "      role: replica", new: "      role: primary",
		want: "b.yaml:43:13: sites[1].database.role: sites[0] (uk) is already the primary; exactly one site may have role primary"},
	{name: "no primary", old: "      role: primary", new: "      role: replica",
		want: "b.yaml:5:1: sites: no site has database.role primary; exactly one site must be the primary"},
	{name: "unknown role", old: "      role: replica", new: "      role: slave",
		want: `b.yaml:43:13: sites[1].database.role: expected primary or replica, got "slave"`},
	{name: "replication user without password", old: ukDSN, new: ukDSN + "\n      replication_user_env: REPL_USER",
		want: "b.yaml:22:5: sites[0].database.replication_password_env: required: replication_user_env and replication_password_env go together; set both or neither"},
	{name: "record outside zone", old: "www.example.com.", new: "www.example.org.",
		want: `b.yaml:48:17: services[0].dns_record: "www.example.org." is not inside zone "example.com."; the record must be the zone or a name below it`},
	{name: "zone not fully qualified", old: "    zone: example.com.", new: "    zone: example.com",
		want: `b.yaml:47:11: services[0].zone: expected a fully qualified domain name ending in a dot, such as "example.com.", got "example.com"`},
	{name: "in_load not below out_load", old: webSnapshot, new: webSnapshot + "\n    scale: {in_load: 2}",
		want: "b.yaml:51:22: services[0].scale.in_load: in_load 2 must be below out_load 2; otherwise a copy could be added and removed at the same load"},
	{name: "out_load NaN", old: webSnapshot, new: webSnapshot + "\n    scale: {out_load: .nan}",
		want: "b.yaml:51:23: services[0].scale.out_load: expected a load average above 0, got NaN"},
	{name: "negative window", old: webSnapshot, new: webSnapshot + "\n    scale: {out_window: -1s}",
		want: "b.yaml:51:25: services[0].scale.out_window: expected 0s or more, got -1s"},
	{name: "min above max", old: webSnapshot, new: webSnapshot + "\n    replicas: {min: 5, max: 2}",
		want: "b.yaml:51:21: services[0].replicas.min: min 5 is greater than max 2"},
	{name: "min above default max", old: webSnapshot, new: webSnapshot + "\n    replicas: {min: 6}",
		want: "b.yaml:51:21: services[0].replicas.min: min 6 is greater than max 4 (the default max); set max too"},
	{name: "max zero", old: webSnapshot, new: webSnapshot + "\n    replicas: {min: 0, max: 0}",
		want: "b.yaml:51:29: services[0].replicas.max: expected at least 1, got 0"},
	{name: "ttl zero", old: webSnapshot, new: webSnapshot + "\n    ttl: 0",
		want: "b.yaml:51:10: services[0].ttl: expected at least 1, got 0"},
	{name: "ttl not a number", old: webSnapshot, new: webSnapshot + "\n    ttl: abc",
		want: `b.yaml:51:10: services[0].ttl: expected an integer, got "abc"`},
	{name: "quoted port", old: webSnapshot, new: webSnapshot + "\n    port: \"80\"",
		want: `b.yaml:51:11: services[0].port: expected an integer, got the quoted string "80"; remove the quotes`},
	{name: "relative health path", old: webSnapshot, new: webSnapshot + "\n    health_path: healthz",
		want: `b.yaml:51:18: services[0].health_path: expected an absolute URL path such as /healthz, got "healthz"`},
	{name: "duplicate key", old: "    template: web-tpl", new: "    template: web-tpl\n    template: other",
		want: "b.yaml:50:5: services[0].template: duplicate key; first defined at line 49"},
	{name: "replication target is its site", old: "    target: us", new: "    target: uk",
		want: `b.yaml:54:13: replication[0].target: target must differ from site (both are "uk"); a replica at the same site does not survive losing it`},
	{name: "replication from unknown site", old: "    site: uk", new: "    site: fr",
		want: `b.yaml:53:11: replication[0].site: unknown site "fr"; defined sites: uk, us`},
	{name: "replication keep zero", old: "    rpo: 15m", new: "    rpo: 15m\n    keep: 0",
		want: "b.yaml:56:11: replication[0].keep: expected at least 1, got 0"},
	{name: "lb type", old: ukFrontend, new: ukFrontend + "\n      type: traefik",
		want: `b.yaml:17:13: sites[0].lb.type: expected haproxy or nginx, got "traefik"`},
	{name: "nginx without its settings", old: ukFrontend, new: ukFrontend + "\n      type: nginx",
		want: "b.yaml:14:5: sites[0].lb.config_dir: required when type is nginx: the directory holding the generated upstream include\n" +
			`b.yaml:14:5: sites[0].lb.reload_command: required when type is nginx: the command that reloads nginx, such as "systemctl reload nginx"`},
	{name: "relative config dir", old: ukFrontend, new: ukFrontend + "\n      config_dir: lb",
		want: `b.yaml:17:19: sites[0].lb.config_dir: expected an absolute path, got "lb"`},
	{name: "runtime api", old: "      runtime_api: 127.1.0.1:9999", new: "      runtime_api: foo",
		want: `b.yaml:15:20: sites[0].lb.runtime_api: expected host:port or an absolute unix socket path, got "foo"`},
	{name: "frontend port zero", old: ukFrontend, new: "      frontend: 127.1.0.2:0",
		want: `b.yaml:16:17: sites[0].lb.frontend: expected host:port with a port from 1 to 65535, such as 127.1.0.2:8080, got "127.1.0.2:0"`},
	{name: "lb is not a mapping", old: "    lb:\n      runtime_api: 127.1.0.1:9999\n" + ukFrontend + "\n", new: "    lb: haproxy\n",
		want: `b.yaml:14:9: sites[0].lb: expected a mapping of fields, got "haproxy"`},
	{name: "string given a list", old: "    region: eu", new: "    region: [eu]",
		want: "b.yaml:7:13: sites[0].region: expected a string, got a list"},
	{name: "no DNS servers", old: "      servers:\n        - api_url: http://127.1.0.1:8081\n          api_key_env: UK_PDNS_KEY\n          address: 127.1.0.1:53\n", new: "      servers: []\n",
		want: "b.yaml:18:7: sites[0].dns.servers: at least one PowerDNS server is required"},
	{name: "snmp timeout zero", old: ukDSN, new: ukDSN + "\n    snmp: {timeout: 0s}",
		want: "b.yaml:26:21: sites[0].snmp.timeout: expected a duration above 0s, got 0s"},
	{name: "failover mode", old: "    rpo: 15m", new: "    rpo: 15m\nfailover:\n  mode: manual",
		want: `b.yaml:57:9: failover.mode: expected automatic or approval, got "manual"`},
	{name: "observer quorum above sites plus witness", old: "    rpo: 15m", new: "    rpo: 15m\nfailover:\n  observer_quorum: 4",
		want: "b.yaml:57:20: failover.observer_quorum: expected from 1 to 3 (the number of sites, plus one for a witness), got 4"},
	{name: "misses zero", old: "    rpo: 15m", new: "    rpo: 15m\nfailover:\n  misses: 0",
		want: "b.yaml:57:11: failover.misses: expected at least 1, got 0"},
	{name: "approval default", old: "    rpo: 15m", new: "    rpo: 15m\nfailover:\n  approval_default: wait",
		want: `b.yaml:57:21: failover.approval_default: expected proceed or abort, got "wait"`},
	{name: "detection interval zero", old: "    rpo: 15m", new: "    rpo: 15m\nfailover:\n  detection_interval: 0s",
		want: "b.yaml:57:23: failover.detection_interval: expected a duration above 0s, got 0s"},
	{name: "trigger unknown event", old: "    rpo: 15m", new: "    rpo: 15m\ntriggers:\n  - event: site.exploded",
		want: `b.yaml:57:12: triggers[0].event: expected site.down, site.up, node.load, node.health, host.disconnected or vm.powered_off, got "site.exploded"`},
	{name: "trigger without event", old: "    rpo: 15m", new: "    rpo: 15m\ntriggers:\n  - action: record",
		want: "b.yaml:57:5: triggers[0].event: required: the event type the rule matches: site.down, site.up, node.load, node.health, host.disconnected or vm.powered_off"},
	{name: "trigger unknown action", old: "    rpo: 15m", new: "    rpo: 15m\ntriggers:\n  - {event: site.down, action: ignore}",
		want: `b.yaml:57:32: triggers[0].action: expected start, signal-with-start or record, got "ignore"`},
	{name: "trigger duplicate event", old: "    rpo: 15m", new: "    rpo: 15m\ntriggers:\n  - {event: site.down, action: record}\n  - {event: site.down}",
		want: "b.yaml:58:13: triggers[1].event: duplicate rule for site.down; triggers[0] already has it"},
	{name: "trigger starts from an event no workflow takes", old: "    rpo: 15m", new: "    rpo: 15m\ntriggers:\n  - {event: vm.powered_off, action: start}",
		want: "b.yaml:57:37: triggers[0].action: vm.powered_off events can only be recorded (action record): no workflow takes its input from them; site.down can start FailoverSite, node.load can signal-with-start Autoscale"},
	{name: "trigger wrong action for the event", old: "    rpo: 15m", new: "    rpo: 15m\ntriggers:\n  - {event: node.load, action: start}",
		want: "b.yaml:57:32: triggers[0].action: node.load can signal-with-start Autoscale or be recorded, got start"},
	{name: "trigger wrong workflow", old: "    rpo: 15m", new: "    rpo: 15m\ntriggers:\n  - {event: site.down, action: start, workflow: Autoscale}",
		want: `b.yaml:57:49: triggers[0].workflow: site.down can drive FailoverSite only (the trigger builds no other workflow's input from it), got "Autoscale"`},
	{name: "trigger workflow on a recorded-only event", old: "    rpo: 15m", new: "    rpo: 15m\ntriggers:\n  - {event: site.up, action: record, workflow: Failback}",
		want: `b.yaml:57:48: triggers[0].workflow: site.up rules name no workflow (they can only be recorded), got "Failback"`},
	{name: "trigger targets on a load rule", old: "    rpo: 15m", new: "    rpo: 15m\ntriggers:\n  - event: node.load\n    targets: {uk: us}",
		want: "b.yaml:58:5: triggers[0].targets: only site.down rules (FailoverSite) take targets; remove it from this node.load rule"},
	{name: "trigger target unknown", old: "    rpo: 15m", new: "    rpo: 15m\ntriggers:\n  - event: site.down\n    targets: {uk: fr, mars: us}",
		want: `b.yaml:58:19: triggers[0].targets.uk: unknown site "fr"; defined sites: uk, us` + "\n" +
			`b.yaml:58:29: triggers[0].targets.mars: unknown failed site "mars"; defined sites: uk, us`},
	{name: "trigger target is the failed site", old: "    rpo: 15m", new: "    rpo: 15m\ntriggers:\n  - event: site.down\n    targets: {us: us}",
		want: `b.yaml:58:19: triggers[0].targets.us: target must differ from the failed site (both are "us")`},
	{name: "triggers not a list", old: "    rpo: 15m", new: "    rpo: 15m\ntriggers:\n  site.down: start",
		want: "b.yaml:57:3: triggers: expected a list, got a mapping"},
	{name: "trigger misspelt field", old: "    rpo: 15m", new: "    rpo: 15m\ntriggers:\n  - {event: site.down, actoin: record}",
		want: "b.yaml:57:24: triggers[0].actoin: unknown field; did you mean action? (known fields: event, action, workflow, targets)"},
	{name: "version", old: "version: 1", new: "version: 2",
		want: "b.yaml:1:10: version: expected 1 (the only format version), got 2"},
	{name: "yaml syntax error", old: "      role: primary", new: "      role: primary: yes",
		want: "b.yaml:24: invalid YAML: mapping values are not allowed in this context"},
	{name: "no sites", whole: whole("version: 1\nsites: []\n"),
		want: "b.yaml:2:1: sites: at least one site is required"},
	{name: "empty file", whole: whole("# nothing yet\n"),
		want: "b.yaml:1:1: the file is empty; it must describe at least one site (see platform/testdata/example.yaml)"},
	{name: "top level is a list", whole: whole("- uk\n- us\n"),
		want: `b.yaml:1:1: expected a mapping with version, name, regions, sites, services, failover, replication and triggers at the top level, got a list`},
	{name: "two documents", whole: whole("version: 1\n---\nversion: 1\n"),
		want: "b.yaml:2:1: a second YAML document starts here; a platform file is one document, remove the '---' separator"},
}

func TestBadInputs(t *testing.T) {
	base := string(mustRead(t, "testdata/base.yaml"))
	_, err := Parse("b.yaml", []byte(base))
	require.NoError(t, err, "the base of the bad cases must itself be valid")

	for _, tc := range badCases {
		t.Run(tc.name, func(t *testing.T) {
			var data string
			if tc.whole != nil {
				data = *tc.whole
			} else {
				require.Equal(t, 1, strings.Count(base, tc.old), "old text must occur exactly once in base.yaml")
				data = strings.Replace(base, tc.old, tc.new, 1)
			}
			p, err := Parse("b.yaml", []byte(data))
			require.Nil(t, p)
			require.EqualError(t, err, tc.want)
			require.NotContains(t, err.Error(), "hunter2", "a secret leaked into an error")
			var verr *ValidationError
			require.ErrorAs(t, err, &verr)
		})
	}
}
