package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/microdc/mdc/apperrors"
)

// deadSite has nothing listening anywhere: every probe is refused.
var deadSite = SiteProbeConfig{
	LBFrontend:   "127.39.0.2:8080",
	LBRuntimeAPI: "127.39.0.1:9999",
	DNSServers:   []string{"127.39.0.1:5300", "127.39.0.3:5300"},
	Record:       "www.site.test",
	DBAddress:    "127.39.0.1:3306",
	DBDSN:        "mdc_web:db-Secret-9@tcp(127.39.0.1:3306)/mdc_app",
}

func newActs(t *testing.T, sites map[string]SiteProbeConfig) *Activities {
	t.Helper()
	a, err := New(sites, nil)
	require.NoError(t, err)
	return a
}

// requireNoSecret fails if the result, in JSON, shows a password.
func requireNoSecret(t *testing.T, res ProbeSiteResult, secrets ...string) {
	t.Helper()
	b, err := json.Marshal(res)
	require.NoError(t, err)
	for _, s := range secrets {
		require.NotContains(t, string(b), s)
	}
}

func kinds(res ProbeSiteResult) []string {
	var out []string
	for _, c := range res.Components {
		out = append(out, c.Kind)
	}
	return out
}

func TestProbeDeadSite(t *testing.T) {
	a := newActs(t, map[string]SiteProbeConfig{"us": deadSite})
	start := time.Now()
	res, err := a.ProbeSite(context.Background(), ProbeSiteInput{Site: "us"})
	require.NoError(t, err, "a dead site is a result, not an error")
	require.Less(t, time.Since(start), 1500*time.Millisecond)
	require.False(t, res.Reachable)
	require.False(t, res.Healthy)
	require.Equal(t, []string{KindLBFrontend, KindLBRuntimeAPI, KindDNS, KindDNS, KindDB}, kinds(res))
	for _, c := range res.Components {
		require.False(t, c.Reachable, "%s %s", c.Kind, c.Address)
		require.Contains(t, c.Error, "connection refused", "%s", c.Kind)
	}
	require.Equal(t, "http://127.39.0.2:8080/", res.Components[0].Address)
	require.Equal(t, "127.39.0.3:5300", res.Components[3].Address)
	requireNoSecret(t, res, "db-Secret-9")
	t.Logf("dead site (refused everywhere) probed in %v", res.Latency)
}

// hungSite starts components that accept but never answer: an HTTP server
// that hangs, a UDP socket that swallows DNS queries, and TCP listeners
// that accept and say nothing (a database that never sends its greeting).
func hungSite(t *testing.T) SiteProbeConfig {
	t.Helper()
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	web := startWeb(t, "127.38.5.2:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-hang:
		}
	}))
	udp, err := net.ListenPacket("udp", "127.38.5.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { udp.Close() })
	return SiteProbeConfig{
		LBFrontend:   web.URL + "/",
		LBRuntimeAPI: acceptOnly(t, "127.38.5.1:0"),
		DNSServers:   []string{udp.LocalAddr().String()},
		Record:       "www.site.test.",
		DBAddress:    acceptOnly(t, "127.38.5.3:0"),
		DBDSN:        "mdc_web:db-Secret-9@tcp(127.38.5.3:3306)/mdc_app",
		Timeout:      500 * time.Millisecond,
	}
}

// acceptOnly listens on addr, accepts connections and holds them silently.
func acceptOnly(t *testing.T, addr string) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if errors.Is(err, net.ErrClosed) {
				return
			} else if err == nil {
				held = append(held, c)
			}
		}
	}()
	return ln.Addr().String()
}

// TestProbeHungSite: every component hangs, and the probe still ends in
// about one timeout (they run at once), reporting which parts answered.
func TestProbeHungSite(t *testing.T) {
	cfg := hungSite(t)
	a := newActs(t, map[string]SiteProbeConfig{"uk": cfg})
	start := time.Now()
	res, err := a.ProbeSite(context.Background(), ProbeSiteInput{Site: "uk"})
	require.NoError(t, err)
	took := time.Since(start)
	require.Less(t, took, cfg.Timeout+400*time.Millisecond, "components are probed concurrently, not one after another")
	require.GreaterOrEqual(t, took, cfg.Timeout-10*time.Millisecond)

	require.True(t, res.Reachable, "TCP listeners accepted")
	require.False(t, res.Healthy)
	byKind := map[string]ComponentResult{}
	for _, c := range res.Components {
		byKind[c.Kind] = c
	}
	require.False(t, byKind[KindLBFrontend].Reachable)
	require.Contains(t, byKind[KindLBFrontend].Error, "timed out")
	require.True(t, byKind[KindLBRuntimeAPI].Healthy, "TCP connect is the runtime API check")
	require.False(t, byKind[KindDNS].Reachable)
	require.Contains(t, byKind[KindDNS].Error, "timed out")
	db := byKind[KindDB]
	require.True(t, db.Reachable)
	require.False(t, db.Healthy)
	require.Contains(t, db.Error, "accepts TCP but SELECT 1")
	requireNoSecret(t, res, "db-Secret-9")
	t.Logf("hung site (timeout %v) probed in %v: db: %s", cfg.Timeout, res.Latency, db.Error)
}

