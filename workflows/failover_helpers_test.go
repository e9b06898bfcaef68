package workflows

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/microdc/mdc/activities/db"
	"github.com/microdc/mdc/activities/dns"
	"github.com/microdc/mdc/activities/events"
	"github.com/microdc/mdc/activities/health"
	"github.com/microdc/mdc/activities/lb"
	"github.com/microdc/mdc/activities/temporalops"
	"github.com/microdc/mdc/activities/vsphere"
	"github.com/microdc/mdc/apperrors"
)

// foT0 is the test environment's start time (DetectedAt is set before it).
var foT0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// foLab is a two-or-more-site platform behind mocked activities. Every call
// is journaled as "Activity site [detail]" so tests can assert what ran, in
// which order, and what never ran. Mocks run on their own goroutines.
type foLab struct {
	t   *testing.T
	env *testsuite.TestWorkflowEnvironment
	mu  sync.Mutex

	calls []string
	// down sites: every activity touching them fails as unreachable.
	down map[string]bool
	// vms by site, then name.
	vms     map[string]map[string]vsphere.VM
	servers map[string]map[string]string // site -> server name -> state
	ttl     map[string]int               // site -> LUA record TTL
	nextIP  int

	// Behaviour hooks, nil for the default.
	probe     func(observer string) (health.ProbeSiteResult, error)
	list      func(in temporalops.ListWorkflowsInput) (temporalops.ListWorkflowsResult, error)
	promote   func(in db.PromoteInput) (db.PromoteResult, error)
	dbFence   func(in db.FenceInput) (db.FenceResult, error)
	fenceSite func(in vsphere.FenceSiteInput) (vsphere.FenceSiteResult, error)
	addServer func(in lb.AddServerInput) (lb.AddServerResult, error)
	clone     func(in vsphere.CloneVMInput) error
	http      func(url string) health.CheckHTTPResult
	dnsDown   map[string]bool // sites whose DNS API refuses
	publish   func(in events.PublishInput) (events.PublishResult, error)
	// errs makes the named activity ("WaitForGTID", "Fence") fail.
	errs map[string]error

	published []events.PublishInput
	upserts   []temporal.SearchAttributes
}

// foSideEffects are activities that change production.
var foSideEffects = []string{"FenceSite", "Fence", "Promote", "PowerOn", "PowerOff", "CloneVM", "DestroyVM",
	"AddServer", "SetGeoRecord", "SetTTL", "Publish"}

func newFoLab(t *testing.T, sites ...string) *foLab {
	if len(sites) == 0 {
		sites = []string{"uk", "us"}
	}
	l := &foLab{
		t: t, down: map[string]bool{}, vms: map[string]map[string]vsphere.VM{},
		servers: map[string]map[string]string{}, ttl: map[string]int{}, dnsDown: map[string]bool{}, nextIP: 50, errs: map[string]error{},
	}
	for i, s := range sites {
		l.vms[s] = map[string]vsphere.VM{}
		l.servers[s] = map[string]string{}
		l.ttl[s] = 60
		l.addVM(s, vsphere.VM{Name: "web-template", Template: true, PowerState: vsphere.PoweredOff, Tags: foWebTags(s)})
		for n := 1; n <= 2; n++ {
			name := fmt.Sprintf("%s-web-%d", s, n)
			l.addVM(s, vsphere.VM{Name: name, PowerState: vsphere.PoweredOn, IP: fmt.Sprintf("127.%d.0.%d", i+1, 9+n), Tags: foWebTags(s)})
			l.servers[s][name] = lb.StateUp
		}
		l.addVM(s, vsphere.VM{Name: s + "-db-1", PowerState: vsphere.PoweredOn, Tags: map[string]string{vsphere.TagRole: "db"}})
	}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(foT0)
	env.RegisterWorkflowWithOptions(FailoverSiteWorkflow, workflowOpts(FailoverSiteName))
	env.RegisterWorkflowWithOptions(DNSCutoverWorkflow, workflowOpts(DNSCutoverName))
	for _, a := range []any{&dns.Activities{}, &health.Activities{}, &temporalops.Activities{}, &db.Activities{},
		&vsphere.Activities{}, &lb.Activities{}, &events.Activities{}} {
		env.RegisterActivity(a)
	}
	env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.upserts = append(l.upserts, args.Get(0).(temporal.SearchAttributes))
	}).Return(nil)
	l.env = env
	l.mock()
	return l
}

