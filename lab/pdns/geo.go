package pdns

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// GeoAnswer is the address given to clients in some subnets.
type GeoAnswer struct {
	Subnets []string // CIDR prefixes, e.g. "192.0.2.0/24"
	IP      string   // IPv4 address answered to them
}

// SetGeoA makes name (absolute, inside zone) a LUA A record that answers
// each client with the IP of the first GeoAnswer whose subnets contain the
// client's address, and fallback when none does. The client's address is
// the EDNS Client Subnet address when the query carries one, else the
// query's source address (pdns's bestwho, used by LUA view()). A plain A
// RRset at name is removed. Setting the record it already has changes
// nothing, not even the SOA serial.
func (c *Client) SetGeoA(ctx context.Context, zoneName, name string, ttl int, answers []GeoAnswer, fallback string) error {
	z, n := canon(zoneName), canon(name)
	if n != z && !strings.HasSuffix(n, "."+z) {
		return fmt.Errorf("pdns SetGeoA: name %s is not inside zone %s", n, z)
	}
	if ttl < 0 {
		return fmt.Errorf("pdns SetGeoA %s: TTL %d is negative", n, ttl)
	}
	code, err := viewCode(answers, fallback)
	if err != nil {
		return fmt.Errorf("pdns SetGeoA %s: %w", n, err)
	}
	content := `A "` + code + `"`

	cur, err := c.getZone(ctx, z)
	if err != nil {
		return fmt.Errorf("pdns SetGeoA %s: %w", n, err)
	}
	upToDate, hasA := false, false
	for _, rr := range cur.RRsets {
		if canon(rr.Name) != n {
			continue
		}
		switch rr.Type {
		case "LUA":
			upToDate = rr.TTL == ttl && len(rr.Records) == 1 && rr.Records[0].Content == content && !rr.Records[0].Disabled
		case "A":
			hasA = true
		}
	}
	if upToDate && !hasA {
		return nil
	}
	patch := []rrset{{Name: n, Type: "LUA", TTL: ttl, ChangeType: "REPLACE", Records: []record{{Content: content}}}}
	if hasA {
		// A plain A RRset would be answered alongside the LUA one.
		patch = append(patch, rrset{Name: n, Type: "A", ChangeType: "DELETE", Records: []record{}})
	}
	if err := c.do(ctx, http.MethodPatch, serverPath+"/zones/"+url.PathEscape(z), struct {
		RRsets []rrset `json:"rrsets"`
	}{patch}, nil); err != nil {
		return fmt.Errorf("pdns SetGeoA %s: %w", n, err)
	}
	return nil
}

// viewCode renders the LUA view() call. Rules match in order; the last one
// catches every IPv4 and IPv6 client, because view() returns an empty (and
// so invalid) answer when no rule matches. Inputs are parsed and
// re-rendered, so nothing from the caller reaches the Lua code verbatim.
func viewCode(answers []GeoAnswer, fallback string) (string, error) {
	ip4 := func(what, s string) (string, error) {
		a, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil || !a.Is4() {
			return "", fmt.Errorf("%s %q is not an IPv4 address", what, s)
		}
		return a.String(), nil
	}
	var rules []string
	var errs []error
	for i, ans := range answers {
		ip, err := ip4(fmt.Sprintf("answer %d IP", i+1), ans.IP)
		if err != nil {
			errs = append(errs, err)
		}
		if len(ans.Subnets) == 0 {
			errs = append(errs, fmt.Errorf("answer %d (%s) has no subnets", i+1, ans.IP))
		}
		var nets []string
		for _, s := range ans.Subnets {
			p, err := netip.ParsePrefix(strings.TrimSpace(s))
			if err != nil {
				errs = append(errs, fmt.Errorf("answer %d subnet %q is not a CIDR prefix like 192.0.2.0/24", i+1, s))
				continue
			}
			nets = append(nets, "'"+p.Masked().String()+"'")
		}
		rules = append(rules, rule(nets, ip))
	}
	fb, err := ip4("fallback", fallback)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	rules = append(rules, rule([]string{"'0.0.0.0/0'", "'::/0'"}, fb))
	return "view({" + strings.Join(rules, ", ") + "})", nil
}

// rule is one {{netmasks}, {addresses}} pair of view().
func rule(nets []string, ip string) string {
	return "{{" + strings.Join(nets, ", ") + "}, {'" + ip + "'}}"
}
