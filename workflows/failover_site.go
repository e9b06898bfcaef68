package workflows

import (
	"fmt"
	"net"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/microdc/mdc/apperrors"
)

// ModeTest is FailoverSite's drill mode: capacity comes up isolated at the
// target, is checked directly and is cleaned up; production is not touched.
const ModeTest = "test"

// Failover policy modes and approval defaults (platform.FailoverPolicy).
const (
	// ApprovalAutomatic fails over without waiting for a person.
	ApprovalAutomatic = "automatic"
	// ApprovalRequired waits for approve/reject until the deadline.
	ApprovalRequired = "approval"
	// ApprovalProceed fails over when the approval deadline passes.
	ApprovalProceed = "proceed"
	// ApprovalAbort gives up when the approval deadline passes.
	ApprovalAbort = "abort"
)

// Failover statuses: the short, stable code of how a FailoverSite run ended.
// It is the MdcOutcome search attribute and the last token of the outcome
// event's subject (mdc.events.failover.<status>); Outcome says it in words.
const (
	StatusFailedOver    = "failed-over"
	StatusDrillPassed   = "drill-passed"
	StatusNotFailedOver = "not-failed-over" // the site answers, or the observers' quorum was not met
	StatusRefused       = "refused"         // anti-flapping block, or replica lag beyond the max RPO
	StatusRejected      = "rejected"        // an approver said no
	StatusAborted       = "aborted"         // approval deadline passed with default abort
	StatusDryRun        = "dry-run"
	StatusFailed        = "failed" // the run failed with an error (search attribute and event only)
)

// Defaults for FailoverTimeouts fields left zero.
const (
	DefaultFailoverGTIDWait = time.Minute
	DefaultFailoverCapacity = 5 * time.Minute
	DefaultFailoverVerify   = time.Minute
	// DefaultFailoverCutoverTTL is the DNS TTL while moving, in seconds.
	DefaultFailoverCutoverTTL = 5
)

// FailoverSiteInput says which site failed, where to move it and the
// platform facts the workflow needs (build it with NewFailoverSiteInput).
type FailoverSiteInput struct {
	FailedSite string
	TargetSite string
	// Mode is disaster (site lost), planned (no data loss) or test (drill).
	Mode        string
	Reason      string
	RequestedBy string
	// Force overrides the refusals meant for automation: a reachable site
	// in disaster mode, the anti-flapping block, a failed anti-flapping
	// check and replica lag beyond Policy.MaxRPO. What it overrode is
	// listed in the result's Forced.
	Force bool `json:",omitempty"`
	// DryRun returns the plan (every step and its target) and does nothing.
	DryRun bool `json:",omitempty"`
	// DetectedAt is when the failure was first seen (by a monitor); RTO is
	// measured from it when it is earlier than the workflow's start.
	DetectedAt time.Time `json:",omitempty"`
	// PrimaryGTID is the failed primary's last known gtid_binlog_pos, if a
	// monitor recorded it: a disaster promotion then counts lost
	// transactions exactly instead of estimating from idle time.
	PrimaryGTID string `json:",omitempty"`
	// ServingAtFailedSite is how many web nodes each service (by name) had
	// in service at the failed site when last seen; used when the failed
	// vCenter cannot be asked (disaster).
	ServingAtFailedSite map[string]int `json:",omitempty"`
	Policy              FailoverPolicy
	// Sites are every site of the platform (observers vote from each).
	Sites    []FailoverSiteFacts
	Regions  []FailoverRegion
	Services []FailoverService
	// DBAppUser is the application's database account; when set, fencing
	// also ends its sessions on the failed primary.
	DBAppUser string `json:",omitempty"`
	// FenceExclude names VMs at the failed site that fencing leaves running.
	FenceExclude []string         `json:",omitempty"`
	Timeouts     FailoverTimeouts `json:",omitempty"`
}

// FailoverPolicy is the platform's failover policy, as the workflow uses it.
type FailoverPolicy struct {
	// ObserverQuorum is how many observers must see the failed site
	// unreachable (capped at the number of observer sites).
	ObserverQuorum int
	// ApprovalMode is automatic or approval.
	ApprovalMode     string
	ApprovalDeadline time.Duration
	// ApprovalDefault is proceed or abort: what happens at the deadline.
	ApprovalDefault string
	// BlockPeriod: a site that failed over less than this long ago is not
	// failed over again unless forced.
	BlockPeriod time.Duration
	// MaxRPO bounds the data a disaster promotion may lose; 0 is unbounded.
	MaxRPO time.Duration
}

