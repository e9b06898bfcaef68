package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/microdc/mdc/activities/dns"
)

// startCutovers starts one DNSCutover child per service sending every
// region to the target's frontend, on every site's servers.
func (f *failover) startCutovers(ctx workflow.Context, mode, purpose string) []workflow.ChildWorkflowFuture {
	return f.startCutoversAt(ctx, mode, purpose, f.siteNames())
}

// startCutoversAt is startCutovers on the servers of sites only.
func (f *failover) startCutoversAt(ctx workflow.Context, mode, purpose string, sites []string) []workflow.ChildWorkflowFuture {
	ip := f.targetIP()
	var futs []workflow.ChildWorkflowFuture
	for _, svc := range f.in.Services {
		in := DNSCutoverInput{
			Mode: mode, Sites: sites, Zone: svc.Zone, Name: svc.Record, Answers: f.answers(ip),
			Fallback: ip, TTL: svc.TTL, CutoverTTL: f.in.Timeouts.CutoverTTL, VerifyDeadline: f.in.Timeouts.Verify,
		}
		// From the input and the run ID, not the workflow ID: the replayer
		// runs recorded histories under a workflow ID of its own.
		id := fmt.Sprintf("failover-%s-dns-%s-%s-%s", f.in.FailedSite, purpose, svc.Name, workflow.GetInfo(ctx).WorkflowExecution.RunID)
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: id})
		futs = append(futs, workflow.ExecuteChildWorkflow(cctx, DNSCutoverName, in))
	}
	return futs
}

func (f *failover) waitCutovers(ctx workflow.Context, futs []workflow.ChildWorkflowFuture) error {
	var firstErr error
	for i, fut := range futs {
		var r DNSCutoverResult
		if err := fut.Get(ctx, &r); err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("DNS cutover of %s: %w", f.in.Services[i].Record, err)
			}
			continue
		}
		for _, s := range r.UnreachableSites {
			f.res.DNSUnreachable = appendNew(f.res.DNSUnreachable, "site "+s)
		}
		f.res.DNSUnreachable = appendNew(f.res.DNSUnreachable, r.Unreachable...)
	}
	return firstErr
}

func (f *failover) answers(ip string) []dns.GeoAnswer {
	out := make([]dns.GeoAnswer, 0, len(f.in.Regions))
	for _, r := range f.in.Regions {
		out = append(out, dns.GeoAnswer{Region: r.Name, Subnets: r.Subnets, IP: ip})
	}
	return out
}

// switchDNS moves every region to the target through the DNSCutover child
// (planned: TTL dance; disaster: at once). In a disaster it happened while
// fencing already.
func (f *failover) switchDNS(ctx workflow.Context) (string, error) {
	if f.dnsSwitched {
		return "done while fencing: every region answered with " + f.targetIP(), nil
	}
	mode := ModeDisaster
	if f.in.Mode == ModePlanned {
		mode = ModePlanned
	}
	if err := f.waitCutovers(ctx, f.startCutovers(ctx, mode, "switch")); err != nil {
		return "", err
	}
	f.dnsSwitched = true
	detail := fmt.Sprintf("every region answered with %s (%s)", f.targetIP(), mode)
	if len(f.res.DNSUnreachable) > 0 {
		detail += "; unreachable: " + strings.Join(f.res.DNSUnreachable, ", ")
	}
	return detail, nil
}

// verify proves the service end to end from the target's side: every
// region's DNS answer on every surviving authoritative server, HTTP 200
// through the target's load balancer, and a database write through it.
func (f *failover) verify(ctx workflow.Context) (string, error) {
	disaster := f.in.Mode == ModeDisaster
	deadline := workflow.Now(ctx).Add(f.in.Timeouts.Verify)
	var servers, subnets []string
	for _, s := range f.in.Sites {
		if !(disaster && s.Name == f.in.FailedSite) {
			servers = append(servers, s.DNSServers...)
		}
	}
	for _, r := range f.in.Regions {
		subnets = append(subnets, r.Subnets...)
	}
	vctx := workflow.WithActivityOptions(ctx, waitOptions(f.in.TargetSite, f.in.Timeouts.Verify))
	var dnsFuts []workflow.Future
	for _, svc := range f.in.Services {
		dnsFuts = append(dnsFuts, workflow.ExecuteActivity(vctx, dnsA.Verify, dns.VerifyInput{
			Servers: servers, Name: svc.Record, Type: "A", Expect: []string{f.targetIP()}, ClientSubnets: subnets,
			Deadline: f.in.Timeouts.Verify, AllowUnreachable: disaster,
		}))
	}
	var checks []string
	for _, svc := range f.in.Services {
		paths := []string{svc.HealthPath}
		if svc.WritePath != "" {
			paths = append(paths, svc.WritePath)
		}
		for _, p := range paths {
			url := "http://" + f.target.Frontend + p
			r, err := f.pollHTTP(ctx, url, deadline)
			if err != nil {
				return "", fmt.Errorf("through the load balancer at %s: %w", f.in.TargetSite, err)
			}
			checks = append(checks, fmt.Sprintf("%s %d", url, r.Status))
		}
	}
	queries := 0
	for i, fut := range dnsFuts {
		var r dns.VerifyResult
		if err := fut.Get(ctx, &r); err != nil {
			return "", fmt.Errorf("DNS of %s: %w", f.in.Services[i].Record, err)
		}
		queries += r.Queries
		f.res.DNSUnreachable = appendNew(f.res.DNSUnreachable, r.Unreachable...)
	}
	f.res.Verified = workflow.Now(ctx)
	return fmt.Sprintf("DNS: %d regions on %d servers (%d queries); %s", len(f.in.Regions), len(servers), queries, strings.Join(checks, ", ")), nil
}
