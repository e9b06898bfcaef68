package pdnsapi

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// GeoAnswer is the address given to clients in some subnets.
type GeoAnswer struct {
	// Region names the answer in the record's code (a Lua comment) so an
	// operator reading the zone sees which subnets are whose; optional.
	Region  string   `json:",omitempty"`
	Subnets []string // CIDR prefixes, e.g. "192.0.2.0/24"
	IP      string   // IPv4 address answered to them
}

// HealthCheck makes a geo record answer only addresses that pass an HTTP
// check pdns_server runs itself, in the background (LUA ifurlup).
//
// There is no TCP-only variant: pdns 4.7's ifportup() takes one flat list
// of addresses and picks any live one, so it cannot prefer the client's
// own region (only ifurlup accepts the ordered list of lists).
type HealthCheck struct {
	// Host is the name in the checked URL and its Host header; pdns
	// connects to each candidate address, not to what Host resolves to.
	// Empty means the record's own name.
	Host string `json:",omitempty"`
	Port int    // TCP port on each answer's IP
	// Path is fetched with GET http://Host:Port/Path from each address; an
	// address is up while it answers 200 within 2s.
	Path string
}

// SetGeoA makes name (absolute, inside zone) a LUA A record that answers
// each client with the IP of the first GeoAnswer whose subnets contain the
// client's address, and fallback when none does. The client's address is
// the EDNS Client Subnet address when the query carries one, else the
// query's source address (pdns's bestwho, used by LUA view()). A plain A
// RRset at name is removed. Setting the record it already has changes
// nothing, not even the SOA serial.
func (c *Client) SetGeoA(ctx context.Context, zoneName, name string, ttl int, answers []GeoAnswer, fallback string) error {
	_, err := c.SetGeo(ctx, zoneName, name, ttl, answers, fallback, nil)
	return err
}

// SetGeo is SetGeoA with an optional health check (see GeoLUA); changed
// reports whether pdns had to be told anything.
func (c *Client) SetGeo(ctx context.Context, zoneName, name string, ttl int, answers []GeoAnswer, fallback string, hc *HealthCheck) (changed bool, err error) {
	z, n := Canon(zoneName), Canon(name)
	if !InZone(n, z) {
		return false, fmt.Errorf("pdns SetGeo: name %s is not inside zone %s", n, z)
	}
	if ttl <= 0 {
		return false, fmt.Errorf("pdns SetGeo %s: TTL %d must be positive", n, ttl)
	}
	if hc != nil && hc.Host == "" {
		h := *hc
		h.Host = strings.TrimSuffix(n, ".")
		hc = &h
	}
	content, err := GeoLUA(answers, fallback, hc)
	if err != nil {
		return false, fmt.Errorf("pdns SetGeo %s: %w", n, err)
	}
	cur, err := c.GetRRsets(ctx, z, n)
	if err != nil {
		return false, fmt.Errorf("pdns SetGeo %s: %w", n, err)
	}
	upToDate, hasA := false, false
	for _, rr := range cur {
		switch rr.Type {
		case "LUA":
			upToDate = rr.TTL == ttl && len(rr.Disabled) == 0 && slices.Equal(rr.Records, []string{content})
		case "A":
			hasA = true
		}
	}
	if upToDate && !hasA {
		return false, nil
	}
	var del []RRsetID
	if hasA {
		// A plain A RRset would be answered alongside the LUA one.
		del = append(del, RRsetID{Name: n, Type: "A"})
	}
	if err := c.PatchRRsets(ctx, z, []RRset{{Name: n, Type: "LUA", TTL: ttl, Records: []string{content}}}, del); err != nil {
		return false, fmt.Errorf("pdns SetGeo %s: %w", n, err)
	}
	return true, nil
}

// GeoLUA renders the content of a LUA record of type A ("A \"...\"") that
// answers clients in each GeoAnswer's subnets with its IP, the first
// matching answer winning, and everyone else with fallback.
//
// Without a health check it is a view() call. With one, each region's
// answer is an ifurlup list that prefers the region's IP, then
// the other answers' IPs in order, then fallback: clients get the closest
// healthy site. Before pdns has checked an address once (up to
// lua-health-checks-interval, 5s, after the record is first queried) and
// when no address is healthy, every address is answered (backupSelector
// 'all'), so clients still get something that may work.
//
// Inputs are parsed and re-rendered, so nothing from the caller reaches
// the Lua code verbatim.
func GeoLUA(answers []GeoAnswer, fallback string, hc *HealthCheck) (string, error) {
	g, err := parseGeo(answers, fallback, hc)
	if err != nil {
		return "", err
	}
	if hc == nil {
		return `A "` + g.viewCode() + `"`, nil
	}
	return `A "` + g.healthCode() + `"`, nil
}

// geo is validated GeoLUA input.
type geo struct {
	rules    []geoRule
	fallback string
	check    string // "ifurlup('http://host:port/path', "
}

