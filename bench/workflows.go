package bench

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/microdc/mdc/activities/dns"
	"github.com/microdc/mdc/activities/vsphere"
	"github.com/microdc/mdc/lab"
	"github.com/microdc/mdc/workers"
	"github.com/microdc/mdc/workflows"
)

// benchTTL is the service record's TTL in the workflows scenario (the
// lab's is 60 s): planned runs wait one old TTL on a durable timer, then
// the cutover TTL (5 s), and those waits are most of their run time.
const benchTTL = 10

// runWorkflows times every workflow on a fresh lab per run, in an order
// that leaves each one the state it needs: a drill, ReplicateVM, DrainHost
// and UndrainHost, ProvisionSite rebuilding a destroyed VM (and cloning
// one more), DNSCutover planned then disaster, a disaster FailoverSite of
// uk, then uk revived and Failback with its planned FailoverSite back.
// Each figure is the run time seen by the client: start to result.
func runWorkflows(ctx context.Context, e *env, fs *Figures) error {
	order := []string{
		"FailoverSite drill (test mode)", "ReplicateVM uk-db-1", "DrainHost", "UndrainHost",
		"ProvisionSite (2 VMs to clone)", "DNSCutover planned", "DNSCutover disaster",
		"FailoverSite disaster", "Failback (with switch-back)", "  of which FailoverSite planned (switch-back child)",
	}
	for _, name := range order {
		fs.get(name, "s")
	}
	fs.note("DNSCutover planned", "s", fmt.Sprintf("record TTL %d s: waits one old TTL on a durable timer", benchTTL))
	fs.note("  of which FailoverSite planned (switch-back child)", "s",
		fmt.Sprintf("record TTL %d s: waits one old TTL, then the %d s cutover TTL", benchTTL, workflows.DefaultFailoverCutoverTTL))
	for i := range e.opts.Runs {
		if err := workflowsOnce(ctx, e, fs); err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		e.progress("workflows: run %d/%d done", i+1, e.opts.Runs)
	}
	return nil
}

