package dns

import (
	"github.com/microdc/mdc/dnsquery"

	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/microdc/mdc/apperrors"
)

// VerifyInput says which servers must answer what.
type VerifyInput struct {
	// Site names the site whose servers to ask; or give Servers instead.
	Site string `json:",omitempty"`
	// Servers are DNS addresses (host:port) to ask, e.g. every
	// authoritative server of every site.
	Servers []string `json:",omitempty"`
	Name    string   // fully qualified
	Type    string   // e.g. A
	// Expect is the exact set of records every server must answer, in any
	// order; empty means the name must have no records of Type.
	Expect []string
	// ClientSubnets, when set, sends one query per subnet with an EDNS
	// Client Subnet option (CIDR, e.g. "192.0.2.0/24"), as a resolver
	// serving clients there would; each must get Expect. Empty: one plain
	// query per server.
	ClientSubnets []string `json:",omitempty"`
	// Deadline is how long to keep asking before giving up (default 30s;
	// the activity's own timeout ends it earlier).
	Deadline time.Duration
	// AllowUnreachable succeeds once every server that answers has Expect,
	// listing the ones that did not answer twice in a row (at least one
	// server must answer). For a disaster cutover, where a site is gone.
	AllowUnreachable bool
}

// Answer is the latest answer of one server to one query.
type Answer struct {
	Server  string   // DNS address
	Subnet  string   `json:",omitempty"` // the EDNS Client Subnet sent; "" for a plain query
	Records []string `json:",omitempty"` // sorted, normalised
	Rcode   string   `json:",omitempty"` // e.g. NOERROR, NXDOMAIN, REFUSED
	Matched bool     // Records are exactly Expect
	// Error says why the server did not answer.
	Error string `json:",omitempty"`
}

// VerifyResult is what the servers answered.
type VerifyResult struct {
	Answers []Answer
	// Unreachable lists the servers that did not answer (AllowUnreachable only).
	Unreachable []string `json:",omitempty"`
	Queries     int
	Took        time.Duration
}

// Verify queries every server (for every client subnet) until each answers
// exactly Expect, or Deadline passes. Answers that matched once are not
// asked again. On deadline it fails with Timeout listing who answered what
// and who did not answer; the error's details hold the VerifyResult.
func (a *Activities) Verify(ctx context.Context, in VerifyInput) (VerifyResult, error) {
	start := time.Now()
	q, err := a.checkVerify(in)
	if err != nil {
		return VerifyResult{}, err
	}
	deadline := start.Add(q.deadline)
	if d, ok := ctx.Deadline(); ok && d.Add(-verifyMargin).Before(deadline) {
		// Return a result before the activity times out, not after.
		deadline = d.Add(-verifyMargin)
	}
	var pairs []Answer
	for _, s := range q.servers {
		for _, sub := range q.subnets {
			pairs = append(pairs, Answer{Server: s, Subnet: sub})
		}
	}
	fails := make([]int, len(pairs)) // consecutive unanswered queries
	res := VerifyResult{}
	for {
		var wg sync.WaitGroup
		for i := range pairs {
			if pairs[i].Matched {
				continue
			}
			res.Queries++
			wg.Add(1)
			go func() {
				defer wg.Done()
				pairs[i] = q.ask(ctx, pairs[i], deadline)
				if pairs[i].Error != "" {
					fails[i]++
				} else {
					fails[i] = 0
				}
			}()
		}
		wg.Wait()
		res.Answers, res.Took = pairs, time.Since(start)
		if done, down := q.done(pairs, fails, in.AllowUnreachable); done {
			res.Unreachable = down
			return res, nil
		}
		if activity.IsActivity(ctx) {
			activity.RecordHeartbeat(ctx, progressOf(pairs))
		}
		wait := min(verifyPoll, time.Until(deadline))
		if wait <= 0 {
			return res, q.timeoutError(res, time.Since(start))
		}
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("verify %s %s: %w", q.name, q.typeName, ctx.Err())
		case <-time.After(wait):
		}
	}
}

// Verify's pacing: the pause between rounds, the longest wait for one
// answer, and how long before the activity's deadline to give up.
const (
	verifyPoll       = 200 * time.Millisecond
	queryTimeout     = time.Second
	verifyMargin     = 500 * time.Millisecond
	defaultVerifyFor = 30 * time.Second
)

// verifyQuery is validated VerifyInput.
type verifyQuery struct {
	servers  []string
	subnets  []string // "" for a plain query
	name     string
	typeName string
	qtype    uint16
	expect   []string
	deadline time.Duration
}

