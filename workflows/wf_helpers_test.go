package workflows

import (
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"

	"github.com/microdc/mdc/activities/db"
	"github.com/microdc/mdc/activities/dns"
	"github.com/microdc/mdc/activities/events"
	"github.com/microdc/mdc/activities/health"
	"github.com/microdc/mdc/activities/lb"
	"github.com/microdc/mdc/activities/vsphere"
	"github.com/microdc/mdc/apperrors"
)

// fakeDC is an in-memory site (or two) behind mocked activities: vCenter
// VMs and hosts, balancer servers, DNS records and database roles. Mocked
// activities run on their own goroutines, hence the mutex.
type fakeDC struct {
	mu          sync.Mutex
	vms         map[string]vsphere.VM // by site/name
	maintenance map[string]bool       // by host
	servers     map[string]lb.ServerStatus
	records     map[string]dns.ServerRecord // by site/name/type
	dbRole      map[string]string
	dbMaster    map[string]string
	// dbMasterAddr, when set for a site, hides its MasterSite behind the
	// primary's address; sqlStopped stops its SQL thread.
	dbMasterAddr map[string]string
	sqlStopped   map[string]bool
	calls        []string
	published    []events.PublishInput
	nextIP       int

	failClone     map[string]error
	failRelocate  map[string]error
	failDrain     map[string]error
	failReplicate error
	unhealthy     map[string]int // health checks that fail before a node answers
	now           func() time.Time
}

// sideEffects are the activities that change something.
var sideEffects = []string{"CloneVM", "PowerOn", "PowerOff", "DestroyVM", "AddServer", "EnableServer", "DrainServer",
	"RemoveServer", "MaintServer", "SetGeoRecord", "SetRecord", "Repoint", "ReplicateVM", "PruneReplicas",
	"RelocateVM", "EnterMaintenance", "ExitMaintenance"}

func newFakeDC() *fakeDC {
	return &fakeDC{
		vms: map[string]vsphere.VM{}, maintenance: map[string]bool{}, servers: map[string]lb.ServerStatus{},
		records: map[string]dns.ServerRecord{}, dbRole: map[string]string{}, dbMaster: map[string]string{},
		dbMasterAddr: map[string]string{}, sqlStopped: map[string]bool{},
		failClone: map[string]error{}, failRelocate: map[string]error{}, failDrain: map[string]error{}, unhealthy: map[string]int{}, nextIP: 10,
	}
}

func (f *fakeDC) record(call string) {
	f.calls = append(f.calls, call)
}

