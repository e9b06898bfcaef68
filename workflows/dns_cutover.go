package workflows

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/microdc/mdc/activities/dns"
	"github.com/microdc/mdc/apperrors"
)

// Cutover modes.
const (
	ModePlanned  = "planned"
	ModeDisaster = "disaster"
)

// DNSCutoverInput says which record to move where. Every site listed keeps
// its own authoritative servers (no zone transfers), so the change is made
// at each of them.
type DNSCutoverInput struct {
	// Mode is planned (lower the TTL, wait one old TTL, switch, verify,
	// restore the TTL) or disaster (switch at once with the low TTL, verify
	// on every reachable server).
	Mode string
	// Sites whose authoritative servers serve Zone.
	Sites []string
	Zone  string
	Name  string
	// Answers is the record after the cutover: each region's clients get
	// the given address (for a failover, every region gets the target site).
	Answers     []dns.GeoAnswer
	Fallback    string
	HealthCheck *dns.HealthCheck `json:",omitempty"`
	// TTL is the record's normal TTL, restored after a planned cutover.
	TTL int
	// CutoverTTL is the low TTL used while moving; 5 s when zero.
	CutoverTTL int `json:",omitempty"`
	// VerifyDeadline bounds each verification; 30 s when zero.
	VerifyDeadline time.Duration `json:",omitempty"`
}

// DNSCutoverResult records what the cutover did.
type DNSCutoverResult struct {
	Mode string
	// OldTTL is the TTL the record had before (planned), waited out before switching.
	OldTTL int `json:",omitempty"`
	// Unreachable lists the servers (and whole sites) the cutover could not
	// change or verify; a failback must repair them.
	Unreachable      []string `json:",omitempty"`
	UnreachableSites []string `json:",omitempty"`
	Progress         Progress
}

// DNSCutoverWorkflow moves a service's DNS record to new answers on every
// authoritative server and proves clients of every region see them.
func DNSCutoverWorkflow(ctx workflow.Context, in DNSCutoverInput) (DNSCutoverResult, error) {
	c := &cutover{in: in, res: DNSCutoverResult{Mode: in.Mode}}
	if err := c.setup(ctx); err != nil {
		return c.res, err
	}
	err := c.run(ctx)
	c.res.Progress.skipRest(ctx, "not reached")
	return c.res, err
}

type cutover struct {
	in  DNSCutoverInput
	res DNSCutoverResult
	// reachable are the sites whose servers took the switch.
	reachable []string
}

var dnsA *dns.Activities

func (c *cutover) setup(ctx workflow.Context) error {
	in := &c.in
	if in.CutoverTTL == 0 {
		in.CutoverTTL = 5
	}
	if in.VerifyDeadline == 0 {
		in.VerifyDeadline = 30 * time.Second
	}
	var problems []string
	if in.Mode != ModePlanned && in.Mode != ModeDisaster {
		problems = append(problems, fmt.Sprintf("mode %q: expected planned or disaster", in.Mode))
	}
	if len(in.Sites) == 0 {
		problems = append(problems, "no sites: name the sites whose DNS servers serve the zone")
	}
	if in.Zone == "" || in.Name == "" {
		problems = append(problems, "zone and name are required")
	}
	if len(in.Answers) == 0 {
		problems = append(problems, "no answers: give each region's address")
	}
	if in.TTL <= 0 {
		problems = append(problems, fmt.Sprintf("ttl %d: expected the record's normal TTL in seconds (> 0)", in.TTL))
	}
	if len(problems) > 0 {
		return apperrors.BadInput("DNSCutover: %s", strings.Join(problems, "; "))
	}
	p := &c.res.Progress
	sites := strings.Join(in.Sites, ",")
	if in.Mode == ModePlanned {
		p.planned("read TTL", sites)
		p.planned("lower TTL", fmt.Sprintf("%s to %ds", sites, in.CutoverTTL))
		p.planned("wait old TTL", in.Name)
	}
	p.planned("switch", answersString(in.Answers))
	p.planned("verify", sites)
	if in.Mode == ModePlanned {
		p.planned("restore TTL", fmt.Sprintf("%s to %ds", sites, in.TTL))
	}
	return registerProgress(ctx, p)
}

