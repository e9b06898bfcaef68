// Package platform holds the platform file: the YAML description of the
// sites, services and policies mdc manages, its loading and its validation.
package platform

import "time"

// Platform is the whole platform file.
type Platform struct {
	// Version of the file format; only 1 exists.
	Version int `yaml:"version"`
	// Name of the platform, shown in the UI and events.
	Name string `yaml:"name"`
	// Regions map a region name to the client subnets that belong to it; DNS
	// geo answers send each region to its own site.
	Regions map[string]Region `yaml:"regions"`
	// Sites are the micro data centres.
	Sites []Site `yaml:"sites"`
	// Services are the load-balanced tiers that run on every site.
	Services []Service `yaml:"services"`
	// Failover is the policy for FailoverSite.
	Failover FailoverPolicy `yaml:"failover"`
	// Replication lists the VMs protected by ReplicateVM.
	Replication []ProtectedVM `yaml:"replication"`
	// Triggers are the trigger's rules, at most one per event type; an event
	// type without a rule follows DefaultTriggerRule (see triggers.go).
	Triggers []TriggerRule `yaml:"triggers"`
}

// Region is a set of client networks answered by one site.
type Region struct {
	// Subnets are client networks in CIDR form; each belongs to one region.
	Subnets []string `yaml:"subnets"`
}

// Site is one micro data centre.
type Site struct {
	// Name is DNS-label-like and unique; it appears in task queues
	// (mdc-site-<name>), workflow IDs and VM names.
	Name string `yaml:"name"`
	// Region is a key of Platform.Regions, or empty.
	Region string `yaml:"region"`
	// Location is free text for people.
	Location string   `yaml:"location"`
	VCenter  VCenter  `yaml:"vcenter"`
	LB       LB       `yaml:"lb"`
	DNS      DNS      `yaml:"dns"`
	Database Database `yaml:"database"`
	SNMP     SNMP     `yaml:"snmp"`
}

// VCenter says how to reach the site's vCenter or ESXi host. Credentials are
// names of environment variables, never the secrets themselves.
type VCenter struct {
	// URL is the SDK endpoint (http or https, no credentials in it).
	URL string `yaml:"url"`
	// Insecure skips TLS verification (self-signed lab certificates).
	Insecure    bool   `yaml:"insecure"`
	UsernameEnv string `yaml:"username_env"`
	PasswordEnv string `yaml:"password_env"`
	Datacenter  string `yaml:"datacenter"`
	// Cluster is empty for a standalone ESXi host.
	Cluster string `yaml:"cluster"`
	// Hosts that may run web nodes; empty means all hosts.
	Hosts        []string `yaml:"hosts"`
	Datastore    string   `yaml:"datastore"`
	Network      string   `yaml:"network"`
	Folder       string   `yaml:"folder"`
	ResourcePool string   `yaml:"resource_pool"`
}

// LB is the site's load balancer.
type LB struct {
	// Type is haproxy or nginx.
	Type string `yaml:"type"`
	// RuntimeAPI is HAProxy's runtime API, host:port or a unix socket path.
	RuntimeAPI string `yaml:"runtime_api"`
	// Backend is the HAProxy backend (or nginx upstream) holding the web nodes.
	Backend string `yaml:"backend"`
	// Frontend is the address clients reach (what DNS answers), host:port.
	Frontend string `yaml:"frontend"`
	// ConfigDir is where the desired servers are persisted (and, for nginx,
	// the upstream include lives) so that a reload keeps them.
	ConfigDir string `yaml:"config_dir"`
	// ReloadCommand reloads nginx (nginx only).
	ReloadCommand string `yaml:"reload_command"`
}

// DNS lists the site's authoritative PowerDNS servers.
type DNS struct {
	Servers []DNSServer `yaml:"servers"`
}

// DNSServer is one PowerDNS Authoritative server.
type DNSServer struct {
	APIURL    string `yaml:"api_url"`
	APIKeyEnv string `yaml:"api_key_env"`
	// ServerID in the API path; "localhost" for a stock pdns_server.
	ServerID string `yaml:"server_id"`
	// Address answers DNS queries, host:port; used to verify what clients see.
	Address string `yaml:"address"`
}