// FailoverSiteFacts is one site as the workflow needs it.
type FailoverSiteFacts struct {
	Name   string
	Region string `json:",omitempty"`
	// Frontend is the load balancer's frontend, host:port: what DNS answers.
	Frontend string
	// DNSServers are the site's authoritative servers, host:port.
	DNSServers []string
	DBAddress  string `json:",omitempty"`
}

// FailoverRegion is a region's client subnets (every region's clients are
// sent to the target after a failover).
type FailoverRegion struct {
	Name    string
	Subnets []string
}

// FailoverService is one load-balanced service to move.
type FailoverService struct {
	Name   string
	Zone   string
	Record string
	// TTL is the record's normal TTL in seconds.
	TTL        int
	Port       int
	HealthPath string
	// WritePath is requested through the target's load balancer to prove a
	// database write end to end (the lab's web nodes write a row on /db);
	// empty skips the write check.
	WritePath string `json:",omitempty"`
	// Template and Snapshot are what extra nodes are cloned from.
	Template string
	Snapshot string `json:",omitempty"`
	// MinNodes is the least number of nodes the target must serve.
	MinNodes int
}

// FailoverTimeouts bound the waits; zero fields take the defaults above.
type FailoverTimeouts struct {
	// GTIDWait bounds a planned failover's wait for the replica to catch up.
	GTIDWait time.Duration `json:",omitempty"`
	// Capacity bounds bringing one node up (clone, IP, health).
	Capacity time.Duration `json:",omitempty"`
	// Verify bounds each verification (DNS, LB, HTTP).
	Verify time.Duration `json:",omitempty"`
	// CutoverTTL is the DNS TTL while moving, in seconds.
	CutoverTTL int `json:",omitempty"`
}

// FailoverSiteWorkflow moves a site's service to another site: confirm,
// anti-flapping, approval, fence, promote, capacity, load balancer, DNS,
// verify, record (see DESIGN.md and each step's doc).
func FailoverSiteWorkflow(ctx workflow.Context, in FailoverSiteInput) (FailoverSiteResult, error) {
	f := &failover{in: in}
	if err := f.setup(ctx); err != nil {
		f.res.Status, f.res.Outcome = StatusFailed, "failed: "+err.Error()
		return f.res, err
	}
	if in.DryRun {
		f.res.DryRun, f.res.Status = true, StatusDryRun
		f.res.Outcome = "dry run: nothing was changed; Progress lists the steps a real run takes"
		return f.res, nil
	}
	err := f.run(ctx)
	f.finish(ctx, err)
	return f.res, err
}

// failover is FailoverSiteWorkflow's state.
type failover struct {
	in    FailoverSiteInput
	res   FailoverSiteResult
	steps []failStep
	// finals run after the main steps however those ended.
	finals []failStep

	failed, target *FailoverSiteFacts
	// observers are the sites that probe the failed one, target first.
	observers []string
	// serving counts the failed site's powered-on web nodes per service,
	// when its vCenter answered.
	serving  map[string]int
	observed bool

	dnsFenced, dbFenced bool
	dnsSwitched         bool
	fenceStarted        bool
	fencedAt            time.Time
	nodes               map[string][]FailoverNode
	drill               []drillVM
	// deadSite resolves when the background fencing of a failed site
	// (fenceDisaster) has ended; nil when the fence waited for it.
	deadSite workflow.Future
	// fastObserve asks the failed site's vCenter once (observeOptions).
	fastObserve bool
}

type failStep struct {
	name, target string
	fn           func(workflow.Context) (string, error)
}