func answersString(as []dns.GeoAnswer) string {
	parts := make([]string, 0, len(as))
	for _, a := range as {
		parts = append(parts, a.Region+"="+a.IP)
	}
	return strings.Join(parts, " ")
}

func (c *cutover) run(ctx workflow.Context) error {
	p := &c.res.Progress
	step := 0
	next := func() int { step++; return step - 1 }
	if c.in.Mode == ModePlanned {
		if err := p.run(ctx, next(), func() (string, error) { return c.readTTL(ctx) }); err != nil {
			return err
		}
		if err := p.run(ctx, next(), func() (string, error) { return "", c.setTTL(ctx, c.in.CutoverTTL) }); err != nil {
			return err
		}
		// A durable timer: resolvers may hold the old answer for one old
		// TTL; after that every client asks again and gets the low TTL.
		if err := p.run(ctx, next(), func() (string, error) {
			return fmt.Sprintf("%ds", c.res.OldTTL), workflow.Sleep(ctx, time.Duration(c.res.OldTTL)*time.Second)
		}); err != nil {
			return err
		}
	}
	if err := p.run(ctx, next(), func() (string, error) { return c.switchRecord(ctx) }); err != nil {
		return err
	}
	if err := p.run(ctx, next(), func() (string, error) { return c.verify(ctx) }); err != nil {
		return err
	}
	if c.in.Mode == ModePlanned {
		if err := p.run(ctx, next(), func() (string, error) { return "", c.setTTL(ctx, c.in.TTL) }); err != nil {
			return err
		}
	}
	return nil
}

// readTTL captures the TTL to wait out and restore: read before lowering,
// because a retried SetTTL would only see the lowered one.
func (c *cutover) readTTL(ctx workflow.Context) (string, error) {
	futures := make([]workflow.Future, len(c.in.Sites))
	for i, site := range c.in.Sites {
		futures[i] = workflow.ExecuteActivity(withSite(ctx, site), dnsA.ReadRecord,
			dns.ReadRecordInput{Site: site, Zone: c.in.Zone, Name: c.in.Name, Type: "LUA"})
	}
	maxTTL := 0
	for i, f := range futures {
		var r dns.ReadRecordResult
		if err := f.Get(ctx, &r); err != nil {
			return "", fmt.Errorf("read %s at site %s: %w", c.in.Name, c.in.Sites[i], err)
		}
		for _, s := range r.Servers {
			if s.Found && s.TTL > maxTTL {
				maxTTL = s.TTL
			}
		}
	}
	if maxTTL == 0 {
		// No geo record yet: nothing is cached longer than the normal TTL.
		maxTTL = c.in.TTL
	}
	c.res.OldTTL = maxTTL
	return fmt.Sprintf("old TTL %ds", maxTTL), nil
}

func (c *cutover) setTTL(ctx workflow.Context, ttl int) error {
	futures := make([]workflow.Future, len(c.sitesToChange()))
	for i, site := range c.sitesToChange() {
		futures[i] = workflow.ExecuteActivity(withSite(ctx, site), dnsA.SetTTL,
			dns.SetTTLInput{Site: site, Zone: c.in.Zone, Name: c.in.Name, Type: "LUA", TTL: ttl})
	}
	for i, f := range futures {
		if err := f.Get(ctx, nil); err != nil {
			// NotFound: no geo record yet, so there is no TTL to lower.
			if apperrors.Is(err, apperrors.TypeNotFound) {
				continue
			}
			return fmt.Errorf("set TTL %ds at site %s: %w", ttl, c.sitesToChange()[i], err)
		}
	}
	return nil
}

