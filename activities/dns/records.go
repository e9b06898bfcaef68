package dns

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/microdc/mdc/pdnsapi"
)

// ReadRecordInput names the RRset to read on every server of a site.
type ReadRecordInput struct {
	Site string
	Zone string // fully qualified, e.g. "mdc.example."
	Name string // fully qualified, inside Zone
	Type string // A, AAAA, CNAME, TXT, ..., or LUA for a geo record
}

// ServerRecord is the RRset one server has.
type ServerRecord struct {
	Server  string // the server's API URL
	Found   bool
	TTL     int      `json:",omitempty"`
	Records []string `json:",omitempty"` // sorted, normalised
	// Error says why the server could not be read; the other fields are
	// then empty.
	Error string `json:",omitempty"`
}

// ReadRecordResult is the RRset on each server of the site.
type ReadRecordResult struct {
	Servers []ServerRecord
	// Agree is true when every server answered with the same RRset (or
	// every one has none).
	Agree bool
}

// ReadRecord reads an RRset on every server of the site. Unreachable
// servers are listed with an Error; it fails with Unavailable only when no
// server answered.
func (a *Activities) ReadRecord(ctx context.Context, in ReadRecordInput) (ReadRecordResult, error) {
	servers, zone, name, typ, err := a.target(in.Site, in.Zone, in.Name, in.Type, nil)
	if err != nil {
		return ReadRecordResult{}, err
	}
	res := ReadRecordResult{Servers: make([]ServerRecord, len(servers))}
	outs, errs := fanOut(ctx, servers, func(ctx context.Context, i int, s server) (ServerOutcome, error) {
		rr, found, err := s.api.GetRRset(ctx, zone, name, typ)
		if err == nil && found {
			res.Servers[i] = ServerRecord{Found: true, TTL: rr.TTL, Records: normalizeAll(typ, name, rr.Records)}
		}
		return ServerOutcome{}, err
	})
	what := fmt.Sprintf("read %s %s on site %s", name, typ, in.Site)
	if _, err := summarize(what, outs, errs, true); err != nil {
		return ReadRecordResult{}, err
	}
	res.Agree = true
	for i := range res.Servers {
		res.Servers[i].Server = outs[i].Server
		res.Servers[i].Error = outs[i].Error
		if outs[i].Outcome == OutcomeUnreachable {
			res.Agree = false
			continue
		}
		if a, b := res.Servers[0], res.Servers[i]; a.Found != b.Found || a.TTL != b.TTL || !slices.Equal(a.Records, b.Records) {
			res.Agree = false
		}
	}
	return res, nil
}

// SetRecordInput is the RRset wanted on every server of a site.
type SetRecordInput struct {
	Site    string
	Zone    string // fully qualified, e.g. "mdc.example."
	Name    string // fully qualified, inside Zone
	Type    string // A, AAAA, CAA, CNAME, MX, NS, PTR, SRV or TXT
	TTL     int    // seconds, 1 to 604800
	Records []string
	// AllowUnreachable accepts a change that reached only some servers
	// (at least one); they are listed in the result. Otherwise an
	// unreachable server fails the activity with Unavailable, and the
	// retry finds the others done.
	AllowUnreachable bool
}

// SetRecord makes the RRset exactly TTL and Records on every server of the
// site, replacing what was there. A server that has it already is not
// patched (its SOA serial stays). Setting A or AAAA removes the LUA (geo)
// records of that type at the name, which would otherwise be answered too.
func (a *Activities) SetRecord(ctx context.Context, in SetRecordInput) (ChangeResult, error) {
	servers, zone, name, typ, err := a.target(in.Site, in.Zone, in.Name, in.Type, settableTypes)
	if err != nil {
		return ChangeResult{}, err
	}
	if err := checkTTL(in.TTL); err != nil {
		return ChangeResult{}, err
	}
	want, err := checkRecords(typ, name, in.Records)
	if err != nil {
		return ChangeResult{}, err
	}
	outs, errs := fanOut(ctx, servers, func(ctx context.Context, _ int, s server) (ServerOutcome, error) {
		return setRecord(ctx, s, zone, name, typ, in.TTL, want)
	})
	return summarize(fmt.Sprintf("set %s %s on site %s", name, typ, in.Site), outs, errs, in.AllowUnreachable)
}