// TestProbeDBTCPOnly: without a DSN the database check is a TCP connect,
// against a listener that accepts and one that is closed.
func TestProbeDBTCPOnly(t *testing.T) {
	open := acceptOnly(t, "127.38.6.1:0")
	ln, err := net.Listen("tcp", "127.38.6.2:0")
	require.NoError(t, err)
	closed := ln.Addr().String()
	require.NoError(t, ln.Close())
	a := newActs(t, map[string]SiteProbeConfig{"open": {DBAddress: open}, "closed": {DBAddress: closed}})

	res, err := a.ProbeSite(context.Background(), ProbeSiteInput{Site: "open"})
	require.NoError(t, err)
	require.True(t, res.Healthy, "%+v", res)
	require.True(t, res.Reachable)
	require.Contains(t, res.Components[0].Detail, "no DSN")

	res, err = a.ProbeSite(context.Background(), ProbeSiteInput{Site: "closed"})
	require.NoError(t, err)
	require.False(t, res.Reachable)
	require.Equal(t, fmt.Sprintf("TCP connect to %s: connect: connection refused", closed), res.Components[0].Error)
}

func TestProbeSiteBadInput(t *testing.T) {
	a := newActs(t, map[string]SiteProbeConfig{"uk": deadSite, "us": deadSite})
	_, err := a.ProbeSite(context.Background(), ProbeSiteInput{Site: "mars"})
	require.True(t, apperrors.Is(err, apperrors.TypeBadInput), "%v", err)
	require.ErrorContains(t, err, `unknown site "mars": configured sites are uk, us`)

	var zero Activities
	_, err = zero.ProbeSite(context.Background(), ProbeSiteInput{Site: "uk"})
	require.True(t, apperrors.Is(err, apperrors.TypeBadInput), "%v", err)
	require.ErrorContains(t, err, "no sites are configured")
}

func TestNewChecksProbeConfig(t *testing.T) {
	for _, c := range []struct {
		cfg  SiteProbeConfig
		want string
	}{
		{SiteProbeConfig{}, "no component to probe"},
		{SiteProbeConfig{LBFrontend: "ftp://x/"}, `LBFrontend "ftp://x/" is neither`},
		{SiteProbeConfig{LBRuntimeAPI: "127.38.0.1"}, `LBRuntimeAPI "127.38.0.1" is not host:port`},
		{SiteProbeConfig{DNSServers: []string{"127.38.0.1:53"}}, `Record "" is not a DNS name`},
		{SiteProbeConfig{DNSServers: []string{"ns1"}, Record: "www.x."}, `DNSServers "ns1" is not host:port`},
		{SiteProbeConfig{DBAddress: "127.38.0.1:3306", DBDSN: "db-Secret-9@nonsense"}, "DBDSN is not a valid"},
		{SiteProbeConfig{DBDSN: "u:p@tcp(127.38.0.1:3306)/db"}, "DBAddress is empty"},
		{SiteProbeConfig{DBAddress: "127.38.0.1:3306", Timeout: -1}, "Timeout -1ns is negative"},
	} {
		_, err := New(map[string]SiteProbeConfig{"uk": c.cfg}, nil)
		require.ErrorContains(t, err, c.want)
		require.ErrorContains(t, err, `site "uk"`)
		require.NotContains(t, err.Error(), "db-Secret-9")
	}
	require.NotContains(t, fmt.Sprintf("%v %+v", deadSite, map[string]SiteProbeConfig{"us": deadSite}), "db-Secret-9")
}

func TestProbeSiteInTemporal(t *testing.T) {
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(newActs(t, map[string]SiteProbeConfig{"us": deadSite}))
	val, err := env.ExecuteActivity("ProbeSite", ProbeSiteInput{Site: "us"})
	require.NoError(t, err)
	var res ProbeSiteResult
	require.NoError(t, val.Get(&res))
	require.Equal(t, "us", res.Site)
	require.False(t, res.Reachable)
	require.Len(t, res.Components, 5)
	require.Positive(t, res.Components[4].Latency)

	_, err = env.ExecuteActivity("ProbeSite", ProbeSiteInput{Site: "atlantis"})
	require.True(t, apperrors.Is(err, apperrors.TypeBadInput), "%v", err)
}
