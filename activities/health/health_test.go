package health

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/microdc/mdc/apperrors"
)

// This package's tests live in lab Base 38 (127.38.0.0/16): real HAProxy,
// PowerDNS and MariaDB on 127.38.0.x, fakes on 127.38.<n>.x, and a site
// with nothing at all on 127.39.0.x.

// startWeb serves mux on addr until the test ends.
func startWeb(t *testing.T, addr string, h http.Handler) *httptest.Server {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func webMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "node web1 ok") })
	mux.HandleFunc("/down", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	return mux
}

func TestCheckHTTP(t *testing.T) {
	srv := startWeb(t, "127.38.1.1:0", webMux())
	a := &Activities{}
	ctx := context.Background()

	res, err := a.CheckHTTP(ctx, CheckHTTPInput{URL: srv.URL + "/ok", BodyContains: "web1"})
	require.NoError(t, err)
	require.True(t, res.Healthy, res.Reason)
	require.Equal(t, 200, res.Status)
	require.Empty(t, res.Reason)
	require.Positive(t, res.Latency)

	// Status mismatch: unhealthy result, not an error.
	res, err = a.CheckHTTP(ctx, CheckHTTPInput{URL: srv.URL + "/down"})
	require.NoError(t, err)
	require.False(t, res.Healthy)
	require.Equal(t, 503, res.Status)
	require.Contains(t, res.Reason, "status 503, want 200")
	// ... unless 503 is what the caller expects (a drained node).
	res, err = a.CheckHTTP(ctx, CheckHTTPInput{URL: srv.URL + "/down", ExpectStatus: 503})
	require.NoError(t, err)
	require.True(t, res.Healthy, res.Reason)

	// Body mismatch.
	res, err = a.CheckHTTP(ctx, CheckHTTPInput{URL: srv.URL + "/ok", BodyContains: "web2"})
	require.NoError(t, err)
	require.False(t, res.Healthy)
	require.Equal(t, 200, res.Status)
	require.Contains(t, res.Reason, `body does not contain "web2"`)

	// Timeout: bounded by the input's timeout, reported as unhealthy.
	start := time.Now()
	res, err = a.CheckHTTP(ctx, CheckHTTPInput{URL: srv.URL + "/slow", Timeout: 200 * time.Millisecond})
	require.NoError(t, err)
	require.Less(t, time.Since(start), time.Second)
	require.False(t, res.Healthy)
	require.Contains(t, res.Reason, "deadline exceeded")

	// Nothing listening: unhealthy, refused.
	res, err = a.CheckHTTP(ctx, CheckHTTPInput{URL: "http://127.39.0.2:8080/"})
	require.NoError(t, err)
	require.False(t, res.Healthy)
	require.Contains(t, res.Reason, "connection refused")

	// A password in the URL stays out of the reason.
	res, err = a.CheckHTTP(ctx, CheckHTTPInput{URL: "http://op:hunter2@127.39.0.2:8080/"})
	require.NoError(t, err)
	require.NotContains(t, res.Reason, "hunter2")
}

func TestCheckHTTPBadURL(t *testing.T) {
	a := &Activities{}
	for _, u := range []string{"", "127.38.1.1:80/ok", "ftp://127.38.1.1/", "http://", "http://[::1", "https://op:hunter2@[bad/"} {
		res, err := a.CheckHTTP(context.Background(), CheckHTTPInput{URL: u})
		require.True(t, apperrors.Is(err, apperrors.TypeBadInput), "URL %q: %v", u, err)
		require.Equal(t, ErrTypeBadInput, apperrors.TypeOf(err))
		require.NotContains(t, err.Error(), "hunter2")
		require.Zero(t, res)
	}
}

func TestCheckHTTPInTemporal(t *testing.T) {
	srv := startWeb(t, "127.38.1.2:0", webMux())
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(&Activities{})
	val, err := env.ExecuteActivity("CheckHTTP", CheckHTTPInput{URL: srv.URL + "/ok", BodyContains: "ok"})
	require.NoError(t, err)
	var res CheckHTTPResult
	require.NoError(t, val.Get(&res))
	require.True(t, res.Healthy, res.Reason)
}
