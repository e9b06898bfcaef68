// Package pdnsapi is mdc's client for the HTTP API of PowerDNS Authoritative
// (4.7 and later): zones, RRsets and the LUA geo records mdc publishes. The
// lab (lab/pdns) and the DNS activities (activities/dns) both use it, so one
// piece of code knows how pdns answers and fails.
//
// Errors never contain the API key. They wrap ErrKeyRejected when pdns
// refused the key, ErrZoneNotFound when the zone does not exist,
// ErrUnreachable when no HTTP answer came back, and are an *APIError for
// any other non-2xx answer.
package pdnsapi

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

// ErrUnreachable is wrapped by errors for requests that got no HTTP answer:
// connection refused, timeout, cancelled context. Retrying may help.
var ErrUnreachable = errors.New("pdns API unreachable")

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

// DefaultServerID is the server_id every pdns_server calls itself in its API.
const DefaultServerID = "localhost"

// DefaultTimeout bounds one API request when the caller's context allows
// longer: pdns answers in milliseconds, and a stuck request must not hang
// an activity.
const DefaultTimeout = 10 * time.Second

// Client talks to one PowerDNS Authoritative server's HTTP API. It is safe
// for concurrent use.
type Client struct {
	base     string // e.g. http://127.32.0.1:8081
	key      string
	serverID string
	http     *http.Client
}

// Option changes how NewClient builds a Client.
type Option func(*Client)

// WithServerID sets the API's server_id (default "localhost").
func WithServerID(id string) Option {
	return func(c *Client) {
		if id != "" {
			c.serverID = id
		}
	}
}

// WithTimeout bounds each request (default DefaultTimeout).
func WithTimeout(d time.Duration) Option {
	return func(c *Client) {
		if d > 0 {
			c.http = &http.Client{Timeout: d}
		}
	}
}

// NewClient returns a client for the API at apiURL (scheme://host:port).
func NewClient(apiURL, apiKey string, opts ...Option) *Client {
	c := &Client{
		base:     strings.TrimRight(apiURL, "/"),
		key:      apiKey,
		serverID: DefaultServerID,
		http:     &http.Client{Timeout: DefaultTimeout},
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// APIURL is the base URL of the API, e.g. http://127.32.0.1:8081.
func (c *Client) APIURL() string { return c.base }

// serverPath is the API path of this client's server.
func (c *Client) serverPath() string {
	return "/api/v1/servers/" + url.PathEscape(c.serverID)
}

// zonePath is the API path of zone z (absolute name).
func (c *Client) zonePath(z string) string {
	return c.serverPath() + "/zones/" + url.PathEscape(z)
}

// do sends one request and decodes a JSON answer into out (if non-nil).
// Errors name the method, path and server, never the key.
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
		// *url.Error repeats the URL, which holds no secret; the key is a header.
		return fmt.Errorf("pdns API %s %s at %s: %w: %w (is pdns_server running and its webserver enabled?)", method, path, c.base, ErrUnreachable, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("pdns API %s %s at %s: read answer: %w: %w", method, path, c.base, ErrUnreachable, err)
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
	return c.do(ctx, http.MethodGet, c.serverPath(), nil, &info)
}

// Canon lower-cases a DNS name and makes it absolute ("WWW.x" -> "www.x.").
func Canon(name string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(name), ".")) + "."
}

// InZone reports whether the absolute name n is zone z or below it.
func InZone(n, z string) bool {
	n, z = Canon(n), Canon(z)
	return z == "." || n == z || strings.HasSuffix(n, "."+z)
}
