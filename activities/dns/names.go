package dns

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	mdns "github.com/miekg/dns"

	"github.com/microdc/mdc/apperrors"
)

// maxTTL is the largest TTL mdc sets: a week. Larger values are almost
// always milliseconds given as seconds, and would pin a mistake in caches.
const maxTTL = 7 * 24 * 3600

// settableTypes are the record types SetRecord manages. SOA and NS at the
// apex belong to the zone; LUA records are made by SetGeoRecord.
var settableTypes = []string{"A", "AAAA", "CAA", "CNAME", "MX", "NS", "PTR", "SRV", "TXT"}

// checkZone validates a zone name: fully qualified, with the trailing dot.
func checkZone(zone string) (string, error) {
	z := strings.TrimSpace(zone)
	if z == "" || z == "." {
		return "", apperrors.BadInput("zone %q: give the zone's fully qualified name, e.g. \"mdc.example.\"", zone)
	}
	if !mdns.IsFqdn(z) {
		return "", apperrors.BadInput("zone %q has no trailing dot: write %q (names are fully qualified, so there is no doubt where they end)", zone, z+".")
	}
	if _, ok := mdns.IsDomainName(z); !ok {
		return "", apperrors.BadInput("zone %q is not a valid domain name", zone)
	}
	return strings.ToLower(z), nil
}

// checkName validates a record name: fully qualified and inside zone
// (already checked).
func checkName(name, zone string) (string, error) {
	n := strings.TrimSpace(name)
	if !mdns.IsFqdn(n) {
		return "", apperrors.BadInput("name %q has no trailing dot: write %q", name, n+".")
	}
	if _, ok := mdns.IsDomainName(n); !ok {
		return "", apperrors.BadInput("name %q is not a valid domain name", name)
	}
	n = strings.ToLower(n)
	if !mdns.IsSubDomain(zone, n) {
		return "", apperrors.BadInput("name %s is outside zone %s: a server only answers for names in its zones", n, zone)
	}
	return n, nil
}

// checkType validates a record type against allowed (nil: any type
// miekg/dns knows, and LUA).
func checkType(typ string, allowed []string) (string, error) {
	t := strings.ToUpper(strings.TrimSpace(typ))
	if allowed != nil {
		if !slices.Contains(allowed, t) {
			return "", apperrors.BadInput("record type %q is not one of %s", typ, strings.Join(allowed, ", "))
		}
		return t, nil
	}
	if _, ok := mdns.StringToType[t]; !ok && t != "LUA" {
		return "", apperrors.BadInput("record type %q is not a DNS record type (e.g. A, AAAA, CNAME, TXT)", typ)
	}
	return t, nil
}

// checkTTL validates a TTL in seconds.
func checkTTL(ttl int) error {
	if ttl < 1 || ttl > maxTTL {
		return apperrors.BadInput("TTL %d is not between 1 and %d seconds (a cutover lowers it to e.g. 30, not 0)", ttl, maxTTL)
	}
	return nil
}

// checkRecords validates and normalises the contents of an RRset of typ
// at name: sorted, without duplicates, in the form pdns stores.
func checkRecords(typ, name string, records []string) ([]string, error) {
	if len(records) == 0 {
		return nil, apperrors.BadInput("%s %s: Records is empty; give at least one record", name, typ)
	}
	if typ == "CNAME" && len(records) > 1 {
		return nil, apperrors.BadInput("%s CNAME: a name has at most one CNAME, got %d", name, len(records))
	}
	out := make([]string, 0, len(records))
	for i, r := range records {
		n, err := normalize(typ, name, r)
		if err != nil {
			return nil, apperrors.BadInput("%s %s: record %d %q: %v", name, typ, i+1, r, err)
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// normalize returns one record's content in pdns's form, so that what a
// server has and what is wanted compare equal when they mean the same.
func normalize(typ, name, rec string) (string, error) {
	rec = strings.TrimSpace(rec)
	switch typ {
	case "A", "AAAA":
		a, err := netip.ParseAddr(rec)
		if err != nil || (typ == "A") != a.Is4() || a.Zone() != "" {
			if typ == "A" {
				return "", fmt.Errorf("not an IPv4 address like 192.0.2.1")
			}
			return "", fmt.Errorf("not an IPv6 address like 2001:db8::1")
		}
		return a.String(), nil
	case "CNAME", "NS", "PTR":
		if !mdns.IsFqdn(rec) {
			return "", fmt.Errorf("target needs a trailing dot: %q", rec+".")
		}
		if _, ok := mdns.IsDomainName(rec); !ok {
			return "", fmt.Errorf("not a domain name")
		}
		return strings.ToLower(rec), nil
	case "LUA", "SOA":
		return rec, nil
	}
	rr, err := mdns.NewRR(fmt.Sprintf("%s 3600 IN %s %s", name, typ, rec))
	if err != nil {
		return "", err
	}
	if rr == nil {
		return "", fmt.Errorf("empty record")
	}
	return strings.TrimPrefix(rr.String(), rr.Header().String()), nil
}

// normalizeAll is normalize over what a server has: contents that do not
// parse are kept as they are (they then differ from anything wanted).
func normalizeAll(typ, name string, records []string) []string {
	out := make([]string, 0, len(records))
	for _, r := range records {
		if n, err := normalize(typ, name, r); err == nil {
			out = append(out, n)
		} else {
			out = append(out, r)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