// Calls returns the calls of the named activities, in order ("Name arg").
func (f *fakeDC) Calls(names ...string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		if slices.Contains(names, strings.Fields(c)[0]) {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakeDC) addVM(site string, vm vsphere.VM) {
	if vm.Tags == nil {
		vm.Tags = map[string]string{}
	}
	f.vms[site+"/"+vm.Name] = vm
}

func (f *fakeDC) addServer(site, name, addr, state string) {
	f.servers[site+"/"+name] = lb.ServerStatus{Name: name, Addr: addr, State: state}
}

func hasTags(vm vsphere.VM, tags map[string]string) bool {
	for k, v := range tags {
		if vm.Tags[k] != v {
			return false
		}
	}
	return true
}

// register mocks every activity the site workflows use on env.
func (f *fakeDC) register(env *testsuite.TestWorkflowEnvironment) {
	env.RegisterActivity(&vsphere.Activities{})
	env.RegisterActivity(&lb.Activities{})
	env.RegisterActivity(&db.Activities{})
	env.RegisterActivity(&health.Activities{})
	env.RegisterActivity(&dns.Activities{})
	env.RegisterActivity(&events.Activities{})
	if f.now == nil {
		f.now = env.Now
	}
	f.registerVSphere(env)
	f.registerReplicas(env)
	f.registerLB(env)
	f.registerRest(env)
}

func (f *fakeDC) registerVSphere(env *testsuite.TestWorkflowEnvironment) {
	env.OnActivity(vsphereOps.FindVMs, mock.Anything, mock.Anything).Return(func(_ context.Context, in vsphere.FindVMsInput) (vsphere.FindVMsResult, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.record("FindVMs " + in.Site)
		var r vsphere.FindVMsResult
		for key, vm := range f.vms {
			if !strings.HasPrefix(key, in.Site+"/") || !hasTags(vm, in.Tags) || (len(in.Names) > 0 && !slices.Contains(in.Names, vm.Name)) {
				continue
			}
			vm.Tags = maps.Clone(vm.Tags)
			r.VMs = append(r.VMs, vm)
		}
		sort.Slice(r.VMs, func(i, j int) bool { return r.VMs[i].Name < r.VMs[j].Name })
		return r, nil
	})
	env.OnActivity(vsphereOps.CloneVM, mock.Anything, mock.Anything).After(time.Minute).Return(func(_ context.Context, in vsphere.CloneVMInput) (vsphere.CloneVMResult, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.record("CloneVM " + in.Name)
		if err := f.failClone[in.Name]; err != nil {
			return vsphere.CloneVMResult{}, err
		}
		host := in.Host
		if host == "" {
			host = "h0"
		}
		f.addVM(in.Site, vsphere.VM{Name: in.Name, PowerState: vsphere.PoweredOff, Host: host, Tags: maps.Clone(in.Tags)})
		return vsphere.CloneVMResult{Name: in.Name, Host: host, PowerState: vsphere.PoweredOff, Changed: true}, nil
	})
	env.OnActivity(vsphereOps.PowerOn, mock.Anything, mock.Anything).Return(func(_ context.Context, in vsphere.PowerInput) (vsphere.PowerResult, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.record("PowerOn " + in.Name)
		vm := f.vms[in.Site+"/"+in.Name]
		vm.PowerState = vsphere.PoweredOn
		if vm.IP == "" {
			vm.IP = fmt.Sprintf("127.9.0.%d", f.nextIP)
			f.nextIP++
		}
		f.vms[in.Site+"/"+in.Name] = vm
		return vsphere.PowerResult{PowerState: vsphere.PoweredOn, Changed: true}, nil
	})
	env.OnActivity(vsphereOps.WaitForIP, mock.Anything, mock.Anything).Return(func(_ context.Context, in vsphere.WaitForIPInput) (vsphere.WaitForIPResult, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.record("WaitForIP " + in.Name)
		return vsphere.WaitForIPResult{IP: f.vms[in.Site+"/"+in.Name].IP}, nil
	})
	env.OnActivity(vsphereOps.DestroyVM, mock.Anything, mock.Anything).Return(func(_ context.Context, in vsphere.DestroyVMInput) (vsphere.DestroyVMResult, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.record("DestroyVM " + in.Name)
		_, ok := f.vms[in.Site+"/"+in.Name]
		delete(f.vms, in.Site+"/"+in.Name)
		return vsphere.DestroyVMResult{Changed: ok}, nil
	})
	env.OnActivity(vsphereOps.RelocateVM, mock.Anything, mock.Anything).Return(func(_ context.Context, in vsphere.RelocateVMInput) (vsphere.RelocateVMResult, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.record("RelocateVM " + in.Name + " " + in.Host)
		if err := f.failRelocate[in.Name]; err != nil {
			return vsphere.RelocateVMResult{}, err
		}
		vm := f.vms[in.Site+"/"+in.Name]
		from := vm.Host
		vm.Host = in.Host
		f.vms[in.Site+"/"+in.Name] = vm
		return vsphere.RelocateVMResult{From: from, Host: in.Host, Changed: from != in.Host}, nil
	})
	env.OnActivity(vsphereOps.EnterMaintenance, mock.Anything, mock.Anything).Return(func(_ context.Context, in vsphere.EnterMaintenanceInput) (vsphere.EnterMaintenanceResult, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.record("EnterMaintenance " + in.Host)
		for _, vm := range f.vms {
			if vm.Host == in.Host && vm.PowerState == vsphere.PoweredOn {
				return vsphere.EnterMaintenanceResult{}, apperrors.Conflict("host %s still runs %s", in.Host, vm.Name)
			}
		}
		changed := !f.maintenance[in.Host]
		f.maintenance[in.Host] = true
		return vsphere.EnterMaintenanceResult{Changed: changed}, nil
	})
	env.OnActivity(vsphereOps.ExitMaintenance, mock.Anything, mock.Anything).Return(func(_ context.Context, in vsphere.ExitMaintenanceInput) (vsphere.ExitMaintenanceResult, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.record("ExitMaintenance " + in.Host)
		changed := f.maintenance[in.Host]
		f.maintenance[in.Host] = false
		return vsphere.ExitMaintenanceResult{Changed: changed}, nil
	})
}

func (f *fakeDC) registerLB(env *testsuite.TestWorkflowEnvironment) {
	env.OnActivity(lbOps.ListServers, mock.Anything, mock.Anything).Return(func(_ context.Context, in lb.ListServersInput) (lb.ListServersResult, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.record("ListServers " + in.Site)
		var r lb.ListServersResult
		for key, s := range f.servers {
			if strings.HasPrefix(key, in.Site+"/") {
				r.Servers = append(r.Servers, s)
			}
		}
		sort.Slice(r.Servers, func(i, j int) bool { return r.Servers[i].Name < r.Servers[j].Name })
		return r, nil
	})
	env.OnActivity(lbOps.AddServer, mock.Anything, mock.Anything).Return(func(_ context.Context, in lb.AddServerInput) (lb.AddServerResult, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.record("AddServer " + in.Name)
		old, ok := f.servers[in.Site+"/"+in.Name]
		f.addServer(in.Site, in.Name, in.Addr, lb.StateUp)
		return lb.AddServerResult{Changed: !ok || old.Addr != in.Addr || old.State != lb.StateUp}, nil
	})
	setState := func(call, site, name, state string) (bool, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.record(call + " " + name)
		s, ok := f.servers[site+"/"+name]
		if !ok {
			return false, apperrors.NotFound("no server %s", name)
		}
		changed := s.State != state
		s.State = state
		f.servers[site+"/"+name] = s
		return changed, nil
	}
	env.OnActivity(lbOps.EnableServer, mock.Anything, mock.Anything).Return(func(_ context.Context, in lb.EnableServerInput) (lb.EnableServerResult, error) {
		c, err := setState("EnableServer", in.Site, in.Name, lb.StateUp)
		return lb.EnableServerResult{Changed: c}, err
	})
	env.OnActivity(lbOps.DrainServer, mock.Anything, mock.Anything).Return(func(_ context.Context, in lb.DrainServerInput) (lb.DrainServerResult, error) {
		c, err := setState("DrainServer", in.Site, in.Name, lb.StateDrain)
		if err == nil {
			f.mu.Lock()
			err = f.failDrain[in.Name]
			f.mu.Unlock()
		}
		return lb.DrainServerResult{Changed: c}, err
	})
	env.OnActivity(lbOps.RemoveServer, mock.Anything, mock.Anything).Return(func(_ context.Context, in lb.RemoveServerInput) (lb.RemoveServerResult, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.record("RemoveServer " + in.Name)
		_, ok := f.servers[in.Site+"/"+in.Name]
		delete(f.servers, in.Site+"/"+in.Name)
		return lb.RemoveServerResult{Changed: ok}, nil
	})
}

func (f *fakeDC) registerRest(env *testsuite.TestWorkflowEnvironment) {
	env.OnActivity(healthOps.CheckHTTP, mock.Anything, mock.Anything).Return(func(_ context.Context, in health.CheckHTTPInput) (health.CheckHTTPResult, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.record("CheckHTTP " + in.URL)
		if f.unhealthy[in.URL] > 0 {
			f.unhealthy[in.URL]--
			return health.CheckHTTPResult{Status: 503, Reason: "status 503"}, nil
		}
		return health.CheckHTTPResult{Healthy: true, Status: 200}, nil
	})
	env.OnActivity(dnsA.ReadRecord, mock.Anything, mock.Anything).Return(func(_ context.Context, in dns.ReadRecordInput) (dns.ReadRecordResult, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.record("ReadRecord " + in.Site + " " + in.Type)
		return dns.ReadRecordResult{Agree: true, Servers: []dns.ServerRecord{f.records[in.Site+"/"+in.Name+"/"+in.Type]}}, nil
	})
	env.OnActivity(dnsA.SetGeoRecord, mock.Anything, mock.Anything).Return(func(_ context.Context, in dns.SetGeoRecordInput) (dns.ChangeResult, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.record("SetGeoRecord " + in.Site + " " + in.Name)
		content, ok := geoContent(&ProvisionDNS{Zone: in.Zone, Name: in.Name, TTL: in.TTL, Answers: in.Answers, Fallback: in.Fallback, HealthCheck: in.HealthCheck})
		if !ok {
			return dns.ChangeResult{}, apperrors.BadInput("bad geo record")
		}
		key := in.Site + "/" + in.Name + "/LUA"
		want := dns.ServerRecord{Found: true, TTL: in.TTL, Records: []string{content}}
		changed := !slices.Equal(f.records[key].Records, want.Records) || f.records[key].TTL != in.TTL
		f.records[key] = want
		return dns.ChangeResult{Changed: changed}, nil
	})
	env.OnActivity(eventsOps.Publish, mock.Anything, mock.Anything).Return(func(_ context.Context, in events.PublishInput) (events.PublishResult, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.record("Publish " + in.Subject)
		f.published = append(f.published, in)
		return events.PublishResult{Stream: "MDC_EVENTS", Sequence: uint64(len(f.published))}, nil
	})
	env.OnActivity(dbOps.ReplicationStatus, mock.Anything, mock.Anything).Return(func(_ context.Context, in db.ReplicationStatusInput) (db.ReplicationStatusResult, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.record("ReplicationStatus " + in.Site)
		r := db.ReplicationStatusResult{Role: f.dbRole[in.Site], MasterSite: f.dbMaster[in.Site]}
		r.IORunning, r.SQLRunning = r.Role == db.RoleReplica, r.Role == db.RoleReplica && !f.sqlStopped[in.Site]
		if addr := f.dbMasterAddr[in.Site]; addr != "" {
			// A worker that does not know the primary site sees only its address.
			host, port, _ := net.SplitHostPort(addr)
			r.MasterHost, r.MasterSite = host, ""
			r.MasterPort, _ = strconv.Atoi(port)
		}
		return r, nil
	})
	env.OnActivity(dbOps.Repoint, mock.Anything, mock.Anything).Return(func(_ context.Context, in db.RepointInput) (db.RepointResult, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.record("Repoint " + in.Site + " " + in.PrimarySite)
		changed := f.dbRole[in.Site] != db.RoleReplica || f.dbMaster[in.Site] != in.PrimarySite
		f.dbRole[in.Site], f.dbMaster[in.Site] = db.RoleReplica, in.PrimarySite
		return db.RepointResult{Changed: changed, PrimaryAddress: in.PrimarySite + ":3306"}, nil
	})
}

func (f *fakeDC) replicas(site, of string) []vsphere.Replica {
	var rs []vsphere.Replica
	for key, vm := range f.vms {
		if !strings.HasPrefix(key, site+"/") || vm.Tags[vsphere.TagReplicaOf] == "" || (of != "" && vm.Tags[vsphere.TagReplicaOf] != of) {
			continue
		}
		at, _ := time.Parse(time.RFC3339, vm.Tags[vsphere.TagReplicatedAt])
		rs = append(rs, vsphere.Replica{Name: vm.Name, Of: vm.Tags[vsphere.TagReplicaOf], SourceSite: vm.Tags[vsphere.TagReplicaSite],
			ReplicatedAt: at, PowerState: vm.PowerState, Host: vm.Host})
	}
	sort.Slice(rs, func(i, j int) bool {
		if !rs[i].ReplicatedAt.Equal(rs[j].ReplicatedAt) {
			return rs[i].ReplicatedAt.Before(rs[j].ReplicatedAt)
		}
		return rs[i].Name < rs[j].Name
	})
	return rs
}

// addReplica puts a powered-off replica of vm taken at "at" at site.
func (f *fakeDC) addReplica(site, srcSite, vm, name string, at time.Time) {
	f.addVM(site, vsphere.VM{Name: name, PowerState: vsphere.PoweredOff, Host: "h0", Tags: map[string]string{
		vsphere.TagReplicaOf: vm, vsphere.TagReplicaSite: srcSite, vsphere.TagReplicatedAt: at.UTC().Format(time.RFC3339),
	}})
}

func (f *fakeDC) registerReplicas(env *testsuite.TestWorkflowEnvironment) {
	env.OnActivity(vsphereOps.ReplicateVM, mock.Anything, mock.Anything).Return(func(_ context.Context, in vsphere.ReplicateVMInput) (vsphere.ReplicateVMResult, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.record("ReplicateVM " + in.VM + " " + in.TargetSite + " " + in.ReplicaName)
		if f.failReplicate != nil {
			return vsphere.ReplicateVMResult{}, f.failReplicate
		}
		if _, ok := f.vms[in.Site+"/"+in.VM]; !ok {
			return vsphere.ReplicateVMResult{}, apperrors.NotFound("no VM %s at %s", in.VM, in.Site)
		}
		_, exists := f.vms[in.TargetSite+"/"+in.ReplicaName]
		f.addReplica(in.TargetSite, in.Site, in.VM, in.ReplicaName, in.ReplicatedAt)
		vm := f.vms[in.TargetSite+"/"+in.ReplicaName]
		maps.Copy(vm.Tags, in.Tags)
		return vsphere.ReplicateVMResult{ReplicaName: in.ReplicaName, Host: "h0", Method: "copy", Bytes: 1 << 20, Changed: !exists}, nil
	})
	env.OnActivity(vsphereOps.ListReplicas, mock.Anything, mock.Anything).Return(func(_ context.Context, in vsphere.ListReplicasInput) (vsphere.ListReplicasResult, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.record("ListReplicas " + in.Site + " " + in.Of)
		return vsphere.ListReplicasResult{Replicas: f.replicas(in.Site, in.Of)}, nil
	})
	env.OnActivity(vsphereOps.PruneReplicas, mock.Anything, mock.Anything).Return(func(_ context.Context, in vsphere.PruneReplicasInput) (vsphere.PruneReplicasResult, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.record(fmt.Sprintf("PruneReplicas %s %s %d", in.Site, in.Of, in.Keep))
		var r vsphere.PruneReplicasResult
		rs := f.replicas(in.Site, in.Of)
		for i := len(rs) - 1; i >= 0; i-- {
			switch {
			case rs[i].PowerState == vsphere.PoweredOn:
				r.InUse = append(r.InUse, rs[i].Name)
			case len(r.Kept) < in.Keep:
				r.Kept = append(r.Kept, rs[i].Name)
			default:
				r.Destroyed = append(r.Destroyed, rs[i].Name)
				delete(f.vms, in.Site+"/"+rs[i].Name)
			}
		}
		r.Changed = len(r.Destroyed) > 0
		return r, nil
	})
}
