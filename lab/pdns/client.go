package pdns

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ErrKeyRejected is wrapped by errors from an API that refused the API key.
var ErrKeyRejected = errors.New("pdns API rejected the API key")

// ErrZoneNotFound is wrapped by errors about a zone the server does not have.
var ErrZoneNotFound = errors.New("zone not found")

// APIError is a non-2xx answer from the PowerDNS API other than a key rejection.
type APIError struct {
	Method  string
	Path    string
	Status  int
	Message string // the "error" field of pdns's JSON answer, or the body
}

// Error says which request failed and what pdns answered.
func (e *APIError) Error() string {
	return fmt.Sprintf("pdns API %s %s: HTTP %d: %s", e.Method, e.Path, e.Status, e.Message)
}

// Client talks to one PowerDNS Authoritative server's HTTP API.
type Client struct {
	base string // e.g. http://127.32.0.1:8081
	key  string
	http *http.Client
}

// NewClient returns a client for the API at apiURL (scheme://host:port).
func NewClient(apiURL, apiKey string) *Client {
	return &Client{
		base: strings.TrimRight(apiURL, "/"),
		key:  apiKey,
		// pdns answers in milliseconds; a stuck request must not hang an activity.
		http: &http.Client{Timeout: 10 * time.Second},
	}
}

// APIURL is the base URL of the API, e.g. http://127.32.0.1:8081.
func (c *Client) APIURL() string { return c.base }

const serverPath = "/api/v1/servers/localhost"

// do sends one request and decodes a JSON answer into out (if non-nil).
// Errors name the method and path, never the key.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("pdns API %s %s: encode request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("pdns API %s %s: %w", method, path, err)
	}
	req.Header.Set("X-API-Key", c.key)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("pdns API %s %s at %s: %w (is pdns_server running?)", method, path, c.base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("pdns API %s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return fmt.Errorf("pdns API %s %s at %s: HTTP %d: %w; check that the key matches api-key in the server's pdns.conf",
			method, path, c.base, resp.StatusCode, ErrKeyRejected)
	}
	if resp.StatusCode/100 != 2 {
		msg := strings.TrimSpace(string(b))
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return &APIError{Method: method, Path: path, Status: resp.StatusCode, Message: msg}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("pdns API %s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

// Ping checks that the API answers and accepts the key.
func (c *Client) Ping(ctx context.Context) error {
	var info struct {
		Version string `json:"version"`
	}
	return c.do(ctx, http.MethodGet, serverPath, nil, &info)
}

// record, rrset and zone are the parts of the API's JSON that mdc uses.
type record struct {
	Content  string `json:"content"`
	Disabled bool   `json:"disabled"`
}

type rrset struct {
	Name       string   `json:"name"`
	Type       string   `json:"type"`
	TTL        int      `json:"ttl,omitempty"`
	ChangeType string   `json:"changetype,omitempty"`
	Records    []record `json:"records"`
}

type zone struct {
	Name        string   `json:"name"`
	Kind        string   `json:"kind"`
	Nameservers []string `json:"nameservers"`
	RRsets      []rrset  `json:"rrsets"`
}

// zoneTTL is the TTL of a new zone's SOA and NS records, and the SOA
// minimum (negative-answer TTL): short, because the lab's DNS changes.
const zoneTTL = 300

// EnsureZone creates zone as a Native zone with an SOA and one NS record
// naming nameserver; a zone that already exists is left as it is.
func (c *Client) EnsureZone(ctx context.Context, zoneName, nameserver string) error {
	z, ns := canon(zoneName), canon(nameserver)
	if z == "." || ns == "." {
		return fmt.Errorf("pdns EnsureZone: zone %q and nameserver %q must both be non-empty names", zoneName, nameserver)
	}
	body := zone{
		Name: z, Kind: "Native", Nameservers: []string{},
		RRsets: []rrset{
			{Name: z, Type: "SOA", TTL: zoneTTL, Records: []record{{Content: fmt.Sprintf("%s hostmaster.%s 1 10800 3600 604800 %d", ns, z, zoneTTL)}}},
			{Name: z, Type: "NS", TTL: zoneTTL, Records: []record{{Content: ns}}},
		},
	}
	err := c.do(ctx, http.MethodPost, serverPath+"/zones?rrsets=false", body, nil)
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusConflict {
		return nil // it exists already
	}
	if err != nil {
		return fmt.Errorf("pdns EnsureZone %s: %w", z, err)
	}
	return nil
}

// getZone fetches a zone with its records.
func (c *Client) getZone(ctx context.Context, z string) (*zone, error) {
	var out zone
	err := c.do(ctx, http.MethodGet, serverPath+"/zones/"+url.PathEscape(z), nil, &out)
	var ae *APIError
	if errors.As(err, &ae) && (ae.Status == http.StatusNotFound || ae.Status == http.StatusUnprocessableEntity) {
		return nil, fmt.Errorf("%w: %s on %s (create it with EnsureZone first): %v", ErrZoneNotFound, z, c.base, err)
	}
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// canon lower-cases a DNS name and makes it absolute.
func canon(name string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(name), ".")) + "."
}
