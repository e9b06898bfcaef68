package workflows

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/microdc/mdc/activities/db"
	"github.com/microdc/mdc/activities/health"
	"github.com/microdc/mdc/activities/lb"
	"github.com/microdc/mdc/activities/vsphere"
)

var lbA *lb.Activities

// TagDrill marks VMs a FailoverSite drill cloned (value: the workflow ID),
// so that what a crashed drill left behind can be found and destroyed.
const TagDrill = vsphere.TagPrefix + "drill"

// capacity makes the target serve at least as many web nodes per service as
// the failed site served: powered-off web VMs (replicas, standby nodes) are
// powered on first, then copies are cloned from the template's golden
// snapshot; each new node must get an IP and answer its health check. In a
// drill only new nodes count (production nodes are not the drill's), and
// none is put behind the load balancer.
func (f *failover) capacity(ctx workflow.Context) (string, error) {
	isolated := f.in.Mode == ModeTest
	if f.in.Mode == ModeTest {
		if err := f.observeFailed(ctx); err != nil {
			workflow.GetLogger(ctx).Warn("drill: could not count the failed site's nodes; using the service minimum", "error", err.Error())
		}
	}
	target := f.in.TargetSite
	var found vsphere.FindVMsResult
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, vmOptions(target, false)), vsA.FindVMs,
		vsphere.FindVMsInput{Site: target}).Get(ctx, &found); err != nil {
		return "", fmt.Errorf("list the VMs at %s: %w", target, err)
	}
	taken := map[string]bool{}
	for _, vm := range found.VMs {
		taken[vm.Name] = true
	}
	type pending struct {
		svc  int
		name string
		fut  workflow.Future
	}
	var ups []pending
	for i := range f.in.Services {
		svc := &f.in.Services[i]
		rep := CapacityReport{Service: svc.Name}
		rep.Wanted, rep.WantedFrom = f.wanted(svc)
		var off []string
		for _, vm := range found.VMs {
			if vm.Template || vm.Tags[vsphere.TagRole] != "web" || vm.Tags[vsphere.TagService] != svc.Name {
				continue
			}
			switch {
			case vm.PowerState != vsphere.PoweredOn:
				off = append(off, vm.Name)
			case !isolated:
				rep.Nodes = append(rep.Nodes, FailoverNode{Name: vm.Name, IP: vm.IP})
			}
		}
		need := rep.Wanted - len(rep.Nodes)
		for _, name := range off {
			if need <= 0 {
				break
			}
			ups = append(ups, pending{i, name, f.bringUp(ctx, svc, name, false)})
			rep.PoweredOn = append(rep.PoweredOn, name)
			if isolated {
				f.drill = append(f.drill, drillVM{i, name, false})
			}
			need--
		}
		prefix := target + "-" + svc.Name
		if isolated {
			prefix += "-drill"
		}
		for ; need > 0; need-- {
			name := nextName(taken, prefix)
			ups = append(ups, pending{i, name, f.bringUp(ctx, svc, name, true)})
			rep.Cloned = append(rep.Cloned, name)
			if isolated {
				f.drill = append(f.drill, drillVM{i, name, true})
			}
		}
		f.res.Capacity = append(f.res.Capacity, rep)
	}
	for _, u := range ups {
		rep := &f.res.Capacity[u.svc]
		var n FailoverNode
		if err := u.fut.Get(ctx, &n); err != nil {
			rep.Failed = append(rep.Failed, fmt.Sprintf("%s: %s", u.name, errMsg(err)))
			continue
		}
		rep.Nodes = append(rep.Nodes, n)
	}
	var parts []string
	for i := range f.res.Capacity {
		rep := &f.res.Capacity[i]
		if err := f.fillIPs(ctx, rep); err != nil {
			return "", err
		}
		if len(rep.Nodes) == 0 {
			return "", fmt.Errorf("no %s node serves at %s (wanted %d: %s): %s", rep.Service, target, rep.Wanted, rep.WantedFrom, strings.Join(rep.Failed, "; "))
		}
		s := fmt.Sprintf("%s: %d of %d wanted (%s), %d powered on, %d cloned", rep.Service, len(rep.Nodes), rep.Wanted, rep.WantedFrom, len(rep.PoweredOn), len(rep.Cloned))
		if len(rep.Failed) > 0 {
			s += ", short: " + strings.Join(rep.Failed, "; ")
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; "), nil
}

// wanted is how many nodes of svc the target must serve, and why.
func (f *failover) wanted(svc *FailoverService) (int, string) {
	least := max(svc.MinNodes, 1)
	var n int
	var from string
	switch {
	case f.observed:
		n, from = f.serving[svc.Name], "serving at "+f.in.FailedSite
	case f.in.ServingAtFailedSite[svc.Name] > 0:
		n, from = f.in.ServingAtFailedSite[svc.Name], "last seen serving at "+f.in.FailedSite
	default:
		return least, fmt.Sprintf("service minimum; what %s served is unknown", f.in.FailedSite)
	}
	if n < least {
		return least, fmt.Sprintf("%s: %d, raised to the service minimum", from, n)
	}
	return n, from
}

func nextName(taken map[string]bool, prefix string) string {
	for n := 1; ; n++ {
		name := prefix + "-" + strconv.Itoa(n)
		if !taken[name] {
			taken[name] = true
			return name
		}
	}
}

// bringUp powers on (or clones) one node and waits until it serves; the
// future holds its FailoverNode.
func (f *failover) bringUp(ctx workflow.Context, svc *FailoverService, name string, clone bool) workflow.Future {
	fut, set := workflow.NewFuture(ctx)
	workflow.Go(ctx, func(ctx workflow.Context) {
		n, err := f.startNode(ctx, svc, name, clone)
		set.Set(n, err)
	})
	return fut
}

func (f *failover) startNode(ctx workflow.Context, svc *FailoverService, name string, clone bool) (FailoverNode, error) {
	target := f.in.TargetSite
	vctx := workflow.WithActivityOptions(ctx, vmOptions(target, false))
	if clone {
		tags := map[string]string{vsphere.TagRole: "web", vsphere.TagService: svc.Name, vsphere.TagSite: target}
		if f.in.Mode == ModeTest {
			tags[TagDrill] = workflow.GetInfo(ctx).WorkflowExecution.ID
		}
		if err := workflow.ExecuteActivity(vctx, vsA.CloneVM, vsphere.CloneVMInput{
			Site: target, Source: svc.Template, Snapshot: svc.Snapshot, Name: name, Tags: tags, PowerOn: true,
		}).Get(ctx, nil); err != nil {
			return FailoverNode{}, fmt.Errorf("clone %s from %s: %w", name, svc.Template, err)
		}
	} else if err := workflow.ExecuteActivity(vctx, vsA.PowerOn, vsphere.PowerInput{Site: target, Name: name}).Get(ctx, nil); err != nil {
		return FailoverNode{}, fmt.Errorf("power on %s: %w", name, err)
	}
	deadline := workflow.Now(ctx).Add(f.in.Timeouts.Capacity)
	ip, err := f.waitIP(ctx, name, deadline)
	if err != nil {
		return FailoverNode{}, err
	}
	url := "http://" + net.JoinHostPort(ip, strconv.Itoa(svc.Port)) + svc.HealthPath
	if _, err := f.pollHTTP(ctx, url, deadline); err != nil {
		return FailoverNode{}, fmt.Errorf("%s never became healthy: %w", name, err)
	}
	return FailoverNode{Name: name, IP: ip}, nil
}

func (f *failover) waitIP(ctx workflow.Context, name string, deadline time.Time) (string, error) {
	wait := deadline.Sub(workflow.Now(ctx))
	var r vsphere.WaitForIPResult
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, waitOptions(f.in.TargetSite, wait)), vsA.WaitForIP,
		vsphere.WaitForIPInput{Site: f.in.TargetSite, Name: name, Deadline: deadline}).Get(ctx, &r)
	if err != nil {
		return "", fmt.Errorf("wait for the IP of %s: %w", name, err)
	}
	return r.IP, nil
}

