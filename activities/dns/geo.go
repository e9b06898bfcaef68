package dns

import (
	"context"
	"fmt"
	"strings"

	"github.com/microdc/mdc/apperrors"
	"github.com/microdc/mdc/pdnsapi"
)

// GeoAnswer is the address a region's clients get.
type GeoAnswer struct {
	Region  string   // e.g. "uk"; unique within the record
	Subnets []string // the region's client subnets, CIDR, e.g. "192.0.2.0/24"
	IP      string   // IPv4 address of the region's site (its load balancer)
}

// HealthCheck makes a geo record answer only healthy sites. pdns_server
// itself fetches http://<record name>:Port<Path> from every answer's IP in
// the background and treats an address as down until it answers 200.
type HealthCheck struct {
	Port int
	Path string // e.g. "/health"
}

// SetGeoRecordInput is the geo (LUA) A record wanted on every server of a site.
type SetGeoRecordInput struct {
	Site    string
	Zone    string // fully qualified
	Name    string // fully qualified, inside Zone
	TTL     int    // seconds, 1 to 604800; short, so a failover is seen soon
	Answers []GeoAnswer
	// Fallback is the IPv4 address for clients in no region's subnets.
	Fallback string
	// HealthCheck, when set, answers each region with its own IP while it
	// is healthy and with the next healthy one (in Answers order, then
	// Fallback) when it is not. Before pdns has checked (up to 5s after
	// the record is first queried) and when no address is healthy, every
	// address is answered.
	HealthCheck *HealthCheck `json:",omitempty"`
	// AllowUnreachable: see SetRecordInput.
	AllowUnreachable bool
}

// SetGeoRecord makes Name a LUA A record that answers clients by the
// subnet of their address (the EDNS Client Subnet when the query carries
// one, else the resolver's address): each region gets its IP. A plain A
// RRset at Name is removed, since pdns would answer it too. A server that
// has the record already is not patched.
func (a *Activities) SetGeoRecord(ctx context.Context, in SetGeoRecordInput) (ChangeResult, error) {
	servers, zone, name, _, err := a.target(in.Site, in.Zone, in.Name, "A", nil)
	if err != nil {
		return ChangeResult{}, err
	}
	if err := checkTTL(in.TTL); err != nil {
		return ChangeResult{}, err
	}
	answers, hc, err := checkGeo(in, name)
	if err != nil {
		return ChangeResult{}, err
	}
	outs, errs := fanOut(ctx, servers, func(ctx context.Context, _ int, s server) (ServerOutcome, error) {
		changed, err := s.api.SetGeo(ctx, zone, name, in.TTL, answers, in.Fallback, hc)
		if err != nil {
			return ServerOutcome{}, err
		}
		if changed {
			return ServerOutcome{Outcome: OutcomeChanged}, nil
		}
		return ServerOutcome{Outcome: OutcomeUnchanged}, nil
	})
	return summarize(fmt.Sprintf("set geo record %s on site %s", name, in.Site), outs, errs, in.AllowUnreachable)
}

// checkGeo validates the geo part of in and renders it for pdnsapi; the
// rendering itself is tried here so that bad input fails before any server
// is touched.
func checkGeo(in SetGeoRecordInput, name string) ([]pdnsapi.GeoAnswer, *pdnsapi.HealthCheck, error) {
	if len(in.Answers) == 0 {
		return nil, nil, apperrors.BadInput("geo record %s: Answers is empty; give each region's subnets and IP", name)
	}
	seen := map[string]bool{}
	var answers []pdnsapi.GeoAnswer
	for i, ans := range in.Answers {
		if ans.Region == "" {
			return nil, nil, apperrors.BadInput("geo record %s: answer %d (%s) has no Region", name, i+1, ans.IP)
		}
		if seen[ans.Region] {
			return nil, nil, apperrors.BadInput("geo record %s: region %q appears twice in Answers", name, ans.Region)
		}
		seen[ans.Region] = true
		answers = append(answers, pdnsapi.GeoAnswer{Region: ans.Region, Subnets: ans.Subnets, IP: ans.IP})
	}
	var hc *pdnsapi.HealthCheck
	if in.HealthCheck != nil {
		hc = &pdnsapi.HealthCheck{Host: strings.TrimSuffix(name, "."), Port: in.HealthCheck.Port, Path: in.HealthCheck.Path}
	}
	if _, err := pdnsapi.GeoLUA(answers, in.Fallback, hc); err != nil {
		return nil, nil, apperrors.BadInput("geo record %s: %v", name, err)
	}
	return answers, hc, nil
}
