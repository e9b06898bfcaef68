package workflows

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/microdc/mdc/activities/db"
	"github.com/microdc/mdc/activities/dns"
	"github.com/microdc/mdc/activities/lb"
	"github.com/microdc/mdc/activities/vsphere"
	"github.com/microdc/mdc/apperrors"
	"github.com/microdc/mdc/pdnsapi"
)

// ProvisionSiteInput is everything ProvisionSite needs to bring one site to
// its desired state; NewProvisionSiteInput builds it from the platform file.
type ProvisionSiteInput struct {
	Site     string
	Services []ProvisionService
	// Database, when set, makes the site's database what the platform says:
	// nothing for the primary, a GTID replica of PrimarySite for a replica.
	Database *ProvisionDatabase `json:",omitempty"`
	// MaxParallel bounds how many clones run at once (vCenter queues and
	// the datastore suffer from more); 4 when zero.
	MaxParallel int `json:",omitempty"`
	// IPDeadline bounds the wait for a powered-on VM's guest IP; 5m when zero.
	IPDeadline time.Duration `json:",omitempty"`
	// HealthDeadline bounds the wait for a node's health URL to answer 200
	// once it has an IP; 2m when zero.
	HealthDeadline time.Duration `json:",omitempty"`
}

// ProvisionService is one load-balanced service at the site.
type ProvisionService struct {
	Name string
	// VMs are the names of the VMs the service must have at the site (its
	// minimum replicas, "<site>-<service>-<n>"). Other VMs of the service
	// (scale-out copies) are left alone.
	VMs []string
	// Tags identify the service's VMs (mdc.role, mdc.service, mdc.site) and
	// are written on new clones.
	Tags     map[string]string
	Template string
	Snapshot string `json:",omitempty"`
	// Folder (inside the site's VM folder) and Datastore for clones; empty
	// means the site's own.
	Folder    string `json:",omitempty"`
	Datastore string `json:",omitempty"`
	// Hosts new VMs are spread over (fewest of the service's VMs first);
	// empty lets vSphere pick the least-loaded placement host.
	Hosts []string `json:",omitempty"`
	// Backend is the balancer's backend holding the nodes; the site's lb
	// activities are configured with it, it is here for the record.
	Backend    string `json:",omitempty"`
	Port       int
	HealthPath string
	DNS        *ProvisionDNS `json:",omitempty"`
}

// ProvisionDNS is the service's geo record as the site's DNS servers must
// publish it.
type ProvisionDNS struct {
	Zone        string
	Name        string
	TTL         int
	Answers     []dns.GeoAnswer
	Fallback    string
	HealthCheck *dns.HealthCheck `json:",omitempty"`
}

// Database roles a site can be provisioned with.
const (
	RolePrimary = "primary"
	RoleReplica = "replica"
)

// ProvisionDatabase is the site's place in the database replication.
type ProvisionDatabase struct {
	// Role is primary or replica.
	Role string
	// PrimarySite is the site whose database replicas follow.
	PrimarySite string
	// PrimaryAddress is PrimarySite's database host:port: a replica whose
	// source is this address is recognised even by a worker that does not
	// know the primary site.
	PrimaryAddress string `json:",omitempty"`
}

// ProvisionSiteResult says what the run changed. A run that changed nothing
// (Changed false) found the site complete.
type ProvisionSiteResult struct {
	Site    string
	Changed bool
	// Created are the VMs this run cloned.
	Created []string `json:",omitempty"`
	// PoweredOn are VMs that existed powered off and were powered on.
	PoweredOn []string `json:",omitempty"`
	// AddedToLB are servers this run added to (or fixed in) the balancer.
	AddedToLB []string `json:",omitempty"`
	// Ready are the desired VMs that are powered on and in the balancer.
	Ready []string `json:",omitempty"`
	// OutOfRotation are desired VMs whose servers an operator (or DrainHost)
	// took out of rotation; ProvisionSite leaves them so.
	OutOfRotation []string `json:",omitempty"`
	// DNSChanged are the records this run had to publish.
	DNSChanged []string `json:",omitempty"`
	// DBRepointed is true when the database had to be made a replica.
	DBRepointed bool `json:",omitempty"`
	Progress    Progress
}