// Database is the site's MariaDB/MySQL node.
type Database struct {
	// Address is host:port.
	Address string `yaml:"address"`
	// Role is primary or replica, as provisioned.
	Role string `yaml:"role"`
	// DSNEnv names the variable holding the admin DSN mdc uses (go-sql-driver
	// format, user:password@tcp(host:port)/).
	DSNEnv string `yaml:"dsn_env"`
	// ReplicationUserEnv and ReplicationPasswordEnv name the variables holding
	// the account replicas use to connect to a primary.
	ReplicationUserEnv     string `yaml:"replication_user_env"`
	ReplicationPasswordEnv string `yaml:"replication_password_env"`
}

// SNMP says how to poll the site's nodes.
type SNMP struct {
	// Port is the nodes' SNMP agent UDP port.
	Port int `yaml:"port"`
	// CommunityEnv names the variable holding the community; empty means
	// DefaultSNMPCommunity.
	CommunityEnv string   `yaml:"community_env"`
	Timeout      Duration `yaml:"timeout"`
}

// Service is a load-balanced tier (web nodes) present on every site.
type Service struct {
	// Name is DNS-label-like and unique.
	Name string `yaml:"name"`
	// Zone is fully qualified (trailing dot), such as "example.com.".
	Zone string `yaml:"zone"`
	// DNSRecord is fully qualified and inside Zone.
	DNSRecord string `yaml:"dns_record"`
	// TTL of the record in seconds.
	TTL int `yaml:"ttl"`
	// Template is the VM template nodes are cloned from, Snapshot its golden
	// snapshot that clones are linked to.
	Template string `yaml:"template"`
	Snapshot string `yaml:"snapshot"`
	// Port the nodes serve HTTP on.
	Port int `yaml:"port"`
	// HealthPath answers 200 on a healthy node.
	HealthPath string      `yaml:"health_path"`
	Replicas   Replicas    `yaml:"replicas"`
	Scale      ScalePolicy `yaml:"scale"`
}

// Replicas bounds the copies of a service on each site.
type Replicas struct {
	Min int `yaml:"min"`
	Max int `yaml:"max"`
}

// ScalePolicy is seed 001's rule: a one-core node at load >= 2 gets a copy;
// an extra copy whose load falls below 1 is removed.
type ScalePolicy struct {
	OutLoad     float64  `yaml:"out_load"`
	InLoad      float64  `yaml:"in_load"`
	OutWindow   Duration `yaml:"out_window"`
	InWindow    Duration `yaml:"in_window"`
	OutCooldown Duration `yaml:"out_cooldown"`
	InCooldown  Duration `yaml:"in_cooldown"`
}

// FailoverPolicy governs FailoverSite.
type FailoverPolicy struct {
	DetectionInterval Duration `yaml:"detection_interval"`
	Misses            int      `yaml:"misses"`
	ObserverQuorum    int      `yaml:"observer_quorum"`
	// Mode is automatic or approval.
	Mode             string   `yaml:"mode"`
	BlockPeriod      Duration `yaml:"block_period"`
	ApprovalDeadline Duration `yaml:"approval_deadline"`
	// ApprovalDefault is proceed or abort: what happens at the deadline.
	ApprovalDefault string   `yaml:"approval_default"`
	MaxRPO          Duration `yaml:"max_rpo"`
}

// ProtectedVM is a VM copied to another site on a schedule.
type ProtectedVM struct {
	// VM is the name of the protected VM, running at Site.
	VM   string `yaml:"vm"`
	Site string `yaml:"site"`
	// Target is the site the powered-off replicas are kept at.
	Target string `yaml:"target"`
	// RPO is how old the newest replica may get; it sets the schedule.
	RPO Duration `yaml:"rpo"`
	// Keep is how many replicas are kept at Target.
	Keep int `yaml:"keep"`
}

// Duration is a time.Duration written as "30s", "5m" in YAML. A bare number
// is an error, because its unit would be a guess.
type Duration struct{ time.Duration }