func workflowsOnce(ctx context.Context, e *env, fs *Figures) error {
	s, err := e.startStack(ctx, nil)
	if err != nil {
		return err
	}
	defer s.stop()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	run := func(figure, id, name string, in, out any) error {
		t0 := time.Now()
		r, err := s.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: workers.SharedQueue}, name, in)
		if err == nil {
			err = r.Get(ctx, out)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", figure, err)
		}
		fs.seconds(figure, time.Since(t0))
		return nil
	}
	p := s.p

	drill, err := workflows.NewFailoverSiteInput(p, "uk", "us", workflows.ModeTest)
	if err != nil {
		return err
	}
	drill.Reason, drill.RequestedBy = "bench drill", "mdc-bench"
	var dr workflows.FailoverSiteResult
	if err := run("FailoverSite drill (test mode)", workflows.FailoverWorkflowID(drill), workflows.FailoverSiteName, drill, &dr); err != nil {
		return err
	}
	if dr.Status != workflows.StatusDrillPassed {
		return fmt.Errorf("drill: %s", dr.Outcome)
	}

	rep, err := workflows.NewReplicateVMInput(p, "uk", "uk-db-1")
	if err != nil {
		return err
	}
	var rr workflows.ReplicateVMResult
	if err := run("ReplicateVM uk-db-1", "bench-replicate-uk-db-1", workflows.ReplicateVMName, rep, &rr); err != nil {
		return err
	}

	host := s.site("uk").VCenter.Hosts[1]
	drain, err := workflows.NewDrainHostInput(p, "uk", host, 10*time.Second)
	if err != nil {
		return err
	}
	var drained workflows.DrainHostResult
	if err := run("DrainHost", "bench-drain-uk", workflows.DrainHostName, drain, &drained); err != nil {
		return err
	}
	var undrained workflows.UndrainHostResult
	if err := run("UndrainHost", "bench-undrain-uk", workflows.UndrainHostName,
		workflows.UndrainHostInput{Site: "uk", Host: host, Servers: drained.Drained}, &undrained); err != nil {
		return err
	}

	if _, err := s.deps.VSphere.DestroyVM(ctx, vsphere.DestroyVMInput{Site: "us", Name: "us-web-1"}); err != nil {
		return err
	}
	pp := *p
	pp.Services = slices.Clone(p.Services)
	pp.Services[0].Replicas.Min = 3
	prov, err := workflows.NewProvisionSiteInput(&pp, "us")
	if err != nil {
		return err
	}
	prov.IPDeadline, prov.HealthDeadline = time.Minute, time.Minute
	var pr workflows.ProvisionSiteResult
	if err := run("ProvisionSite (2 VMs to clone)", "bench-provision-us", workflows.ProvisionSiteName, prov, &pr); err != nil {
		return err
	}
	if len(pr.Created) != 2 {
		return fmt.Errorf("ProvisionSite created %v, want us-web-1 and us-web-3", pr.Created)
	}

	if err := setTTL(ctx, s, benchTTL); err != nil {
		return err
	}
	for _, c := range []struct{ figure, target, mode string }{
		{"DNSCutover planned", "us", workflows.ModePlanned}, {"DNSCutover disaster", "uk", workflows.ModeDisaster},
	} {
		in, err := workflows.NewDNSCutoverInput(p, "web", c.target, c.mode)
		if err != nil {
			return err
		}
		in.TTL = benchTTL
		var r workflows.DNSCutoverResult
		if err := run(c.figure, "bench-dns-"+c.mode, workflows.DNSCutoverName, in, &r); err != nil {
			return err
		}
	}

	if err := s.write(ctx, "uk"); err != nil {
		return err
	}
	if err := s.Lab.KillSite(ctx, "uk"); err != nil {
		return err
	}
	fo, err := workflows.NewFailoverSiteInput(p, "uk", "us", workflows.ModeDisaster)
	if err != nil {
		return err
	}
	fo.Reason, fo.RequestedBy, fo.DetectedAt, fo.DBAppUser = "bench power cut", "mdc-bench", time.Now(), "mdc_app"
	fo.Timeouts.Verify = 30 * time.Second
	var fr workflows.FailoverSiteResult
	if err := run("FailoverSite disaster", workflows.FailoverWorkflowID(fo), workflows.FailoverSiteName, fo, &fr); err != nil {
		return err
	}
	if fr.Status != workflows.StatusFailedOver {
		return fmt.Errorf("disaster failover: %s", fr.Outcome)
	}

	if err := lab.NewClient(s.Lab.Plan().ControlAddr()).ReviveSite(ctx, "uk"); err != nil {
		return err
	}
	if err := setTTL(ctx, s, benchTTL); err != nil {
		return err
	}
	back, err := workflows.NewFailbackInput(p, "uk", "us", true)
	if err != nil {
		return err
	}
	for i := range back.DNS {
		back.DNS[i].TTL = benchTTL
	}
	for i := range back.SwitchBack.Services {
		back.SwitchBack.Services[i].TTL = benchTTL
	}
	back.SwitchBack.RequestedBy, back.SwitchBack.DBAppUser = "mdc-bench", "mdc_app"
	back.SwitchBack.Timeouts.Verify = 30 * time.Second
	var br workflows.FailbackResult
	if err := run("Failback (with switch-back)", "failback-uk", workflows.FailbackName, back, &br); err != nil {
		return err
	}
	if br.SwitchBack != workflows.StatusFailedOver {
		return fmt.Errorf("failback's switch-back: %s", br.SwitchBackOutcome)
	}
	for _, st := range br.Progress.Steps {
		if st.Name == "switch back" {
			fs.seconds("  of which FailoverSite planned (switch-back child)", st.Took)
		}
	}
	return nil
}

// setTTL sets the service record's TTL on every site's DNS servers.
func setTTL(ctx context.Context, s *stack, ttl int) error {
	svc := s.p.Services[0]
	for _, site := range s.p.SiteNames() {
		if _, err := s.deps.DNS.SetTTL(ctx, dns.SetTTLInput{Site: site, Zone: svc.Zone, Name: svc.DNSRecord, Type: "LUA", TTL: ttl}); err != nil {
			return fmt.Errorf("set the TTL at %s: %w", site, err)
		}
	}
	return nil
}