// ProvisionSiteWorkflow creates a site's missing VMs from their templates
// (at most MaxParallel clones at once), powers them on, waits for their IP
// and health, puts them in the site's load balancer, publishes the
// services' DNS records and sets up database replication. It is idempotent:
// a complete site is only read. If it fails, it undoes what this run created
// (its balancer servers, then its clones, newest first) and never touches a
// VM that existed before.
func ProvisionSiteWorkflow(ctx workflow.Context, in ProvisionSiteInput) (ProvisionSiteResult, error) {
	ps := &provision{in: in, res: ProvisionSiteResult{Site: in.Site}}
	if err := ps.setup(ctx); err != nil {
		return ps.res, err
	}
	err := ps.run(ctx)
	if err != nil {
		ps.res.Progress.skipRest(ctx, "not reached: an earlier step failed")
		if cerr := ps.compensate(ctx); cerr != nil {
			err = fmt.Errorf("%w; compensation incomplete: %v", err, cerr)
		}
	}
	return ps.res, err
}

type provision struct {
	in   ProvisionSiteInput
	res  ProvisionSiteResult
	jobs []*vmJob
	// failed stops new clones once any VM failed: the run will be undone.
	failed bool
	// dbStatus is the site's replication state read before anything changed.
	dbStatus *db.ReplicationStatusResult
	planStep int
}

func (ps *provision) setup(ctx workflow.Context) error {
	in := &ps.in
	if in.MaxParallel == 0 {
		in.MaxParallel = 4
	}
	if in.IPDeadline == 0 {
		in.IPDeadline = 5 * time.Minute
	}
	if in.HealthDeadline == 0 {
		in.HealthDeadline = 2 * time.Minute
	}
	if problems := in.problems(); len(problems) > 0 {
		return apperrors.BadInput("ProvisionSite %s: %s", in.Site, strings.Join(problems, "; "))
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, AttrSite.ValueSet(in.Site)); err != nil {
		return err
	}
	ps.planStep = ps.res.Progress.planned("plan", in.Site)
	return registerProgress(ctx, &ps.res.Progress)
}

// problems lists everything wrong with the input at once.
func (in *ProvisionSiteInput) problems() []string {
	var ps []string
	if in.Site == "" {
		ps = append(ps, "site is empty")
	}
	if in.MaxParallel < 0 {
		ps = append(ps, fmt.Sprintf("max parallel %d: expected at least 1", in.MaxParallel))
	}
	seen := map[string]bool{}
	for i, s := range in.Services {
		where := fmt.Sprintf("service %d (%s)", i+1, s.Name)
		if s.Name == "" || s.Template == "" {
			ps = append(ps, where+": name and template are required")
		}
		if len(s.Tags) == 0 {
			ps = append(ps, where+": no tags: the service's VMs are found by their tags (mdc.role, mdc.service, mdc.site)")
		}
		if s.Port <= 0 || !strings.HasPrefix(s.HealthPath, "/") {
			ps = append(ps, fmt.Sprintf("%s: port %d and health path %q: expected a port > 0 and a path starting with /", where, s.Port, s.HealthPath))
		}
		for _, vm := range s.VMs {
			if vm == "" || seen[vm] {
				ps = append(ps, fmt.Sprintf("%s: VM name %q is empty or listed twice", where, vm))
			}
			seen[vm] = true
		}
		if d := s.DNS; d != nil && (d.Zone == "" || d.Name == "" || d.TTL <= 0 || len(d.Answers) == 0) {
			ps = append(ps, where+": dns needs a zone, a name, a TTL > 0 and at least one answer")
		}
	}
	if d := in.Database; d != nil {
		switch {
		case d.Role != RolePrimary && d.Role != RoleReplica:
			ps = append(ps, fmt.Sprintf("database role %q: expected primary or replica", d.Role))
		case d.Role == RoleReplica && (d.PrimarySite == "" || d.PrimarySite == in.Site):
			ps = append(ps, fmt.Sprintf("database: a replica needs a primary site other than %s, got %q", in.Site, d.PrimarySite))
		}
	}
	return ps
}

