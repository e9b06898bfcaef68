package pdnsapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// RRset is the set of records of one name and type.
type RRset struct {
	Name string // absolute, lower case
	Type string // e.g. "A", "LUA"
	TTL  int
	// Records is the content of each enabled record, as pdns stores it
	// (e.g. "192.0.2.1", `A "view(...)"` for LUA).
	Records []string
	// Disabled is the content of records that exist but are not served.
	Disabled []string `json:",omitempty"`
	// Comments are kept by pdns beside the RRset; nil leaves them as they
	// are when replacing.
	Comments []Comment `json:",omitempty"`
}

// Comment is a note pdns keeps on an RRset.
type Comment struct {
	Content    string
	Account    string
	ModifiedAt int64 // Unix seconds; 0 lets pdns set it
}

// RRsetID names an RRset to delete.
type RRsetID struct {
	Name string
	Type string
}

// apiRecord, apiComment and apiRRset are the API's JSON.
type apiRecord struct {
	Content  string `json:"content"`
	Disabled bool   `json:"disabled"`
}

type apiComment struct {
	Content    string `json:"content"`
	Account    string `json:"account"`
	ModifiedAt int64  `json:"modified_at,omitempty"`
}

type apiRRset struct {
	Name       string       `json:"name"`
	Type       string       `json:"type"`
	TTL        int          `json:"ttl,omitempty"`
	ChangeType string       `json:"changetype,omitempty"`
	Records    []apiRecord  `json:"records"`
	Comments   []apiComment `json:"comments,omitempty"`
}

func (r apiRRset) rrset() RRset {
	out := RRset{Name: Canon(r.Name), Type: r.Type, TTL: r.TTL}
	for _, rec := range r.Records {
		if rec.Disabled {
			out.Disabled = append(out.Disabled, rec.Content)
		} else {
			out.Records = append(out.Records, rec.Content)
		}
	}
	for _, cm := range r.Comments {
		out.Comments = append(out.Comments, Comment(cm))
	}
	return out
}

// GetRRsets returns every RRset at name (absolute, inside zone), of any type.
func (c *Client) GetRRsets(ctx context.Context, zoneName, name string) ([]RRset, error) {
	z, n := Canon(zoneName), Canon(name)
	if !InZone(n, z) {
		return nil, fmt.Errorf("pdns GetRRsets: name %s is not inside zone %s", n, z)
	}
	// pdns 4.7 filters on the server; older versions ignore the parameter,
	// so the answer is filtered here too.
	zone, err := c.getZone(ctx, z, "rrset_name="+url.QueryEscape(n))
	if err != nil {
		return nil, fmt.Errorf("pdns GetRRsets %s: %w", n, err)
	}
	var out []RRset
	for _, rr := range zone.RRsets {
		if Canon(rr.Name) == n {
			out = append(out, rr.rrset())
		}
	}
	return out, nil
}

// GetRRset returns the RRset of name and type; found is false when the
// zone has none.
func (c *Client) GetRRset(ctx context.Context, zoneName, name, typ string) (rr RRset, found bool, err error) {
	all, err := c.GetRRsets(ctx, zoneName, name)
	if err != nil {
		return RRset{}, false, err
	}
	for _, rr := range all {
		if strings.EqualFold(rr.Type, typ) {
			return rr, true, nil
		}
	}
	return RRset{}, false, nil
}

// ReplaceRRsets sets each RRset to exactly the given TTL and records
// (PATCH changetype REPLACE), in one request: pdns applies all or none and
// increases the SOA serial once.
func (c *Client) ReplaceRRsets(ctx context.Context, zoneName string, rrsets []RRset) error {
	return c.PatchRRsets(ctx, zoneName, rrsets, nil)
}

// DeleteRRset removes the RRset of name and type; deleting one that does
// not exist succeeds.
func (c *Client) DeleteRRset(ctx context.Context, zoneName, name, typ string) error {
	return c.PatchRRsets(ctx, zoneName, nil, []RRsetID{{Name: name, Type: typ}})
}

// PatchRRsets replaces and deletes RRsets in one atomic request, e.g. a LUA
// record and the plain A record it supersedes.
func (c *Client) PatchRRsets(ctx context.Context, zoneName string, replace []RRset, del []RRsetID) error {
	z := Canon(zoneName)
	var patch []apiRRset
	for _, rr := range replace {
		n := Canon(rr.Name)
		if !InZone(n, z) {
			return fmt.Errorf("pdns PatchRRsets: name %s is not inside zone %s", n, z)
		}
		if rr.TTL <= 0 {
			return fmt.Errorf("pdns PatchRRsets %s/%s: TTL %d must be positive", n, rr.Type, rr.TTL)
		}
		a := apiRRset{Name: n, Type: strings.ToUpper(rr.Type), TTL: rr.TTL, ChangeType: "REPLACE", Records: []apiRecord{}}
		for _, r := range rr.Records {
			a.Records = append(a.Records, apiRecord{Content: r})
		}
		for _, r := range rr.Disabled {
			a.Records = append(a.Records, apiRecord{Content: r, Disabled: true})
		}
		for _, cm := range rr.Comments {
			a.Comments = append(a.Comments, apiComment(cm))
		}
		patch = append(patch, a)
	}
	for _, d := range del {
		n := Canon(d.Name)
		if !InZone(n, z) {
			return fmt.Errorf("pdns PatchRRsets: name %s is not inside zone %s", n, z)
		}
		patch = append(patch, apiRRset{Name: n, Type: strings.ToUpper(d.Type), ChangeType: "DELETE", Records: []apiRecord{}})
	}
	if len(patch) == 0 {
		return nil
	}
	err := c.do(ctx, http.MethodPatch, c.zonePath(z), struct {
		RRsets []apiRRset `json:"rrsets"`
	}{patch}, nil)
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return fmt.Errorf("pdns PatchRRsets: %w: %s on %s (create it with EnsureZone first): %v", ErrZoneNotFound, z, c.base, err)
	}
	if err != nil {
		return fmt.Errorf("pdns PatchRRsets %s: %w", z, err)
	}
	return nil
}