func (c *cutover) sitesToChange() []string {
	if c.reachable != nil {
		return c.reachable
	}
	return c.in.Sites
}

// switchRecord writes the new geo record at every site. In disaster mode a
// site that cannot be reached is recorded, not fatal: its servers are down
// with it, and failback repairs them.
func (c *cutover) switchRecord(ctx workflow.Context) (string, error) {
	disaster := c.in.Mode == ModeDisaster
	ttl := c.in.CutoverTTL
	futures := make([]workflow.Future, len(c.in.Sites))
	for i, site := range c.in.Sites {
		opts := apiOptions(site)
		if disaster {
			opts = disasterOptions(site)
		}
		futures[i] = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), dnsA.SetGeoRecord, dns.SetGeoRecordInput{
			Site: site, Zone: c.in.Zone, Name: c.in.Name, TTL: ttl, Answers: c.in.Answers,
			Fallback: c.in.Fallback, HealthCheck: c.in.HealthCheck, AllowUnreachable: disaster,
		})
	}
	c.reachable = []string{}
	changed := 0
	for i, f := range futures {
		site := c.in.Sites[i]
		var r dns.ChangeResult
		err := f.Get(ctx, &r)
		switch {
		case err == nil:
			c.reachable = append(c.reachable, site)
			c.res.Unreachable = append(c.res.Unreachable, r.Unreachable...)
			if r.Changed {
				changed++
			}
		case disaster && unreachable(err):
			c.res.UnreachableSites = append(c.res.UnreachableSites, site)
		default:
			return "", fmt.Errorf("switch %s at site %s: %w", c.in.Name, site, err)
		}
	}
	if len(c.reachable) == 0 {
		return "", apperrors.Unavailable(nil, "no DNS server of any site (%s) could be changed", strings.Join(c.in.Sites, ", "))
	}
	sort.Strings(c.res.Unreachable)
	return fmt.Sprintf("changed at %d of %d sites", changed, len(c.in.Sites)), nil
}

// unreachable reports whether err means the site (or its worker) could not
// be reached, as opposed to a refusal no retry can fix.
func unreachable(err error) bool {
	var te *temporal.TimeoutError
	if errors.As(err, &te) {
		return true
	}
	return apperrors.Is(err, apperrors.TypeUnavailable)
}

// verify asks every reachable authoritative server, once per region with
// that region's client subnets, until each answers the region's address.
func (c *cutover) verify(ctx workflow.Context) (string, error) {
	type pending struct {
		site, region string
		f            workflow.Future
	}
	var all []pending
	for _, site := range c.reachable {
		vctx := workflow.WithActivityOptions(ctx, waitOptions(site, c.in.VerifyDeadline))
		for _, a := range c.in.Answers {
			f := workflow.ExecuteActivity(vctx, dnsA.Verify, dns.VerifyInput{
				Site: site, Name: c.in.Name, Type: "A", Expect: []string{a.IP}, ClientSubnets: a.Subnets,
				Deadline: c.in.VerifyDeadline, AllowUnreachable: c.in.Mode == ModeDisaster,
			})
			all = append(all, pending{site, a.Region, f})
		}
	}
	queries := 0
	for _, p := range all {
		var r dns.VerifyResult
		if err := p.f.Get(ctx, &r); err != nil {
			return "", fmt.Errorf("verify region %s on site %s's servers: %w", p.region, p.site, err)
		}
		queries += r.Queries
		c.res.Unreachable = appendNew(c.res.Unreachable, r.Unreachable...)
	}
	return fmt.Sprintf("%d regions on %d sites, %d queries", len(c.in.Answers), len(c.reachable), queries), nil
}

func appendNew(list []string, items ...string) []string {
	for _, it := range items {
		found := false
		for _, x := range list {
			if x == it {
				found = true
				break
			}
		}
		if !found {
			list = append(list, it)
		}
	}
	return list
}