func (ps *provision) run(ctx workflow.Context) error {
	p := &ps.res.Progress
	if err := p.run(ctx, ps.planStep, func() (string, error) { return ps.plan(ctx) }); err != nil {
		return err
	}
	if err := ps.bringUp(ctx); err != nil {
		return err
	}
	for i := range ps.in.Services {
		svc := &ps.in.Services[i]
		if svc.DNS == nil {
			continue
		}
		step := p.planned("publish DNS", svc.DNS.Name)
		if err := p.run(ctx, step, func() (string, error) { return ps.publishDNS(ctx, svc.DNS) }); err != nil {
			return err
		}
	}
	if d := ps.in.Database; d != nil {
		step := p.planned("database replication", fmt.Sprintf("%s %s of %s", ps.in.Site, d.Role, d.PrimarySite))
		if err := p.run(ctx, step, func() (string, error) { return ps.replication(ctx, d) }); err != nil {
			return err
		}
	}
	ps.res.Changed = len(ps.res.Created)+len(ps.res.PoweredOn)+len(ps.res.AddedToLB)+len(ps.res.DNSChanged) > 0 || ps.res.DBRepointed
	return nil
}

// plan reads the site (the service's VMs, the balancer, the database) and
// decides what each desired VM needs, before anything is changed: a name
// taken by a VM that is not the service's, or a database that is not what
// the input expects, fails here with nothing to undo.
func (ps *provision) plan(ctx workflow.Context) (string, error) {
	site := ps.in.Site
	actx := withSite(ctx, site)
	finds := make([]workflow.Future, len(ps.in.Services))
	for i, svc := range ps.in.Services {
		finds[i] = workflow.ExecuteActivity(actx, vsphereOps.FindVMs, vsphere.FindVMsInput{Site: site, Tags: svc.Tags})
	}
	var lbF, dbF workflow.Future
	if len(ps.in.Services) > 0 {
		lbF = workflow.ExecuteActivity(actx, lbOps.ListServers, lb.ListServersInput{Site: site})
	}
	if d := ps.in.Database; d != nil && d.Role == RoleReplica {
		dbF = workflow.ExecuteActivity(actx, dbOps.ReplicationStatus, db.ReplicationStatusInput{Site: site})
	}
	servers := map[string]lb.ServerStatus{}
	if lbF != nil {
		var r lb.ListServersResult
		if err := lbF.Get(ctx, &r); err != nil {
			return "", fmt.Errorf("list the balancer's servers at site %s: %w", site, err)
		}
		for _, s := range r.Servers {
			servers[s.Name] = s
		}
	}
	if dbF != nil {
		var st db.ReplicationStatusResult
		if err := dbF.Get(ctx, &st); err != nil {
			return "", fmt.Errorf("read the database replication state at site %s: %w", site, err)
		}
		if st.Role == db.RolePrimary {
			return "", apperrors.Rejected("site %s's database is a writable primary, but the input makes it a replica of %s: "+
				"after a failover the platform file's roles are stale; run Failback to reprotect it, or provision with the live primary",
				site, ps.in.Database.PrimarySite)
		}
		ps.dbStatus = &st
	}
	create := 0
	for i := range ps.in.Services {
		svc := &ps.in.Services[i]
		var r vsphere.FindVMsResult
		if err := finds[i].Get(ctx, &r); err != nil {
			return "", fmt.Errorf("find the VMs of service %s at site %s: %w", svc.Name, site, err)
		}
		jobs, err := ps.planService(ctx, svc, r.VMs, servers)
		if err != nil {
			return "", err
		}
		for _, j := range jobs {
			if j.existing == nil {
				create++
			}
		}
		ps.jobs = append(ps.jobs, jobs...)
	}
	return fmt.Sprintf("%d desired VMs, %d to create", len(ps.jobs), create), nil
}

