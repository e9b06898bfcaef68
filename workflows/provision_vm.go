package workflows

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/microdc/mdc/activities/health"
	"github.com/microdc/mdc/activities/lb"
	"github.com/microdc/mdc/activities/vsphere"
	"github.com/microdc/mdc/apperrors"
)

// vmJob is one desired VM of ProvisionSite and what the run did to it.
type vmJob struct {
	svc  *ProvisionService
	name string
	// existing is the VM as found before the run; nil when it must be cloned.
	existing *vsphere.VM
	host     string
	// server is the VM's balancer server as found before the run, if any.
	server *lb.ServerStatus
	step   int

	// cloneStarted: this run asked for the clone, so the VM (or what a
	// failed clone left) is this run's to destroy.
	cloneStarted bool
	// lbAdded: this run added the server, so it is this run's to remove.
	lbAdded bool
	err     error
}

// healthPoll is how often a new node's health URL is asked while it starts.
const healthPoll = time.Second

// bringUp runs every job's pipeline concurrently; a semaphore (a buffered
// channel of MaxParallel slots) bounds the clones in flight, so a site of
// twenty VMs does not queue twenty clone tasks on one vCenter.
func (ps *provision) bringUp(ctx workflow.Context) error {
	slots := workflow.NewBufferedChannel(ctx, ps.in.MaxParallel)
	wg := workflow.NewWaitGroup(ctx)
	for _, j := range ps.jobs {
		wg.Add(1)
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer wg.Done()
			p := &ps.res.Progress
			p.start(ctx, j.step)
			detail, err := ps.bringUpVM(ctx, j, slots)
			switch {
			case err == nil:
				p.end(ctx, j.step, StepDone, detail)
			case errors.Is(err, errRunFailed):
				p.end(ctx, j.step, StepSkipped, "not cloned: another VM failed and the run is being undone")
			default:
				j.err = err
				ps.failed = true
				p.end(ctx, j.step, StepFailed, err.Error())
			}
		})
	}
	wg.Wait(ctx)
	var failed []string
	var first error
	for _, j := range ps.jobs {
		if j.err != nil {
			failed = append(failed, j.name)
			if first == nil {
				first = j.err
			}
		}
	}
	if first != nil {
		return fmt.Errorf("bring up %d of %d VMs at site %s failed (%s); first: %w",
			len(failed), len(ps.jobs), ps.in.Site, strings.Join(failed, ", "), first)
	}
	return nil
}

var errRunFailed = errors.New("run failed")

// bringUpVM makes one desired VM exist, run, answer its health check and
// sit in the balancer, doing only what is missing.
func (ps *provision) bringUpVM(ctx workflow.Context, j *vmJob, slots workflow.Channel) (string, error) {
	site, svc := ps.in.Site, j.svc
	actx := withSite(ctx, site)
	var did []string
	if j.existing == nil {
		slots.Send(ctx, struct{}{})
		if ps.failed {
			slots.Receive(ctx, nil)
			return "", errRunFailed
		}
		j.cloneStarted = true
		var r vsphere.CloneVMResult
		err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, vmTaskOptions(site, cloneTimeout)), vsphereOps.CloneVM, vsphere.CloneVMInput{
			Site: site, Source: svc.Template, Snapshot: svc.Snapshot, Name: j.name, Host: j.host,
			Datastore: svc.Datastore, Folder: svc.Folder, Tags: svc.Tags,
		}).Get(ctx, &r)
		slots.Receive(ctx, nil)
		if err != nil {
			return "", fmt.Errorf("clone %s from %s at site %s: %w", j.name, svc.Template, site, err)
		}
		ps.res.Created = append(ps.res.Created, j.name)
		did = append(did, "cloned on "+r.Host)
	}
	if j.existing == nil || j.existing.PowerState != vsphere.PoweredOn {
		err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, vmTaskOptions(site, 5*time.Minute)), vsphereOps.PowerOn,
			vsphere.PowerInput{Site: site, Name: j.name}).Get(ctx, nil)
		if err != nil {
			return "", fmt.Errorf("power on %s at site %s: %w", j.name, site, err)
		}
		if j.existing != nil {
			ps.res.PoweredOn = append(ps.res.PoweredOn, j.name)
		}
		did = append(did, "powered on")
	} else if s := j.server; s != nil && (j.existing.IP == "" || addrIP(s.Addr) == j.existing.IP) {
		// Running and in the balancer: the site has this VM already.
		if s.State == lb.StateMaint || s.State == lb.StateDrain {
			ps.res.OutOfRotation = append(ps.res.OutOfRotation, j.name)
			return "exists; out of rotation (" + s.State + "), left so", nil
		}
		ps.res.Ready = append(ps.res.Ready, j.name)
		return "exists, running, in the balancer (" + s.State + ")", nil
	}
	var ipr vsphere.WaitForIPResult
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, waitOptions(site, ps.in.IPDeadline)), vsphereOps.WaitForIP,
		vsphere.WaitForIPInput{Site: site, Name: j.name, Deadline: workflow.Now(ctx).Add(ps.in.IPDeadline)}).Get(ctx, &ipr)
	if err != nil {
		return "", fmt.Errorf("wait for the IP of %s at site %s: %w", j.name, site, err)
	}
	addr := net.JoinHostPort(ipr.IP, strconv.Itoa(svc.Port))
	if err := ps.waitHealthy(ctx, j.name, "http://"+addr+svc.HealthPath); err != nil {
		return "", err
	}
	did = append(did, "healthy at "+addr)
	// A new VM always gets its server (re)added: a server of that name is a
	// stale leftover of a VM that is gone. An existing VM's server is added
	// when missing or pointing elsewhere, but one an operator took out of
	// rotation stays out.
	if j.existing == nil || j.server == nil || addrIP(j.server.Addr) != ipr.IP {
		if j.server == nil || j.existing == nil {
			j.lbAdded = true
		}
		var r lb.AddServerResult
		if err := workflow.ExecuteActivity(actx, lbOps.AddServer, lb.AddServerInput{Site: site, Name: j.name, Addr: addr}).Get(ctx, &r); err != nil {
			return "", fmt.Errorf("add %s (%s) to site %s's balancer: %w", j.name, addr, site, err)
		}
		if r.Changed {
			ps.res.AddedToLB = append(ps.res.AddedToLB, j.name)
			did = append(did, "added to the balancer")
		}
	} else if j.server.State == lb.StateMaint || j.server.State == lb.StateDrain {
		ps.res.OutOfRotation = append(ps.res.OutOfRotation, j.name)
		return strings.Join(append(did, "out of rotation ("+j.server.State+"), left so"), ", "), nil
	}
	ps.res.Ready = append(ps.res.Ready, j.name)
	return strings.Join(did, ", "), nil
}