// fillIPs asks vSphere for the IP of serving nodes FindVMs listed without
// one (VMware Tools had not reported it yet).
func (f *failover) fillIPs(ctx workflow.Context, rep *CapacityReport) error {
	for i := range rep.Nodes {
		if rep.Nodes[i].IP != "" {
			continue
		}
		ip, err := f.waitIP(ctx, rep.Nodes[i].Name, workflow.Now(ctx).Add(30*time.Second))
		if err != nil {
			return err
		}
		rep.Nodes[i].IP = ip
	}
	return nil
}

// pollHTTP requests url from the target's side once a second until it is
// healthy or the deadline passes.
func (f *failover) pollHTTP(ctx workflow.Context, url string, deadline time.Time) (health.CheckHTTPResult, error) {
	hctx := withSite(ctx, f.in.TargetSite)
	for {
		var r health.CheckHTTPResult
		if err := workflow.ExecuteActivity(hctx, healthA.CheckHTTP, health.CheckHTTPInput{URL: url, Timeout: 2 * time.Second}).Get(ctx, &r); err != nil {
			return r, fmt.Errorf("check %s: %w", url, err)
		}
		if r.Healthy {
			return r, nil
		}
		if !workflow.Now(ctx).Before(deadline) {
			return r, fmt.Errorf("%s still unhealthy at the deadline: %s", url, r.Reason)
		}
		if err := workflow.Sleep(ctx, time.Second); err != nil {
			return r, err
		}
	}
}

