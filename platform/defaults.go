package platform

import (
	"fmt"
	"time"
)

// Defaults for fields a platform file may leave out. The scale thresholds are
// seed 001's rule: load >= 2 on a one-core node means scale out, load < 1 on
// an extra copy means scale in.
const (
	DefaultVersion           = 1
	DefaultLBType            = "haproxy"
	DefaultLBBackend         = "be_web"
	DefaultDNSServerID       = "localhost"
	DefaultSNMPPort          = 161
	DefaultSNMPTimeout       = 2 * time.Second
	DefaultTTL               = 60
	DefaultServicePort       = 80
	DefaultHealthPath        = "/healthz"
	DefaultReplicasMin       = 1
	DefaultReplicasMax       = 4
	DefaultOutLoad           = 2.0
	DefaultInLoad            = 1.0
	DefaultOutWindow         = 30 * time.Second
	DefaultInWindow          = 2 * time.Minute
	DefaultOutCooldown       = time.Minute
	DefaultInCooldown        = 5 * time.Minute
	DefaultDetectionInterval = 5 * time.Second
	DefaultMisses            = 3
	DefaultObserverQuorum    = 2
	DefaultFailoverMode      = "approval"
	DefaultBlockPeriod       = 30 * time.Minute
	DefaultApprovalDeadline  = 15 * time.Minute
	DefaultApprovalDefault   = "abort"
	DefaultMaxRPO            = 30 * time.Second
	DefaultKeep              = 3
)

// absentFunc decides whether the field at path should get its default;
// zero says whether the field currently holds its zero value.
type absentFunc func(path string, zero bool) bool

// setDefault fills *f with def when absent says so.
func setDefault[T comparable](absent absentFunc, path string, f *T, def T) {
	var zero T
	if absent(path, *f == zero) {
		*f = def
	}
}

// ApplyDefaults fills zero-valued fields of a Platform built in Go (Parse
// already applies defaults, to absent keys only). Because zero means "unset"
// here, a zero that should stay zero (a 0s cooldown) must be written in YAML
// instead; Replicas.Min stays 0 when Max is set.
func (p *Platform) ApplyDefaults() {
	applyDefaults(p, func(path string, zero bool) bool { return zero })
}

// applyDefaults is the one list of defaults, shared by Parse and ApplyDefaults.
func applyDefaults(p *Platform, absent absentFunc) {
	setDefault(absent, "version", &p.Version, DefaultVersion)
	for i := range p.Sites {
		s := &p.Sites[i]
		at := fmt.Sprintf("sites[%d].", i)
		setDefault(absent, at+"lb.type", &s.LB.Type, DefaultLBType)
		setDefault(absent, at+"lb.backend", &s.LB.Backend, DefaultLBBackend)
		for j := range s.DNS.Servers {
			setDefault(absent, fmt.Sprintf("%sdns.servers[%d].server_id", at, j), &s.DNS.Servers[j].ServerID, DefaultDNSServerID)
		}
		setDefault(absent, at+"snmp.port", &s.SNMP.Port, DefaultSNMPPort)
		setDefault(absent, at+"snmp.timeout", &s.SNMP.Timeout, Duration{DefaultSNMPTimeout})
	}
	for i := range p.Services {
		s := &p.Services[i]
		at := fmt.Sprintf("services[%d].", i)
		setDefault(absent, at+"ttl", &s.TTL, DefaultTTL)
		setDefault(absent, at+"port", &s.Port, DefaultServicePort)
		setDefault(absent, at+"health_path", &s.HealthPath, DefaultHealthPath)
		if absent(at+"replicas.min", s.Replicas.Min == 0 && s.Replicas.Max == 0) {
			s.Replicas.Min = DefaultReplicasMin
		}
		setDefault(absent, at+"replicas.max", &s.Replicas.Max, DefaultReplicasMax)
		setDefault(absent, at+"scale.out_load", &s.Scale.OutLoad, DefaultOutLoad)
		setDefault(absent, at+"scale.in_load", &s.Scale.InLoad, DefaultInLoad)
		setDefault(absent, at+"scale.out_window", &s.Scale.OutWindow, Duration{DefaultOutWindow})
		setDefault(absent, at+"scale.in_window", &s.Scale.InWindow, Duration{DefaultInWindow})
		setDefault(absent, at+"scale.out_cooldown", &s.Scale.OutCooldown, Duration{DefaultOutCooldown})
		setDefault(absent, at+"scale.in_cooldown", &s.Scale.InCooldown, Duration{DefaultInCooldown})
	}
	f := &p.Failover
	setDefault(absent, "failover.detection_interval", &f.DetectionInterval, Duration{DefaultDetectionInterval})
	setDefault(absent, "failover.misses", &f.Misses, DefaultMisses)
	setDefault(absent, "failover.observer_quorum", &f.ObserverQuorum, DefaultObserverQuorum)
	setDefault(absent, "failover.mode", &f.Mode, DefaultFailoverMode)
	setDefault(absent, "failover.block_period", &f.BlockPeriod, Duration{DefaultBlockPeriod})
	setDefault(absent, "failover.approval_deadline", &f.ApprovalDeadline, Duration{DefaultApprovalDeadline})
	setDefault(absent, "failover.approval_default", &f.ApprovalDefault, DefaultApprovalDefault)
	setDefault(absent, "failover.max_rpo", &f.MaxRPO, Duration{DefaultMaxRPO})
	for i := range p.Replication {
		setDefault(absent, fmt.Sprintf("replication[%d].keep", i), &p.Replication[i].Keep, DefaultKeep)
	}
	applyTriggerDefaults(p, absent)
}
