package workflows

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/microdc/mdc/activities/health"
	"github.com/microdc/mdc/activities/lb"
	"github.com/microdc/mdc/activities/vsphere"
	"github.com/microdc/mdc/apperrors"
)

// ScaleOutInput says which copy to make, from which image, and how to tell
// it serves. Autoscale fills it; an operator may start it by hand.
type ScaleOutInput struct {
	Site    string
	Service string
	// Name of the copy, "<site>-<service>-x<N>", chosen by Autoscale so a
	// retried or replayed start finds the same VM.
	Name      string
	Template  string
	Snapshot  string
	Folder    string   `json:",omitempty"`
	Datastore string   `json:",omitempty"`
	Hosts     []string `json:",omitempty"`
	// Avoid is the overloaded node: the copy goes on another host if the
	// site has one.
	Avoid      string `json:",omitempty"`
	Port       int
	HealthPath string
	// IPTimeout and HealthTimeout bound the waits for the guest IP and for
	// the first healthy answer; 5m each when zero.
	IPTimeout     time.Duration `json:",omitempty"`
	HealthTimeout time.Duration `json:",omitempty"`
	Reason        string        `json:",omitempty"`
}

// ScaleOutResult is the copy now serving behind the load balancer.
type ScaleOutResult struct {
	Name     string
	Host     string
	IP       string
	Progress Progress
}

// ScaleOutWorkflow adds one copy of a service's node at a site: it picks
// the least-loaded host, makes a linked clone of the golden snapshot tagged
// as an extra copy, powers it on, waits for its IP and for its health check
// to pass, and puts it in the load balancer. If any step fails it undoes
// what this run did (takes the copy out of the balancer, destroys it) and
// fails with the original error.
func ScaleOutWorkflow(ctx workflow.Context, in ScaleOutInput) (ScaleOutResult, error) {
	o := &scaleOut{in: in, res: ScaleOutResult{Name: in.Name}}
	if err := o.setup(ctx); err != nil {
		return o.res, err
	}
	err := o.run(ctx)
	if err != nil {
		err = o.compensate(ctx, err)
	}
	o.res.Progress.skipRest(ctx, "not reached")
	return o.res, err
}

type scaleOut struct {
	in  ScaleOutInput
	res ScaleOutResult
	// cloneTried and lbTried record what may exist and must be undone.
	cloneTried, lbTried bool
}

// tags are the copy's vSphere tags: a web node of the service at the site,
// marked as an extra copy so that only it is ever scaled in.
func (o *scaleOut) tags() map[string]string {
	return map[string]string{
		vsphere.TagRole: scaleRole, vsphere.TagService: o.in.Service, vsphere.TagSite: o.in.Site, TagScaled: "true",
	}
}

func (o *scaleOut) setup(ctx workflow.Context) error {
	in := &o.in
	if in.IPTimeout == 0 {
		in.IPTimeout = 5 * time.Minute
	}
	if in.HealthTimeout == 0 {
		in.HealthTimeout = 5 * time.Minute
	}
	var problems []string
	if in.Site == "" || in.Service == "" || in.Name == "" || in.Template == "" {
		problems = append(problems, "site, service, name and template are required")
	}
	if in.Port <= 0 || in.Port > 65535 {
		problems = append(problems, fmt.Sprintf("port %d: expected the node's HTTP port", in.Port))
	}
	if !strings.HasPrefix(in.HealthPath, "/") {
		problems = append(problems, fmt.Sprintf("health path %q: expected an absolute path", in.HealthPath))
	}
	if len(problems) > 0 {
		return apperrors.BadInput("ScaleOut %s: %s", in.Name, strings.Join(problems, "; "))
	}
	p := &o.res.Progress
	for _, s := range []string{"pick host", "clone", "power on", "wait for IP", "health", "add to LB", "enable in LB"} {
		p.planned(s, in.Name)
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, AttrSite.ValueSet(in.Site), AttrService.ValueSet(in.Service)); err != nil {
		return err
	}
	return registerProgress(ctx, p)
}

