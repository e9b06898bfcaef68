// Package health holds activities that check what clients see: an HTTP
// endpoint's status, body and latency (CheckHTTP), and whether a site's
// load balancer, DNS servers and database answer at all (ProbeSite).
//
// Workflows use CheckHTTP to wait for a new node or a moved service to
// serve, and ProbeSite as one observer's vote when FailoverSite confirms
// that a site is lost: a site with any component reachable is not fully
// dead, and one with every component healthy needs no failover.
package health

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/microdc/mdc/apperrors"
)

// Activities checks HTTP endpoints and probes sites; the zero value checks
// HTTP with a default client and knows no sites.
type Activities struct {
	Client *http.Client
	// Sites are the sites ProbeSite knows, by name.
	Sites map[string]SiteProbeConfig
}

// New returns Activities that probe sites and send HTTP requests with
// httpClient (nil means http.DefaultClient). Each site's configuration is
// checked, so a bad platform file fails at start-up, not at the first probe.
func New(sites map[string]SiteProbeConfig, httpClient *http.Client) (*Activities, error) {
	for name, c := range sites {
		if err := c.validate(); err != nil {
			return nil, fmt.Errorf("health: site %q: %w", name, err)
		}
	}
	return &Activities{Client: httpClient, Sites: sites}, nil
}

// CheckHTTPInput says what to request and what counts as healthy.
type CheckHTTPInput struct {
	URL string
	// ExpectStatus defaults to 200.
	ExpectStatus int
	// BodyContains, when set, must appear in the response body.
	BodyContains string
	// Timeout of the single request; defaults to 2s.
	Timeout time.Duration
}

// CheckHTTPResult is what the check saw.
type CheckHTTPResult struct {
	Healthy bool
	Status  int
	Latency time.Duration
	// Reason says why the endpoint is unhealthy; empty when healthy.
	Reason string
}

// ErrTypeBadInput marks inputs no retry can fix; it is apperrors.TypeBadInput.
const ErrTypeBadInput = apperrors.TypeBadInput

// CheckHTTP requests the URL once. An unhealthy endpoint is a result, not an
// error: the caller decides what an unhealthy answer means.
func (a *Activities) CheckHTTP(ctx context.Context, in CheckHTTPInput) (CheckHTTPResult, error) {
	u, err := url.Parse(in.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return CheckHTTPResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("health check URL %q must be http:// or https:// followed by a host", redactURL(in.URL)), ErrTypeBadInput, nil)
	}
	// Reasons name the URL without a password it may carry.
	shown := u.Redacted()
	if in.ExpectStatus == 0 {
		in.ExpectStatus = http.StatusOK
	}
	if in.Timeout <= 0 {
		in.Timeout = 2 * time.Second
	}
	client := a.Client
	if client == nil {
		client = http.DefaultClient
	}
	ctx, cancel := context.WithTimeout(ctx, in.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, in.URL, nil)
	if err != nil {
		return CheckHTTPResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("health check URL %q: %v", shown, err), ErrTypeBadInput, nil)
	}
	start := time.Now()
	resp, err := client.Do(req)
	res := CheckHTTPResult{Latency: time.Since(start)}
	if err != nil {
		res.Reason = fmt.Sprintf("GET %s: %v", shown, err)
		return res, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	res.Latency = time.Since(start)
	res.Status = resp.StatusCode
	switch {
	case resp.StatusCode != in.ExpectStatus:
		res.Reason = fmt.Sprintf("GET %s: status %d, want %d", shown, resp.StatusCode, in.ExpectStatus)
	case in.BodyContains != "" && !strings.Contains(string(body), in.BodyContains):
		res.Reason = fmt.Sprintf("GET %s: body does not contain %q", shown, in.BodyContains)
	default:
		res.Healthy = true
	}
	return res, nil
}

// redactURL hides the password of a URL that may not parse: everything
// between "://" and the last "@" before the host goes.
func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	host := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		host = rest[:i]
	}
	if at := strings.LastIndex(host, "@"); at >= 0 {
		return scheme + "://xxxxx@" + rest[at+1:]
	}
	return raw
}