func (f *failover) setup(ctx workflow.Context) error {
	in := &f.in
	f.res = FailoverSiteResult{FailedSite: in.FailedSite, TargetSite: in.TargetSite, Mode: in.Mode}
	p := &f.res.Progress
	if err := registerProgress(ctx, p); err != nil {
		return err
	}
	if err := f.validate(); err != nil {
		return err
	}
	if in.Timeouts.GTIDWait == 0 {
		in.Timeouts.GTIDWait = DefaultFailoverGTIDWait
	}
	if in.Timeouts.Capacity == 0 {
		in.Timeouts.Capacity = DefaultFailoverCapacity
	}
	if in.Timeouts.Verify == 0 {
		in.Timeouts.Verify = DefaultFailoverVerify
	}
	if in.Timeouts.CutoverTTL == 0 {
		in.Timeouts.CutoverTTL = DefaultFailoverCutoverTTL
	}
	f.serving = map[string]int{}
	f.nodes = map[string][]FailoverNode{}
	f.plan()
	for _, s := range f.steps {
		p.planned(s.name, s.target)
	}
	for _, s := range f.finals {
		p.planned(s.name, s.target)
	}
	if in.DryRun {
		return nil
	}
	if err := f.registerApproval(ctx); err != nil {
		return err
	}
	return workflow.UpsertTypedSearchAttributes(ctx,
		AttrSite.ValueSet(in.FailedSite), AttrTarget.ValueSet(in.TargetSite), AttrMode.ValueSet(in.Mode))
}

func (f *failover) validate() error {
	in := &f.in
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	switch in.Mode {
	case ModeDisaster, ModePlanned, ModeTest:
	default:
		add("mode %q: expected disaster, planned or test", in.Mode)
	}
	var names []string
	for i := range in.Sites {
		s := &in.Sites[i]
		names = append(names, s.Name)
		if s.Name == in.FailedSite {
			f.failed = s
		}
		if s.Name == in.TargetSite {
			f.target = s
		}
	}
	switch {
	case in.FailedSite == "" || in.TargetSite == "":
		add("failed and target sites are required")
	case in.FailedSite == in.TargetSite:
		add("failed site and target are both %q: fail over to another site", in.FailedSite)
	case f.failed == nil || f.target == nil:
		add("sites %q and %q must both be among the input's sites (%s)", in.FailedSite, in.TargetSite, strings.Join(names, ", "))
	}
	if f.target != nil {
		if _, _, err := net.SplitHostPort(f.target.Frontend); err != nil {
			add("target %s: frontend %q is not host:port", f.target.Name, f.target.Frontend)
		}
	}
	if len(in.Services) == 0 {
		add("no services: name the services to move")
	}
	for _, s := range in.Services {
		if s.Name == "" || s.Zone == "" || s.Record == "" || s.Port <= 0 || s.HealthPath == "" || s.Template == "" || s.TTL <= 0 {
			add("service %q: name, zone, record, ttl, port, health path and template are required", s.Name)
		}
	}
	if len(in.Regions) == 0 {
		add("no regions: DNS needs each region's client subnets")
	}
	pol := in.Policy
	if in.Mode == ModeDisaster && pol.ObserverQuorum < 1 {
		add("observer quorum %d: expected at least 1", pol.ObserverQuorum)
	}
	switch pol.ApprovalMode {
	case ApprovalAutomatic:
	case ApprovalRequired:
		if pol.ApprovalDeadline <= 0 {
			add("approval deadline %s: expected a positive duration", pol.ApprovalDeadline)
		}
		if pol.ApprovalDefault != ApprovalProceed && pol.ApprovalDefault != ApprovalAbort {
			add("approval default %q: expected proceed or abort", pol.ApprovalDefault)
		}
	default:
		add("approval mode %q: expected automatic or approval", pol.ApprovalMode)
	}
	if pol.BlockPeriod < 0 || pol.MaxRPO < 0 {
		add("block period and max RPO must not be negative")
	}
	if len(problems) > 0 {
		return apperrors.BadInput("FailoverSite: %s", strings.Join(problems, "; "))
	}
	for _, s := range in.Sites {
		if s.Name != in.FailedSite && s.Name != in.TargetSite {
			f.observers = append(f.observers, s.Name)
		}
	}
	f.observers = append([]string{in.TargetSite}, f.observers...)
	return nil
}