func (o *scaleOut) run(ctx workflow.Context) error {
	p, in := &o.res.Progress, o.in
	site := withSite(ctx, in.Site)
	steps := []func() (string, error){
		func() (string, error) { return o.pickHost(ctx) },
		func() (string, error) { return o.clone(ctx) },
		func() (string, error) {
			return "", workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, scaleVMTaskOptions(in.Site)), asVSphere.PowerOn,
				vsphere.PowerInput{Site: in.Site, Name: in.Name}).Get(ctx, nil)
		},
		func() (string, error) {
			var r vsphere.WaitForIPResult
			err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, scaleDeadlineOptions(in.Site, in.IPTimeout)), asVSphere.WaitForIP,
				vsphere.WaitForIPInput{Site: in.Site, Name: in.Name, Deadline: workflow.Now(ctx).Add(in.IPTimeout)}).Get(ctx, &r)
			o.res.IP = r.IP
			return r.IP, err
		},
		func() (string, error) { return o.waitHealthy(ctx) },
		func() (string, error) {
			o.lbTried = true
			return "", workflow.ExecuteActivity(site, asLB.AddServer, lb.AddServerInput{Site: in.Site, Name: in.Name, Addr: o.addr()}).Get(ctx, nil)
		},
		func() (string, error) {
			return "", workflow.ExecuteActivity(site, asLB.EnableServer, lb.EnableServerInput{Site: in.Site, Name: in.Name}).Get(ctx, nil)
		},
	}
	for i, step := range steps {
		if err := p.run(ctx, i, step); err != nil {
			return fmt.Errorf("scale out %s at %s: %s: %w", in.Name, in.Site, p.Steps[i].Name, err)
		}
	}
	return nil
}

func (o *scaleOut) addr() string {
	return net.JoinHostPort(o.res.IP, strconv.Itoa(o.in.Port))
}

// pickHost chooses the host with the fewest powered-on VMs of the site,
// other than the overloaded node's host when there is another: a copy on
// the same one-core-per-VM host would compete with the node it relieves.
// Candidates are the placement hosts, or every host the site's VMs run on.
func (o *scaleOut) pickHost(ctx workflow.Context) (string, error) {
	var r vsphere.FindVMsResult
	if err := workflow.ExecuteActivity(withSite(ctx, o.in.Site), asVSphere.FindVMs, vsphere.FindVMsInput{Site: o.in.Site}).Get(ctx, &r); err != nil {
		return "", err
	}
	load := map[string]int{}
	candidates := o.in.Hosts
	seen := map[string]bool{}
	avoid := ""
	for _, vm := range r.VMs {
		if vm.Name == o.in.Avoid {
			avoid = vm.Host
		}
		if vm.Host != "" && !vm.Template && vm.PowerState == vsphere.PoweredOn {
			load[vm.Host]++
		}
		if len(o.in.Hosts) == 0 && vm.Host != "" && !seen[vm.Host] {
			seen[vm.Host] = true
			candidates = append(candidates, vm.Host)
		}
	}
	if len(o.in.Hosts) == 0 {
		sort.Strings(candidates)
	}
	best := ""
	for _, pass := range []bool{true, false} { // first without the hot node's host
		for _, h := range candidates {
			if pass && h == avoid {
				continue
			}
			if best == "" || load[h] < load[best] {
				best = h
			}
		}
		if best != "" {
			break
		}
	}
	if best == "" {
		return "vCenter places it (no host known)", nil
	}
	o.res.Host = best
	return fmt.Sprintf("%s (%d powered-on VMs)", best, load[best]), nil
}