// switchLB puts every serving node behind the target's load balancer
// (AddServer is idempotent and enables a server in maintenance) and waits
// until the balancer's health checks mark them UP.
func (f *failover) switchLB(ctx workflow.Context) (string, error) {
	target := f.in.TargetSite
	var names []string
	var futs []workflow.Future
	for i, rep := range f.res.Capacity {
		port := strconv.Itoa(f.in.Services[i].Port)
		for _, n := range rep.Nodes {
			names = append(names, n.Name)
			futs = append(futs, workflow.ExecuteActivity(withSite(ctx, target), lbA.AddServer,
				lb.AddServerInput{Site: target, Name: n.Name, Addr: net.JoinHostPort(n.IP, port)}))
		}
	}
	added := 0
	for i, fut := range futs {
		var r lb.AddServerResult
		if err := fut.Get(ctx, &r); err != nil {
			return "", fmt.Errorf("add %s to the load balancer at %s: %w", names[i], target, err)
		}
		if r.Changed {
			added++
		}
	}
	deadline := workflow.Now(ctx).Add(f.in.Timeouts.Verify)
	for {
		var ls lb.ListServersResult
		if err := workflow.ExecuteActivity(withSite(ctx, target), lbA.ListServers, lb.ListServersInput{Site: target}).Get(ctx, &ls); err != nil {
			return "", fmt.Errorf("list the load balancer's servers at %s: %w", target, err)
		}
		state := map[string]string{}
		for _, s := range ls.Servers {
			state[s.Name] = s.State
		}
		var notUp []string
		for _, n := range names {
			if state[n] != lb.StateUp {
				notUp = append(notUp, n+" "+state[n])
			}
		}
		summary := fmt.Sprintf("%d of %d servers UP (%d added or enabled)", len(names)-len(notUp), len(names), added)
		switch {
		case len(notUp) == 0:
			return summary, nil
		case !workflow.Now(ctx).Before(deadline) && len(notUp) < len(names):
			return summary + "; not UP: " + strings.Join(notUp, ", "), nil
		case !workflow.Now(ctx).Before(deadline):
			return "", fmt.Errorf("no server of the load balancer at %s came UP within %s: %s", target, f.in.Timeouts.Verify, strings.Join(notUp, ", "))
		}
		if err := workflow.Sleep(ctx, time.Second); err != nil {
			return "", err
		}
	}
}

// verifyDrill checks each drill node directly (it is in no load balancer)
// and reads the target's replica state: the drill's estimate of the RPO a
// real failover would have now.
func (f *failover) verifyDrill(ctx workflow.Context) (string, error) {
	deadline := workflow.Now(ctx).Add(f.in.Timeouts.Verify)
	n := 0
	for i, rep := range f.res.Capacity {
		svc := f.in.Services[i]
		for _, node := range rep.Nodes {
			url := "http://" + net.JoinHostPort(node.IP, strconv.Itoa(svc.Port)) + svc.HealthPath
			if _, err := f.pollHTTP(ctx, url, deadline); err != nil {
				return "", fmt.Errorf("drill node %s: %w", node.Name, err)
			}
			n++
		}
	}
	var st db.ReplicationStatusResult
	if err := workflow.ExecuteActivity(withSite(ctx, f.in.TargetSite), dbA.ReplicationStatus,
		db.ReplicationStatusInput{Site: f.in.TargetSite}).Get(ctx, &st); err != nil {
		return "", fmt.Errorf("read the replica state at %s: %w", f.in.TargetSite, err)
	}
	f.res.Database.ReplicaSecondsBehind = st.SecondsBehindMaster
	f.res.Verified = workflow.Now(ctx)
	behind := "unknown"
	if st.SecondsBehindMaster != nil {
		behind = fmt.Sprintf("%ds", *st.SecondsBehindMaster)
	}
	return fmt.Sprintf("%d drill nodes healthy; database at %s: %s, IO %s, SQL %s, behind %s", n, f.in.TargetSite, st.Role, st.IOState, st.SQLState, behind), nil
}

// cleanup (drill) powers off what the drill powered on and destroys what it
// cloned, whether the drill passed or not.
func (f *failover) cleanup(ctx workflow.Context) (string, error) {
	target := f.in.TargetSite
	vctx := workflow.WithActivityOptions(ctx, vmOptions(target, false))
	futs := make([]workflow.Future, len(f.drill))
	powered, cloned := 0, 0
	for i, d := range f.drill {
		if d.cloned {
			cloned++
			futs[i] = workflow.ExecuteActivity(vctx, vsA.DestroyVM, vsphere.DestroyVMInput{Site: target, Name: d.name})
		} else {
			powered++
			futs[i] = workflow.ExecuteActivity(vctx, vsA.PowerOff, vsphere.PowerInput{Site: target, Name: d.name})
		}
	}
	var failed []string
	for i, fut := range futs {
		d := f.drill[i]
		if err := fut.Get(ctx, nil); err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", d.name, err))
			continue
		}
		if d.svc < len(f.res.Capacity) {
			f.res.Capacity[d.svc].CleanedUp = append(f.res.Capacity[d.svc].CleanedUp, d.name)
		}
	}
	if len(failed) > 0 {
		return "", fmt.Errorf("drill cleanup at %s left %s; power them off or destroy them by hand", target, strings.Join(failed, "; "))
	}
	return fmt.Sprintf("powered off %d, destroyed %d", powered, cloned), nil
}

// drillVM is a VM a drill started: powered on, or cloned (destroyed after).
type drillVM struct {
	svc    int
	name   string
	cloned bool
}
