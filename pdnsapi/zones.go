package pdnsapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// Zone is a zone as the API lists it; RRsets is filled by GetZone only.
type Zone struct {
	Name   string  // absolute, e.g. "mdc.test."
	Kind   string  // Native, Master or Slave
	Serial uint32  // the SOA serial in the backend
	RRsets []RRset `json:",omitempty"`
}

// apiZone is the API's JSON for a zone.
type apiZone struct {
	Name        string     `json:"name"`
	Kind        string     `json:"kind"`
	Serial      uint32     `json:"serial,omitempty"`
	Nameservers []string   `json:"nameservers"`
	RRsets      []apiRRset `json:"rrsets,omitempty"`
}

func (z apiZone) zone() Zone {
	out := Zone{Name: z.Name, Kind: z.Kind, Serial: z.Serial}
	for _, rr := range z.RRsets {
		out.RRsets = append(out.RRsets, rr.rrset())
	}
	return out
}

// zoneTTL is the TTL of a new zone's SOA and NS records, and the SOA
// minimum (negative-answer TTL): short, because mdc moves names around.
const zoneTTL = 300

// EnsureZone creates zone as a Native zone with an SOA and one NS record
// naming nameserver; a zone that already exists is left as it is.
func (c *Client) EnsureZone(ctx context.Context, zoneName, nameserver string) error {
	z, ns := Canon(zoneName), Canon(nameserver)
	if z == "." || ns == "." {
		return fmt.Errorf("pdns EnsureZone: zone %q and nameserver %q must both be non-empty names", zoneName, nameserver)
	}
	body := apiZone{
		Name: z, Kind: "Native", Nameservers: []string{},
		RRsets: []apiRRset{
			{Name: z, Type: "SOA", TTL: zoneTTL, Records: []apiRecord{{Content: fmt.Sprintf("%s hostmaster.%s 1 10800 3600 604800 %d", ns, z, zoneTTL)}}},
			{Name: z, Type: "NS", TTL: zoneTTL, Records: []apiRecord{{Content: ns}}},
		},
	}
	err := c.do(ctx, http.MethodPost, c.serverPath()+"/zones?rrsets=false", body, nil)
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusConflict {
		return nil // it exists already
	}
	if err != nil {
		return fmt.Errorf("pdns EnsureZone %s: %w", z, err)
	}
	return nil
}

// ListZones returns every zone of the server, without their records.
func (c *Client) ListZones(ctx context.Context) ([]Zone, error) {
	var zs []apiZone
	if err := c.do(ctx, http.MethodGet, c.serverPath()+"/zones", nil, &zs); err != nil {
		return nil, fmt.Errorf("pdns ListZones: %w", err)
	}
	out := make([]Zone, 0, len(zs))
	for _, z := range zs {
		out = append(out, z.zone())
	}
	return out, nil
}

// GetZone returns zone with all its RRsets.
func (c *Client) GetZone(ctx context.Context, zoneName string) (Zone, error) {
	z, err := c.getZone(ctx, Canon(zoneName), "")
	if err != nil {
		return Zone{}, err
	}
	return z.zone(), nil
}

// getZone fetches zone z (absolute) with its records; query, when not
// empty, filters them (e.g. "rrset_name=www.mdc.test.").
func (c *Client) getZone(ctx context.Context, z, query string) (*apiZone, error) {
	path := c.zonePath(z)
	if query != "" {
		path += "?" + query
	}
	var out apiZone
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	var ae *APIError
	if errors.As(err, &ae) && (ae.Status == http.StatusNotFound || ae.Status == http.StatusUnprocessableEntity) {
		return nil, fmt.Errorf("%w: %s on %s (create it with EnsureZone first): %v", ErrZoneNotFound, z, c.base, err)
	}
	if err != nil {
		return nil, err
	}
	return &out, nil
}