// clone makes the linked clone, powered off (power-on is its own step).
// If the chosen host refuses (maintenance, disconnected) vCenter's own
// placement gets one more try.
func (o *scaleOut) clone(ctx workflow.Context) (string, error) {
	in := o.in
	cctx := workflow.WithActivityOptions(ctx, waitOptions(in.Site, scaleCloneWait))
	cin := vsphere.CloneVMInput{
		Site: in.Site, Source: in.Template, Snapshot: in.Snapshot, Name: in.Name, Host: o.res.Host,
		Datastore: in.Datastore, Folder: in.Folder, Tags: o.tags(),
	}
	o.cloneTried = true
	var r vsphere.CloneVMResult
	err := workflow.ExecuteActivity(cctx, asVSphere.CloneVM, cin).Get(ctx, &r)
	if err != nil && cin.Host != "" && scaleRetryableConflict(err) {
		workflow.GetLogger(ctx).Warn("host refused the clone; letting vCenter place it", "host", cin.Host, "error", err)
		cin.Host = ""
		err = workflow.ExecuteActivity(cctx, asVSphere.CloneVM, cin).Get(ctx, &r)
	}
	if err != nil {
		return "", err
	}
	o.res.Host = r.Host
	detail := "on " + r.Host
	if !r.Changed {
		detail += " (an earlier attempt's clone)"
	}
	return detail, nil
}

// waitHealthy checks the copy's health URL until it answers healthy,
// backing off from 0.5 s to 5 s, up to HealthTimeout.
func (o *scaleOut) waitHealthy(ctx workflow.Context) (string, error) {
	url := "http://" + o.addr() + o.in.HealthPath
	deadline := workflow.Now(ctx).Add(o.in.HealthTimeout)
	wait := 500 * time.Millisecond
	for checks := 1; ; checks++ {
		var r health.CheckHTTPResult
		if err := workflow.ExecuteActivity(withSite(ctx, o.in.Site), asHealth.CheckHTTP,
			health.CheckHTTPInput{URL: url, Timeout: 2 * time.Second}).Get(ctx, &r); err != nil {
			return "", err
		}
		if r.Healthy {
			return fmt.Sprintf("%s healthy after %d checks", url, checks), nil
		}
		now := workflow.Now(ctx)
		if !now.Before(deadline) {
			return "", apperrors.Timeout("%s not healthy after %s (%d checks), last: %s", url, o.in.HealthTimeout, checks, r.Reason)
		}
		if err := workflow.Sleep(ctx, min(wait, deadline.Sub(now))); err != nil {
			return "", err
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// compensate undoes what this run may have done, in reverse order, on a
// context that survives cancellation, and returns cause with what the
// clean-up did (or what an operator must still remove).
func (o *scaleOut) compensate(ctx workflow.Context, cause error) error {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	p, in := &o.res.Progress, o.in
	o.res.Progress.skipRest(ctx, "scale-out failed")
	var problems []error
	if o.lbTried {
		i := p.planned("compensate: remove from LB", in.Name)
		if err := p.run(dctx, i, func() (string, error) {
			return "", workflow.ExecuteActivity(withSite(dctx, in.Site), asLB.RemoveServer,
				lb.RemoveServerInput{Site: in.Site, Name: in.Name}).Get(dctx, nil)
		}); err != nil {
			problems = append(problems, fmt.Errorf("remove server %s from %s's load balancer by hand: %w", in.Name, in.Site, err))
		}
	}
	if o.cloneTried {
		i := p.planned("compensate: destroy clone", in.Name)
		if err := p.run(dctx, i, func() (string, error) { return o.destroyOwnClone(dctx) }); err != nil {
			problems = append(problems, fmt.Errorf("destroy VM %s at %s by hand: %w", in.Name, in.Site, err))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w; compensation incomplete: %w", cause, errors.Join(problems...))
	}
	return cause
}

// destroyOwnClone destroys the VM called Name only if it carries this
// copy's tags: a clone that failed because the name was taken by another
// VM must not take that VM with it.
func (o *scaleOut) destroyOwnClone(ctx workflow.Context) (string, error) {
	in := o.in
	var r vsphere.FindVMsResult
	if err := workflow.ExecuteActivity(withSite(ctx, in.Site), asVSphere.FindVMs,
		vsphere.FindVMsInput{Site: in.Site, Names: []string{in.Name}, Tags: o.tags()}).Get(ctx, &r); err != nil {
		return "", err
	}
	if len(r.VMs) == 0 {
		return "no clone of ours to destroy", nil
	}
	var d vsphere.DestroyVMResult
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, scaleVMTaskOptions(in.Site)), asVSphere.DestroyVM,
		vsphere.DestroyVMInput{Site: in.Site, Name: in.Name}).Get(ctx, &d)
	return "destroyed", err
}