// plan lays out the steps of the mode; a dry run returns exactly these.
func (f *failover) plan() {
	in, pol := &f.in, f.in.Policy
	step := func(name, target string, fn func(workflow.Context) (string, error)) {
		f.steps = append(f.steps, failStep{name, target, fn})
	}
	records, sites := f.records(), strings.Join(f.siteNames(), ",")
	frontend := f.target.Frontend
	if in.Mode == ModeTest {
		step("capacity (isolated)", fmt.Sprintf("%s: %s nodes for the drill, kept out of the load balancer and DNS", in.TargetSite, f.serviceNames()), f.capacity)
		step("verify (direct)", fmt.Sprintf("HTTP to each drill node at %s, replica state of %s's database", in.TargetSite, in.TargetSite), f.verifyDrill)
		f.finals = append(f.finals, failStep{"cleanup", fmt.Sprintf("power off / destroy what the drill started at %s", in.TargetSite), f.cleanup})
	} else {
		if in.Mode == ModeDisaster {
			step("confirm", fmt.Sprintf("%s unreachable from %s (quorum %d)", in.FailedSite, strings.Join(f.observers, ","), pol.ObserverQuorum), f.confirm)
		}
		step("anti-flap", fmt.Sprintf("failovers of %s in the last %s", in.FailedSite, pol.BlockPeriod), f.antiFlap)
		if pol.ApprovalMode == ApprovalRequired {
			step("approval", fmt.Sprintf("approve/reject within %s, then %s", pol.ApprovalDeadline, pol.ApprovalDefault), f.approval)
		}
		if in.Mode == ModePlanned {
			step("lower TTL", fmt.Sprintf("%s at %s to %ds", records, sites, in.Timeouts.CutoverTTL), f.lowerTTL)
		}
		fence := fmt.Sprintf("%s: VMs powered off, database read-only", in.FailedSite)
		if in.Mode == ModeDisaster {
			fence = fmt.Sprintf("%s: DNS to %s first, then VMs powered off, database read-only", in.FailedSite, frontend)
		}
		step("fence", fence, f.fence)
		promote := fmt.Sprintf("database at %s, max RPO %s", in.TargetSite, pol.MaxRPO)
		if in.Mode == ModePlanned {
			promote = fmt.Sprintf("database at %s once it has %s's last GTID (no data loss)", in.TargetSite, in.FailedSite)
		}
		step("promote", promote, f.promote)
		step("capacity", fmt.Sprintf("%s: %s nodes >= what %s served", in.TargetSite, f.serviceNames(), in.FailedSite), f.capacity)
		step("switch LB", fmt.Sprintf("%s load balancer serves the nodes", in.TargetSite), f.switchLB)
		step("switch DNS", fmt.Sprintf("%s -> %s for every region (%s cutover)", records, frontend, in.Mode), f.switchDNS)
		step("verify", fmt.Sprintf("DNS of every region, http://%s%s, database write", frontend, in.Services[0].HealthPath), f.verify)
		if in.Mode == ModePlanned {
			f.finals = append(f.finals, failStep{"rollback", fmt.Sprintf("if stopped before promotion: %s writable and its VMs on again", in.FailedSite), f.rollback})
		}
	}
	f.finals = append(f.finals,
		failStep{"record", "RTO, RPO and outcome as search attributes", f.record},
		failStep{"publish", "outcome event on mdc.events.failover.<status>", f.publish})
}

// run executes the main steps until one fails or ends the run early with
// an outcome.
func (f *failover) run(ctx workflow.Context) error {
	for i, s := range f.steps {
		if err := f.res.Progress.run(ctx, i, func() (string, error) { return s.fn(ctx) }); err != nil {
			return err
		}
		if f.res.Status != "" {
			return nil
		}
	}
	if f.in.Mode == ModeTest {
		f.end(StatusDrillPassed, fmt.Sprintf("drill passed: %s could take over %s's service", f.in.TargetSite, f.in.FailedSite))
	} else {
		f.end(StatusFailedOver, fmt.Sprintf("failed over: %s serves %s's traffic", f.in.TargetSite, f.in.FailedSite))
	}
	return nil
}

// end records how the run ended; steps after the current one are skipped.
func (f *failover) end(status, outcome string) {
	f.res.Status, f.res.Outcome = status, outcome
}

func (f *failover) force(what string) { f.res.Forced = append(f.res.Forced, what) }

func (f *failover) records() string {
	var rs []string
	for _, s := range f.in.Services {
		rs = append(rs, s.Record)
	}
	return strings.Join(rs, ",")
}

func (f *failover) serviceNames() string {
	var ns []string
	for _, s := range f.in.Services {
		ns = append(ns, s.Name)
	}
	return strings.Join(ns, ",")
}

func (f *failover) siteNames() []string {
	var ns []string
	for _, s := range f.in.Sites {
		ns = append(ns, s.Name)
	}
	return ns
}

// targetIP is the address every region's clients get after the failover.
func (f *failover) targetIP() string {
	host, _, _ := net.SplitHostPort(f.target.Frontend)
	return host
}