func foWebTags(site string) map[string]string {
	return map[string]string{vsphere.TagRole: "web", vsphere.TagService: "web", vsphere.TagSite: site}
}

func (l *foLab) addVM(site string, vm vsphere.VM) { l.vms[site][vm.Name] = vm }

func (l *foLab) log(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, fmt.Sprintf(format, args...))
}

// Calls returns the journal entries of the named activities, in order.
func (l *foLab) Calls(names ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, c := range l.calls {
		if len(names) == 0 || slices.Contains(names, strings.Fields(c)[0]) {
			out = append(out, c)
		}
	}
	return out
}

// first is the journal index of the first call starting with prefix, -1 if none.
func (l *foLab) first(prefix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, c := range l.calls {
		if strings.HasPrefix(c, prefix) {
			return i
		}
	}
	return -1
}

func (l *foLab) isDown(site string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.down[site]
}

func foUnreachable(what string) error {
	return apperrors.Unavailable(errors.New("connection refused"), "%s did not answer", what)
}

func foQueue(ctx context.Context) string {
	return strings.TrimPrefix(activity.GetInfo(ctx).TaskQueue, "mdc-site-")
}

func (l *foLab) mock() {
	env := l.env
	env.OnActivity(healthA.ProbeSite, mock.Anything, mock.Anything).Return(func(ctx context.Context, in health.ProbeSiteInput) (health.ProbeSiteResult, error) {
		obs := foQueue(ctx)
		l.log("ProbeSite %s from %s", in.Site, obs)
		if l.probe != nil {
			return l.probe(obs)
		}
		return health.ProbeSiteResult{Site: in.Site, Reachable: !l.isDown(in.Site), Components: []health.ComponentResult{{Kind: health.KindLBFrontend, Reachable: !l.isDown(in.Site)}}}, nil
	})
	env.OnActivity(opsA.ListWorkflows, mock.Anything, mock.Anything).Return(func(ctx context.Context, in temporalops.ListWorkflowsInput) (temporalops.ListWorkflowsResult, error) {
		l.log("ListWorkflows %s %s", foQueue(ctx), in.Query)
		if l.list != nil {
			return l.list(in)
		}
		return temporalops.ListWorkflowsResult{}, nil
	})
	l.mockDNS()
	l.mockVSphere()
	l.mockDB()
	env.OnActivity(lbA.AddServer, mock.Anything, mock.Anything).Return(func(_ context.Context, in lb.AddServerInput) (lb.AddServerResult, error) {
		l.log("AddServer %s %s %s", in.Site, in.Name, in.Addr)
		if l.addServer != nil {
			if r, err := l.addServer(in); err != nil {
				return r, err
			}
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		_, had := l.servers[in.Site][in.Name]
		l.servers[in.Site][in.Name] = lb.StateUp
		return lb.AddServerResult{Changed: !had}, nil
	})
	env.OnActivity(lbA.ListServers, mock.Anything, mock.Anything).Return(func(_ context.Context, in lb.ListServersInput) (lb.ListServersResult, error) {
		l.log("ListServers %s", in.Site)
		l.mu.Lock()
		defer l.mu.Unlock()
		var r lb.ListServersResult
		for name, st := range l.servers[in.Site] {
			r.Servers = append(r.Servers, lb.ServerStatus{Name: name, State: st})
		}
		sort.Slice(r.Servers, func(i, j int) bool { return r.Servers[i].Name < r.Servers[j].Name })
		return r, nil
	})
	env.OnActivity(healthA.CheckHTTP, mock.Anything, mock.Anything).Return(func(_ context.Context, in health.CheckHTTPInput) (health.CheckHTTPResult, error) {
		l.log("CheckHTTP %s", in.URL)
		if l.http != nil {
			return l.http(in.URL), nil
		}
		return health.CheckHTTPResult{Healthy: true, Status: 200}, nil
	})
	env.OnActivity(evA.Publish, mock.Anything, mock.Anything).Return(func(_ context.Context, in events.PublishInput) (events.PublishResult, error) {
		l.log("Publish %s", in.Subject)
		if l.publish != nil {
			return l.publish(in)
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		l.published = append(l.published, in)
		return events.PublishResult{Stream: events.DefaultStream, Sequence: uint64(len(l.published))}, nil
	})
}

func (l *foLab) mockDNS() {
	env := l.env
	api := func(site string) error {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.down[site] || l.dnsDown[site] {
			return foUnreachable("pdns at " + site)
		}
		return nil
	}
	env.OnActivity(dnsA.ReadRecord, mock.Anything, mock.Anything).Return(func(_ context.Context, in dns.ReadRecordInput) (dns.ReadRecordResult, error) {
		l.log("ReadRecord %s %s", in.Site, in.Name)
		if err := api(in.Site); err != nil {
			return dns.ReadRecordResult{}, err
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		return dns.ReadRecordResult{Agree: true, Servers: []dns.ServerRecord{{Found: true, TTL: l.ttl[in.Site]}}}, nil
	})
	env.OnActivity(dnsA.SetTTL, mock.Anything, mock.Anything).Return(func(_ context.Context, in dns.SetTTLInput) (dns.ChangeResult, error) {
		l.log("SetTTL %s %d", in.Site, in.TTL)
		if err := api(in.Site); err != nil {
			return dns.ChangeResult{}, err
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		l.ttl[in.Site] = in.TTL
		return dns.ChangeResult{Changed: true}, nil
	})
	env.OnActivity(dnsA.SetGeoRecord, mock.Anything, mock.Anything).Return(func(_ context.Context, in dns.SetGeoRecordInput) (dns.ChangeResult, error) {
		var ips []string
		for _, a := range in.Answers {
			ips = append(ips, a.Region+"="+a.IP)
		}
		l.log("SetGeoRecord %s %s", in.Site, strings.Join(ips, ","))
		if err := api(in.Site); err != nil {
			return dns.ChangeResult{}, err
		}
		return dns.ChangeResult{Changed: true}, nil
	})
	env.OnActivity(dnsA.Verify, mock.Anything, mock.Anything).Return(func(_ context.Context, in dns.VerifyInput) (dns.VerifyResult, error) {
		l.log("Verify %s%s %s", in.Site, strings.Join(in.Servers, ","), strings.Join(in.Expect, ","))
		return dns.VerifyResult{Queries: 1}, nil
	})
}

func (l *foLab) mockVSphere() {
	env := l.env
	vc := func(site string) error {
		if l.isDown(site) {
			return foUnreachable("vCenter at " + site)
		}
		return nil
	}
	env.OnActivity(vsA.FindVMs, mock.Anything, mock.Anything).Return(func(_ context.Context, in vsphere.FindVMsInput) (vsphere.FindVMsResult, error) {
		l.log("FindVMs %s", in.Site)
		if err := vc(in.Site); err != nil {
			return vsphere.FindVMsResult{}, err
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		var r vsphere.FindVMsResult
		for _, vm := range l.vms[in.Site] {
			r.VMs = append(r.VMs, vm)
		}
		sort.Slice(r.VMs, func(i, j int) bool { return r.VMs[i].Name < r.VMs[j].Name })
		return r, nil
	})
	env.OnActivity(vsA.FenceSite, mock.Anything, mock.Anything).Return(func(_ context.Context, in vsphere.FenceSiteInput) (vsphere.FenceSiteResult, error) {
		l.log("FenceSite %s", in.Site)
		if l.fenceSite != nil {
			return l.fenceSite(in)
		}
		if l.isDown(in.Site) {
			return vsphere.FenceSiteResult{Unreachable: true, Reason: "connection refused"}, nil
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		var r vsphere.FenceSiteResult
		for _, name := range sortedKeys(l.vms[in.Site]) {
			vm := l.vms[in.Site][name]
			switch {
			case vm.Template || slices.Contains(in.Exclude, name):
			case vm.PowerState == vsphere.PoweredOn:
				vm.PowerState = vsphere.PoweredOff
				l.vms[in.Site][name] = vm
				r.PoweredOff = append(r.PoweredOff, name)
			default:
				r.AlreadyOff = append(r.AlreadyOff, name)
			}
		}
		return r, nil
	})
	power := func(state string) func(context.Context, vsphere.PowerInput) (vsphere.PowerResult, error) {
		return func(_ context.Context, in vsphere.PowerInput) (vsphere.PowerResult, error) {
			l.log("Power%s %s %s", map[string]string{vsphere.PoweredOn: "On", vsphere.PoweredOff: "Off"}[state], in.Site, in.Name)
			if err := vc(in.Site); err != nil {
				return vsphere.PowerResult{}, err
			}
			l.mu.Lock()
			defer l.mu.Unlock()
			vm := l.vms[in.Site][in.Name]
			vm.PowerState = state
			l.vms[in.Site][in.Name] = vm
			return vsphere.PowerResult{PowerState: state, Changed: true}, nil
		}
	}
	env.OnActivity(vsA.PowerOn, mock.Anything, mock.Anything).Return(power(vsphere.PoweredOn))
	env.OnActivity(vsA.PowerOff, mock.Anything, mock.Anything).Return(power(vsphere.PoweredOff))
	env.OnActivity(vsA.CloneVM, mock.Anything, mock.Anything).Return(func(_ context.Context, in vsphere.CloneVMInput) (vsphere.CloneVMResult, error) {
		l.log("CloneVM %s %s from %s@%s drill=%s", in.Site, in.Name, in.Source, in.Snapshot, in.Tags[TagDrill])
		if l.clone != nil {
			if err := l.clone(in); err != nil {
				return vsphere.CloneVMResult{}, err
			}
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		l.vms[in.Site][in.Name] = vsphere.VM{Name: in.Name, PowerState: vsphere.PoweredOn, Tags: in.Tags}
		return vsphere.CloneVMResult{Name: in.Name, PowerState: vsphere.PoweredOn, Changed: true}, nil
	})
	env.OnActivity(vsA.DestroyVM, mock.Anything, mock.Anything).Return(func(_ context.Context, in vsphere.DestroyVMInput) (vsphere.DestroyVMResult, error) {
		l.log("DestroyVM %s %s", in.Site, in.Name)
		l.mu.Lock()
		defer l.mu.Unlock()
		delete(l.vms[in.Site], in.Name)
		return vsphere.DestroyVMResult{Changed: true}, nil
	})
	env.OnActivity(vsA.WaitForIP, mock.Anything, mock.Anything).Return(func(_ context.Context, in vsphere.WaitForIPInput) (vsphere.WaitForIPResult, error) {
		l.log("WaitForIP %s %s", in.Site, in.Name)
		l.mu.Lock()
		defer l.mu.Unlock()
		vm := l.vms[in.Site][in.Name]
		if vm.IP == "" {
			l.nextIP++
			vm.IP = fmt.Sprintf("127.2.0.%d", l.nextIP)
			l.vms[in.Site][in.Name] = vm
		}
		return vsphere.WaitForIPResult{IP: vm.IP}, nil
	})
}

func (l *foLab) mockDB() {
	env := l.env
	env.OnActivity(dbA.Fence, mock.Anything, mock.Anything).Return(func(_ context.Context, in db.FenceInput) (db.FenceResult, error) {
		l.log("Fence %s kill=%v", in.Site, in.KillSessions)
		if l.dbFence != nil {
			return l.dbFence(in)
		}
		if err := l.errs["Fence"]; err != nil {
			return db.FenceResult{}, err
		}
		if l.isDown(in.Site) {
			return db.FenceResult{}, foUnreachable("database at " + in.Site)
		}
		return db.FenceResult{Killed: 3}, nil
	})
	env.OnActivity(dbA.ReplicationStatus, mock.Anything, mock.Anything).Return(func(_ context.Context, in db.ReplicationStatusInput) (db.ReplicationStatusResult, error) {
		l.log("ReplicationStatus %s", in.Site)
		behind := int64(1)
		return db.ReplicationStatusResult{Role: db.RoleReplica, GTIDBinlogPos: "0-1-100", IOState: "Yes", SQLState: "Yes", SecondsBehindMaster: &behind}, nil
	})
	env.OnActivity(dbA.WaitForGTID, mock.Anything, mock.Anything).Return(func(_ context.Context, in db.WaitForGTIDInput) (db.WaitForGTIDResult, error) {
		l.log("WaitForGTID %s %s", in.Site, in.GTID)
		if err := l.errs["WaitForGTID"]; err != nil {
			return db.WaitForGTIDResult{}, err
		}
		return db.WaitForGTIDResult{Waited: 300 * time.Millisecond, GTIDSlavePos: in.GTID}, nil
	})
	env.OnActivity(dbA.Promote, mock.Anything, mock.Anything).Return(func(_ context.Context, in db.PromoteInput) (db.PromoteResult, error) {
		l.log("Promote %s maxlag=%s force=%v gtid=%s", in.Site, in.MaxLag, in.Force, in.PrimaryGTID)
		if l.promote != nil {
			return l.promote(in)
		}
		if in.PrimaryGTID != "" {
			return db.PromoteResult{LagSource: db.LagCaughtUp, GTID: in.PrimaryGTID}, nil
		}
		return db.PromoteResult{LagSeconds: 2.5, LagSource: db.LagIdleTime, MissingTransactions: -1, GTID: "0-1-99", UncheckedPeers: []string{"uk"}}, nil
	})
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// run executes the workflow and returns its result (zero when it failed),
// its error and its progress (from the query, so failed runs have it too).
func (l *foLab) run(in FailoverSiteInput) (FailoverSiteResult, Progress, error) {
	l.env.ExecuteWorkflow(FailoverSiteName, in)
	require.True(l.t, l.env.IsWorkflowCompleted())
	err := l.env.GetWorkflowError()
	var res FailoverSiteResult
	if err == nil {
		require.NoError(l.t, l.env.GetWorkflowResult(&res))
	}
	var p Progress
	v, qerr := l.env.QueryWorkflow(ProgressQuery)
	require.NoError(l.t, qerr)
	require.NoError(l.t, v.Get(&p))
	return res, p, err
}

// step returns the named step of p.
func foStep(t *testing.T, p Progress, name string) Step {
	for _, s := range p.Steps {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no step %q in %+v", name, p.Steps)
	return Step{}
}

// keyword reads the last value upserted for k.
func (l *foLab) keyword(k temporal.SearchAttributeKeyKeyword) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	v, ok := "", false
	for _, sa := range l.upserts {
		if x, has := sa.GetKeyword(k); has {
			v, ok = x, true
		}
	}
	return v, ok
}

func (l *foLab) float(k temporal.SearchAttributeKeyFloat64) (float64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	v, ok := 0.0, false
	for _, sa := range l.upserts {
		if x, has := sa.GetFloat64(k); has {
			v, ok = x, true
		}
	}
	return v, ok
}

// requireNoSideEffects fails if any production-changing activity ran.
func (l *foLab) requireNoSideEffects(except ...string) {
	var bad []string
	for _, c := range l.Calls(foSideEffects...) {
		if !slices.Contains(except, strings.Fields(c)[0]) {
			bad = append(bad, c)
		}
	}
	require.Empty(l.t, bad, "no side effects expected")
}
