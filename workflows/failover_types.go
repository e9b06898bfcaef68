package workflows

import "time"

// FailoverSiteResult records what the failover did and what it cost.
type FailoverSiteResult struct {
	FailedSite string
	TargetSite string
	Mode       string
	// Status is the short code (Status* constants); Outcome says it in words,
	// e.g. "not failed over: site reachable".
	Status  string
	Outcome string
	DryRun  bool     `json:",omitempty"`
	Forced  []string `json:",omitempty"`
	// Observers are the votes of the confirmation step (disaster mode).
	Observers []ObserverVote    `json:",omitempty"`
	Approval  *ApprovalDecision `json:",omitempty"`
	Fence     FenceReport
	Database  PromoteReport
	Capacity  []CapacityReport `json:",omitempty"`
	// DNSUnreachable lists DNS servers and sites the cutover could not
	// change or verify; a failback must repair them.
	DNSUnreachable []string `json:",omitempty"`
	// RTOFrom is when the outage clock started (DetectedAt or the start);
	// Verified is when the service was proven at the target.
	RTOFrom    time.Time     `json:",omitempty"`
	Verified   time.Time     `json:",omitempty"`
	RTO        time.Duration `json:",omitempty"`
	RTOSeconds float64       `json:",omitempty"`
	// Outage (planned only) is from fencing the old site to verification:
	// what clients saw of a planned failover, whose RTO also counts the
	// TTL wait while the old site still served.
	Outage time.Duration `json:",omitempty"`
	// RPOSeconds is the data loss of the promotion (Database.Promoted).
	RPOSeconds float64 `json:",omitempty"`
	// EventSubject is where the outcome event went; EventError says why it
	// could not be published (the failover's result stands regardless).
	EventSubject string `json:",omitempty"`
	EventError   string `json:",omitempty"`
	Progress     Progress
}

// ObserverVote is one observer site's probe of the failed site.
type ObserverVote struct {
	Observer  string
	Answered  bool // the probe ran (the observer's worker answered)
	Reachable bool // some component of the failed site answered
	Detail    string
}

// FenceReport says how the failed site was kept from serving and writing.
type FenceReport struct {
	TrafficFencedByDNS bool `json:",omitempty"`
	DatabaseFenced     bool `json:",omitempty"`
	SessionsKilled     int  `json:",omitempty"`
	PoweredOff         []string
	AlreadyOff         []string `json:",omitempty"`
	// Unfenced lists what could not be fenced, and why (partial fencing).
	Unfenced []string `json:",omitempty"`
	// RolledBack says a planned failover that stopped before promotion put
	// the old site back in service.
	RolledBack string `json:",omitempty"`
}

// PromoteReport is the database side of the failover.
type PromoteReport struct {
	Promoted            bool    `json:",omitempty"`
	Refused             bool    `json:",omitempty"`
	PrimaryGTID         string  `json:",omitempty"`
	LagSeconds          float64 `json:",omitempty"`
	LagSource           string  `json:",omitempty"`
	MissingTransactions int64   `json:",omitempty"`
	GTID                string  `json:",omitempty"`
	// ReplicaSecondsBehind is what a drill saw at the target's replica.
	ReplicaSecondsBehind *int64 `json:",omitempty"`
}

// CapacityReport is one service's web tier at the target.
type CapacityReport struct {
	Service string
	Wanted  int
	// WantedFrom says where Wanted came from.
	WantedFrom string
	Nodes      []FailoverNode
	PoweredOn  []string `json:",omitempty"`
	Cloned     []string `json:",omitempty"`
	// Failed are nodes that did not come up, with why.
	Failed []string `json:",omitempty"`
	// CleanedUp are drill nodes powered off or destroyed afterwards.
	CleanedUp []string `json:",omitempty"`
}

// FailoverNode is a web node serving (or, in a drill, tested) at the target.
type FailoverNode struct {
	Name string
	IP   string
}