// planService makes one job per desired VM of svc, given the service's VMs
// found by tag. New VMs go to the host with the fewest of the service's VMs.
func (ps *provision) planService(ctx workflow.Context, svc *ProvisionService, found []vsphere.VM, servers map[string]lb.ServerStatus) ([]*vmJob, error) {
	byName := map[string]vsphere.VM{}
	perHost := map[string]int{}
	for _, vm := range found {
		// The template and replicas carry the service's tags too, but they
		// are images and recovery points, not nodes.
		if vm.Template || vm.Tags[vsphere.TagReplicaOf] != "" {
			continue
		}
		byName[vm.Name] = vm
		perHost[vm.Host]++
	}
	var missing []string
	for _, name := range svc.VMs {
		if _, ok := byName[name]; !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		// A missing name may still be taken by a VM without the service's
		// tags; cloning over it would fail half-way, so refuse up front.
		var r vsphere.FindVMsResult
		err := workflow.ExecuteActivity(withSite(ctx, ps.in.Site), vsphereOps.FindVMs,
			vsphere.FindVMsInput{Site: ps.in.Site, Names: missing}).Get(ctx, &r)
		if err != nil {
			return nil, fmt.Errorf("look up VM names %s at site %s: %w", strings.Join(missing, ", "), ps.in.Site, err)
		}
		if len(r.VMs) > 0 {
			var taken []string
			for _, vm := range r.VMs {
				taken = append(taken, vm.Name)
			}
			//workflowcheck:ignore (tagsString sorts the keys before it reads the map)
			return nil, apperrors.Rejected("site %s: VM names %s are taken by VMs without the tags of service %s (%s): rename or retag them",
				ps.in.Site, strings.Join(taken, ", "), svc.Name, tagsString(svc.Tags))
		}
	}
	var jobs []*vmJob
	for _, name := range svc.VMs {
		j := &vmJob{svc: svc, name: name}
		if vm, ok := byName[name]; ok {
			j.existing = &vm
		} else {
			j.host = leastUsed(svc.Hosts, perHost)
			if j.host != "" {
				perHost[j.host]++
			}
		}
		if s, ok := servers[name]; ok {
			j.server = &s
		}
		target := "exists"
		if j.existing == nil {
			target = "clone of " + svc.Template
			if j.host != "" {
				target += " on " + j.host
			}
		}
		j.step = ps.res.Progress.planned("vm "+name, target)
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// leastUsed returns the host of hosts with the lowest count (the first on a
// tie, so the choice is deterministic), or "" when hosts is empty.
func leastUsed(hosts []string, count map[string]int) string {
	best := ""
	for _, h := range hosts {
		if best == "" || count[h] < count[best] {
			best = h
		}
	}
	return best
}

func tagsString(tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + tags[k]
	}
	return strings.Join(parts, ",")
}

// publishDNS makes the site's servers publish the service's geo record. It
// reads first so that a complete site gets no write at all.
func (ps *provision) publishDNS(ctx workflow.Context, d *ProvisionDNS) (string, error) {
	site := ps.in.Site
	actx := withSite(ctx, site)
	if current, err := ps.dnsCurrent(ctx, d); err != nil {
		return "", err
	} else if current {
		return "already published", nil
	}
	var r dns.ChangeResult
	err := workflow.ExecuteActivity(actx, dnsA.SetGeoRecord, dns.SetGeoRecordInput{
		Site: site, Zone: d.Zone, Name: d.Name, TTL: d.TTL, Answers: d.Answers, Fallback: d.Fallback, HealthCheck: d.HealthCheck,
	}).Get(ctx, &r)
	if err != nil {
		return "", fmt.Errorf("publish %s on site %s's DNS servers: %w", d.Name, site, err)
	}
	if r.Changed {
		ps.res.DNSChanged = append(ps.res.DNSChanged, d.Name)
	}
	return answersString(d.Answers), nil
}

// dnsCurrent reports whether every server of the site already has exactly
// the wanted geo record and no plain A record beside it (what SetGeoRecord
// would check before patching).
func (ps *provision) dnsCurrent(ctx workflow.Context, d *ProvisionDNS) (bool, error) {
	// GeoLUA only formats into a strings.Builder; workflowcheck flags fmt
	// for the writers it could be given.
	//workflowcheck:ignore
	want, ok := geoContent(d)
	if !ok {
		return false, nil // let SetGeoRecord say what is wrong with it
	}
	actx := withSite(ctx, ps.in.Site)
	luaF := workflow.ExecuteActivity(actx, dnsA.ReadRecord, dns.ReadRecordInput{Site: ps.in.Site, Zone: d.Zone, Name: d.Name, Type: "LUA"})
	aF := workflow.ExecuteActivity(actx, dnsA.ReadRecord, dns.ReadRecordInput{Site: ps.in.Site, Zone: d.Zone, Name: d.Name, Type: "A"})
	var lua, a dns.ReadRecordResult
	if err := luaF.Get(ctx, &lua); err != nil {
		return false, fmt.Errorf("read %s on site %s's DNS servers: %w", d.Name, ps.in.Site, err)
	}
	if err := aF.Get(ctx, &a); err != nil {
		return false, fmt.Errorf("read %s on site %s's DNS servers: %w", d.Name, ps.in.Site, err)
	}
	if !lua.Agree || !a.Agree || len(lua.Servers) == 0 {
		return false, nil
	}
	for i, s := range lua.Servers {
		if !s.Found || s.TTL != d.TTL || !slices.Equal(s.Records, []string{want}) || a.Servers[i].Found {
			return false, nil
		}
	}
	return true, nil
}

// geoContent renders the LUA record SetGeoRecord would write (a pure
// function of the input, so it is safe in workflow code).
func geoContent(d *ProvisionDNS) (string, bool) {
	answers := make([]pdnsapi.GeoAnswer, len(d.Answers))
	for i, a := range d.Answers {
		answers[i] = pdnsapi.GeoAnswer{Region: a.Region, Subnets: a.Subnets, IP: a.IP}
	}
	var hc *pdnsapi.HealthCheck
	if d.HealthCheck != nil {
		hc = &pdnsapi.HealthCheck{Host: strings.TrimSuffix(pdnsapi.Canon(d.Name), "."), Port: d.HealthCheck.Port, Path: d.HealthCheck.Path}
	}
	content, err := pdnsapi.GeoLUA(answers, d.Fallback, hc)
	return content, err == nil
}

// replication makes a replica site's database follow the primary; the
// primary itself is left alone.
func (ps *provision) replication(ctx workflow.Context, d *ProvisionDatabase) (string, error) {
	if d.Role == RolePrimary {
		return "primary: nothing to set up", nil
	}
	if st := ps.dbStatus; st != nil && st.Role == db.RoleReplica && st.IORunning && st.SQLRunning &&
		(st.MasterSite == d.PrimarySite || d.PrimaryAddress != "" && net.JoinHostPort(st.MasterHost, strconv.Itoa(st.MasterPort)) == d.PrimaryAddress) {
		return "already replicating from " + d.PrimarySite, nil
	}
	var r db.RepointResult
	// Repoint waits (heartbeating) for both replication threads to run.
	actx := workflow.WithActivityOptions(ctx, waitOptions(ps.in.Site, db.DefaultReplicationWait))
	err := workflow.ExecuteActivity(actx, dbOps.Repoint, db.RepointInput{Site: ps.in.Site, PrimarySite: d.PrimarySite}).Get(ctx, &r)
	if err != nil {
		return "", fmt.Errorf("make site %s's database a replica of %s: %w", ps.in.Site, d.PrimarySite, err)
	}
	ps.res.DBRepointed = r.Changed
	return "replicating from " + r.PrimaryAddress, nil
}