// setRecord is SetRecord on one server.
func setRecord(ctx context.Context, s server, zone, name, typ string, ttl int, want []string) (ServerOutcome, error) {
	all, err := s.api.GetRRsets(ctx, zone, name)
	if err != nil {
		return ServerOutcome{}, err
	}
	var out ServerOutcome
	same := false
	var lua *pdnsapi.RRset
	for _, rr := range all {
		switch rr.Type {
		case typ:
			out.PreviousTTL = rr.TTL
			same = rr.TTL == ttl && len(rr.Disabled) == 0 && slices.Equal(normalizeAll(typ, name, rr.Records), want)
		case "LUA":
			lua = &rr
		}
	}
	replace := []pdnsapi.RRset{{Name: name, Type: typ, TTL: ttl, Records: want}}
	var del []pdnsapi.RRsetID
	if lua != nil && (typ == "A" || typ == "AAAA") {
		// LUA contents start with the type they make: `A "view(...)"`.
		keep := slices.DeleteFunc(slices.Clone(lua.Records), func(r string) bool { return strings.HasPrefix(r, typ+" ") })
		if len(keep) != len(lua.Records) {
			same = false
			if len(keep) == 0 && len(lua.Disabled) == 0 {
				del = append(del, pdnsapi.RRsetID{Name: name, Type: "LUA"})
			} else {
				replace = append(replace, pdnsapi.RRset{Name: name, Type: "LUA", TTL: lua.TTL, Records: keep, Disabled: lua.Disabled})
			}
		}
	}
	if same {
		out.Outcome = OutcomeUnchanged
		return out, nil
	}
	if err := s.api.PatchRRsets(ctx, zone, replace, del); err != nil {
		return ServerOutcome{}, err
	}
	out.Outcome = OutcomeChanged
	return out, nil
}

// SetTTLInput names an RRset whose TTL to change, keeping its records.
type SetTTLInput struct {
	Site string
	Zone string // fully qualified
	Name string // fully qualified, inside Zone
	Type string // e.g. A, or LUA for a geo record
	TTL  int    // seconds, 1 to 604800
	// AllowUnreachable: see SetRecordInput.
	AllowUnreachable bool
}

// SetTTL sets the TTL of an existing RRset on every server of the site,
// keeping each server's records: a planned cutover lowers it before the
// switch and restores it after. ServerOutcome.PreviousTTL holds the TTL
// each server had; read it with ReadRecord before lowering, since a retry
// sees the lowered one. A server without the RRset fails with NotFound.
func (a *Activities) SetTTL(ctx context.Context, in SetTTLInput) (ChangeResult, error) {
	servers, zone, name, typ, err := a.target(in.Site, in.Zone, in.Name, in.Type, append([]string{"LUA"}, settableTypes...))
	if err != nil {
		return ChangeResult{}, err
	}
	if err := checkTTL(in.TTL); err != nil {
		return ChangeResult{}, err
	}
	outs, errs := fanOut(ctx, servers, func(ctx context.Context, _ int, s server) (ServerOutcome, error) {
		rr, found, err := s.api.GetRRset(ctx, zone, name, typ)
		if err != nil {
			return ServerOutcome{}, err
		}
		if !found {
			return ServerOutcome{}, fmt.Errorf("%w: %s has no %s %s record; SetTTL keeps records and cannot create them (use SetRecord)", errRecordNotFound, s.url, name, typ)
		}
		out := ServerOutcome{PreviousTTL: rr.TTL, Outcome: OutcomeUnchanged}
		if rr.TTL == in.TTL {
			return out, nil
		}
		rr.TTL = in.TTL
		rr.Comments = nil // left as they are
		if err := s.api.ReplaceRRsets(ctx, zone, []pdnsapi.RRset{rr}); err != nil {
			return ServerOutcome{}, err
		}
		out.Outcome = OutcomeChanged
		return out, nil
	})
	return summarize(fmt.Sprintf("set the TTL of %s %s on site %s to %d", name, typ, in.Site, in.TTL), outs, errs, in.AllowUnreachable)
}

// target validates the parts every record operation names.
func (a *Activities) target(site, zone, name, typ string, types []string) ([]server, string, string, string, error) {
	servers, err := a.site(site)
	if err != nil {
		return nil, "", "", "", err
	}
	z, err := checkZone(zone)
	if err != nil {
		return nil, "", "", "", err
	}
	n, err := checkName(name, z)
	if err != nil {
		return nil, "", "", "", err
	}
	t, err := checkType(typ, types)
	if err != nil {
		return nil, "", "", "", err
	}
	return servers, z, n, t, nil
}