func (a *Activities) checkVerify(in VerifyInput) (verifyQuery, error) {
	q := verifyQuery{deadline: in.Deadline}
	switch {
	case in.Site != "" && len(in.Servers) > 0:
		return q, apperrors.BadInput("verify: give Site or Servers, not both")
	case in.Site != "":
		servers, err := a.site(in.Site)
		if err != nil {
			return q, err
		}
		for _, s := range servers {
			q.servers = append(q.servers, s.addr)
		}
	case len(in.Servers) > 0:
		for _, s := range in.Servers {
			if err := checkHostPort(s); err != nil {
				return q, apperrors.BadInput("verify: server %v", err)
			}
		}
		q.servers = slices.Compact(slices.Clone(in.Servers))
	default:
		return q, apperrors.BadInput("verify: give the Site or the Servers (host:port) to ask")
	}
	q.name = strings.ToLower(strings.TrimSpace(in.Name))
	if !mdns.IsFqdn(q.name) {
		return q, apperrors.BadInput("verify: name %q has no trailing dot: write %q", in.Name, q.name+".")
	}
	if _, ok := mdns.IsDomainName(q.name); !ok {
		return q, apperrors.BadInput("verify: name %q is not a valid domain name", in.Name)
	}
	t, err := checkType(in.Type, nil)
	if err != nil {
		return q, err
	}
	if t == "LUA" {
		return q, apperrors.BadInput("verify: LUA is not a type clients can query; verify the type it makes (A)")
	}
	q.typeName, q.qtype = t, mdns.StringToType[t]
	for i, e := range in.Expect {
		n, err := normalize(t, q.name, e)
		if err != nil {
			return q, apperrors.BadInput("verify %s %s: expected record %d %q: %v", q.name, t, i+1, e, err)
		}
		q.expect = append(q.expect, n)
	}
	slices.Sort(q.expect)
	q.expect = slices.Compact(q.expect)
	for _, s := range in.ClientSubnets {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return q, apperrors.BadInput("verify: client subnet %q is not a CIDR prefix like 192.0.2.0/24", s)
		}
		q.subnets = append(q.subnets, p.Masked().String())
	}
	if len(q.subnets) == 0 {
		q.subnets = []string{""}
	}
	switch {
	case q.deadline < 0:
		return q, apperrors.BadInput("verify: Deadline %v is negative", in.Deadline)
	case q.deadline == 0:
		q.deadline = defaultVerifyFor
	}
	return q, nil
}

// ask sends one query and records the answer in a copy of prev.
func (q verifyQuery) ask(ctx context.Context, prev Answer, deadline time.Time) Answer {
	ans := Answer{Server: prev.Server, Subnet: prev.Subnet}
	m := new(mdns.Msg)
	m.SetQuestion(q.name, q.qtype)
	m.RecursionDesired = false
	if prev.Subnet != "" {
		dnsquery.WithClientSubnet(m, netip.MustParsePrefix(prev.Subnet))
	}
	timeout := min(queryTimeout, max(time.Until(deadline), 100*time.Millisecond))
	qctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	r, _, err := (&mdns.Client{Net: "udp", Timeout: timeout}).ExchangeContext(qctx, m, prev.Server)
	if err == nil && r.Truncated {
		r, _, err = (&mdns.Client{Net: "tcp", Timeout: timeout}).ExchangeContext(qctx, m, prev.Server)
	}
	if err != nil {
		ans.Error = err.Error()
		return ans
	}
	ans.Rcode = mdns.RcodeToString[r.Rcode]
	for _, rr := range r.Answer {
		h := rr.Header()
		if h.Rrtype == q.qtype && strings.EqualFold(h.Name, q.name) {
			ans.Records = append(ans.Records, strings.TrimPrefix(rr.String(), h.String()))
		}
	}
	ans.Records = normalizeAll(q.typeName, q.name, ans.Records)
	okRcode := r.Rcode == mdns.RcodeSuccess || (r.Rcode == mdns.RcodeNameError && len(q.expect) == 0)
	ans.Matched = okRcode && slices.Equal(ans.Records, q.expect)
	return ans
}

// done reports whether verification is complete and which servers it
// gave up on as unreachable.
func (q verifyQuery) done(pairs []Answer, fails []int, allowUnreachable bool) (bool, []string) {
	var down []string
	verified := 0
	for _, s := range q.servers {
		matched, unreachable := true, true
		for i, p := range pairs {
			if p.Server != s {
				continue
			}
			matched = matched && p.Matched
			unreachable = unreachable && !p.Matched && fails[i] >= 2
		}
		switch {
		case matched:
			verified++
		case allowUnreachable && unreachable:
			down = append(down, s)
		default:
			return false, nil
		}
	}
	return verified > 0, down
}

// timeoutError says, per server and subnet, what did not match.
func (q verifyQuery) timeoutError(res VerifyResult, took time.Duration) error {
	var problems []string
	answered := false
	for _, p := range res.Answers {
		who := p.Server
		if p.Subnet != "" {
			who += " (client subnet " + p.Subnet + ")"
		}
		switch {
		case p.Error != "":
			problems = append(problems, who+" did not answer: "+p.Error)
		case !p.Matched:
			answered = true
			problems = append(problems, fmt.Sprintf("%s answered %s [%s]", who, p.Rcode, strings.Join(p.Records, ", ")))
		default:
			answered = true
		}
	}
	msg := fmt.Sprintf("verify %s %s = [%s]: not every server answered that within %v (%d queries): %s",
		q.name, q.typeName, strings.Join(q.expect, ", "), took.Round(time.Millisecond), res.Queries, strings.Join(problems, "; "))
	if !answered {
		return apperrors.Unavailable(nil, "%s; no server answered at all", msg)
	}
	// apperrors.Timeout carries no details; the result helps the workflow
	// (and the operator in the Web UI) see who answered what.
	return temporal.NewApplicationError(msg, apperrors.TypeTimeout, res)
}

// verifyProgress is Verify's heartbeat.
type verifyProgress struct {
	Matched, Total int
}

func progressOf(pairs []Answer) verifyProgress {
	p := verifyProgress{Total: len(pairs)}
	for _, a := range pairs {
		if a.Matched {
			p.Matched++
		}
	}
	return p
}