type geoRule struct {
	region string
	nets   []string // canonical prefixes
	ip     string
}

var (
	regionRe = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,63}$`)
	hostRe   = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$`)
	// Characters allowed in a URL path by RFC 3986, minus the quote
	// characters that would end the Lua or record string.
	pathRe = regexp.MustCompile(`^/[A-Za-z0-9._~!$&()*+,;=:@%/-]*$`)
)

func parseGeo(answers []GeoAnswer, fallback string, hc *HealthCheck) (geo, error) {
	ip4 := func(what, s string) (string, error) {
		a, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil || !a.Is4() {
			return "", fmt.Errorf("%s %q is not an IPv4 address", what, s)
		}
		return a.String(), nil
	}
	var g geo
	var errs []error
	for i, ans := range answers {
		ip, err := ip4(fmt.Sprintf("answer %d IP", i+1), ans.IP)
		if err != nil {
			errs = append(errs, err)
		}
		if ans.Region != "" && !regionRe.MatchString(ans.Region) {
			errs = append(errs, fmt.Errorf("answer %d region %q must be 1-63 letters, digits, '.', '_' or '-'", i+1, ans.Region))
		}
		if len(ans.Subnets) == 0 {
			errs = append(errs, fmt.Errorf("answer %d (%s) has no subnets", i+1, ans.IP))
		}
		r := geoRule{region: ans.Region, ip: ip}
		for _, s := range ans.Subnets {
			p, err := netip.ParsePrefix(strings.TrimSpace(s))
			if err != nil {
				errs = append(errs, fmt.Errorf("answer %d subnet %q is not a CIDR prefix like 192.0.2.0/24", i+1, s))
				continue
			}
			r.nets = append(r.nets, p.Masked().String())
		}
		g.rules = append(g.rules, r)
	}
	fb, err := ip4("fallback", fallback)
	if err != nil {
		errs = append(errs, err)
	}
	g.fallback = fb
	if hc != nil {
		switch {
		case hc.Port < 1 || hc.Port > 65535:
			errs = append(errs, fmt.Errorf("health check port %d is not 1-65535", hc.Port))
		case !pathRe.MatchString(hc.Path):
			errs = append(errs, fmt.Errorf("health check path %q must start with / and hold only URL path characters (no quotes, spaces or backslashes)", hc.Path))
		case !hostRe.MatchString(hc.Host):
			errs = append(errs, fmt.Errorf("health check host %q is not a host name", hc.Host))
		default:
			g.check = "ifurlup('http://" + strings.ToLower(hc.Host) + ":" + strconv.Itoa(hc.Port) + hc.Path + "', "
		}
	}
	return g, errors.Join(errs...)
}

// comment renders region as a Lua block comment, or nothing.
func comment(region string) string {
	if region == "" {
		return ""
	}
	return "--[[" + region + "]] "
}

// quoteList renders strings as a Lua list of single-quoted strings.
func quoteList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = "'" + s + "'"
	}
	return "{" + strings.Join(q, ", ") + "}"
}

// viewCode renders the LUA view() call. Rules match in order; the last one
// catches every IPv4 and IPv6 client, because view() returns an empty (and
// so invalid) answer when no rule matches.
func (g geo) viewCode() string {
	var rules []string
	for _, r := range g.rules {
		rules = append(rules, comment(r.region)+"{"+quoteList(r.nets)+", {'"+r.ip+"'}}")
	}
	rules = append(rules, "{{'0.0.0.0/0', '::/0'}, {'"+g.fallback+"'}}")
	return "view({" + strings.Join(rules, ", ") + "})"
}

// healthCode renders a Lua script (the leading ';' tells pdns it is one,
// not an expression): the first rule whose netmask() matches the client
// returns its ifurlup list. It is a script rather than view()
// because view() answers one random entry of a list, which would turn
// "every address" (nothing checked yet) into a random one.
func (g geo) healthCode() string {
	var b strings.Builder
	b.WriteString(";")
	for _, r := range g.rules {
		fmt.Fprintf(&b, "%sif netmask(%s) then return %s end ", comment(r.region), quoteList(r.nets), g.ifUp(r.ip))
	}
	b.WriteString("return " + g.ifUp(g.fallback))
	return b.String()
}

// ifUp renders the health-checked list that prefers first, then every
// other address in rule order, then the fallback. Every call names all
// addresses with the same options: pdns keys a check by (address, URL,
// options), so all rules share one check per address.
func (g geo) ifUp(first string) string {
	order := []string{first}
	for _, r := range g.rules {
		order = append(order, r.ip)
	}
	order = append(order, g.fallback)
	var units []string
	seen := map[string]bool{}
	for _, ip := range order {
		if !seen[ip] {
			seen[ip] = true
			units = append(units, "{'"+ip+"'}")
		}
	}
	return g.check + "{" + strings.Join(units, ", ") + "}, {backupSelector='all'})"
}