// waitHealthy asks url until it answers healthy or HealthDeadline passes.
// CheckHTTP reports an unhealthy node as a result, so the polling (on a
// durable timer) lives here rather than in a retry policy.
func (ps *provision) waitHealthy(ctx workflow.Context, vm, url string) error {
	deadline := workflow.Now(ctx).Add(ps.in.HealthDeadline)
	actx := withSite(ctx, ps.in.Site)
	for {
		var r health.CheckHTTPResult
		if err := workflow.ExecuteActivity(actx, healthOps.CheckHTTP, health.CheckHTTPInput{URL: url, Timeout: 2 * time.Second}).Get(ctx, &r); err != nil {
			return fmt.Errorf("check the health of %s at %s: %w", vm, url, err)
		}
		if r.Healthy {
			return nil
		}
		if !workflow.Now(ctx).Before(deadline) {
			return apperrors.Timeout("%s did not become healthy at %s within %s (last: %s): check the node's service and its logs",
				vm, url, ps.in.HealthDeadline, r.Reason)
		}
		if err := workflow.Sleep(ctx, healthPoll); err != nil {
			return err
		}
	}
}

// addrIP is the host part of an ip:port.
func addrIP(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}

// compensate undoes what this run created, newest first: it takes the
// servers it added out of the balancer, then destroys its clones. VMs that
// existed before the run are never touched. It runs on a disconnected
// context so that a cancelled run is cleaned up too, and it tries every
// item even when one fails.
func (ps *provision) compensate(ctx workflow.Context) error {
	var servers, vms []string
	for i := len(ps.jobs) - 1; i >= 0; i-- {
		j := ps.jobs[i]
		if j.lbAdded {
			servers = append(servers, j.name)
		}
		if j.cloneStarted {
			vms = append(vms, j.name)
		}
	}
	if len(servers)+len(vms) == 0 {
		return nil
	}
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	p := &ps.res.Progress
	step := p.planned("compensate", fmt.Sprintf("servers [%s], VMs [%s]", strings.Join(servers, " "), strings.Join(vms, " ")))
	var problems []string
	err := p.run(dctx, step, func() (string, error) {
		site := ps.in.Site
		actx := withSite(dctx, site)
		for _, name := range servers {
			// Drain briefly so that requests already on the node finish;
			// a drain that times out is no reason to keep the server.
			dr := workflow.ExecuteActivity(workflow.WithActivityOptions(dctx, drainOptions(site, 10*time.Second)), lbOps.DrainServer,
				lb.DrainServerInput{Site: site, Name: name, Deadline: 10 * time.Second}).Get(dctx, nil)
			if dr != nil && !apperrors.Is(dr, apperrors.TypeTimeout) && !apperrors.Is(dr, apperrors.TypeNotFound) {
				problems = append(problems, fmt.Sprintf("drain server %s: %v", name, dr))
			}
			if err := workflow.ExecuteActivity(actx, lbOps.RemoveServer, lb.RemoveServerInput{Site: site, Name: name}).Get(dctx, nil); err != nil {
				problems = append(problems, fmt.Sprintf("remove server %s: %v", name, err))
			}
		}
		for _, name := range vms {
			err := workflow.ExecuteActivity(workflow.WithActivityOptions(dctx, vmTaskOptions(site, 10*time.Minute)), vsphereOps.DestroyVM,
				vsphere.DestroyVMInput{Site: site, Name: name}).Get(dctx, nil)
			if err != nil {
				problems = append(problems, fmt.Sprintf("destroy VM %s: %v", name, err))
			}
		}
		if len(problems) > 0 {
			return "", fmt.Errorf("%s (undo these by hand: they were created by this run)", strings.Join(problems, "; "))
		}
		return fmt.Sprintf("removed %d servers, destroyed %d VMs", len(servers), len(vms)), nil
	})
	return err
}
