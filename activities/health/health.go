// Package health holds activities that check what clients see: an HTTP
// endpoint's status, body and latency.
package health

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
)

// Activities checks HTTP endpoints; the zero value uses a default client.
type Activities struct {
	Client *http.Client
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

// ErrTypeBadInput marks inputs no retry can fix.
const ErrTypeBadInput = "BadInput"

// CheckHTTP requests the URL once. An unhealthy endpoint is a result, not an
// error: the caller decides what an unhealthy answer means.
func (a *Activities) CheckHTTP(ctx context.Context, in CheckHTTPInput) (CheckHTTPResult, error) {
	if !strings.HasPrefix(in.URL, "http://") && !strings.HasPrefix(in.URL, "https://") {
		return CheckHTTPResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("health check URL %q must start with http:// or https://", in.URL), ErrTypeBadInput, nil)
	}
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
			fmt.Sprintf("health check URL %q: %v", in.URL, err), ErrTypeBadInput, nil)
	}
	start := time.Now()
	resp, err := client.Do(req)
	res := CheckHTTPResult{Latency: time.Since(start)}
	if err != nil {
		res.Reason = fmt.Sprintf("GET %s: %v", in.URL, err)
		return res, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	res.Latency = time.Since(start)
	res.Status = resp.StatusCode
	switch {
	case resp.StatusCode != in.ExpectStatus:
		res.Reason = fmt.Sprintf("GET %s: status %d, want %d", in.URL, resp.StatusCode, in.ExpectStatus)
	case in.BodyContains != "" && !strings.Contains(string(body), in.BodyContains):
		res.Reason = fmt.Sprintf("GET %s: body does not contain %q", in.URL, in.BodyContains)
	default:
		res.Healthy = true
	}
	return res, nil
}
