package health

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/lab/haproxy"
	"github.com/microdc/mdc/lab/mariadb"
	"github.com/microdc/mdc/lab/pdns"
	"github.com/microdc/mdc/pdnsapi"
)

// The real site, laid out as lab.Plan with Base 38.
const (
	realInfra    = "127.38.0.1"
	realFrontend = "127.38.0.2:8080"
	realRuntime  = realInfra + ":9999"
	realDNS      = realInfra + ":5300"
	realPDNSAPI  = realInfra + ":8081"
	realDB       = realInfra + ":3306"
	realNode     = "127.38.0.10:8080"
	realZone     = "site.test."
	realRecord   = "www.site.test."
	dbPassword   = `app-Secret-"7'`
)

// realSite is one site's running HAProxy, PowerDNS and MariaDB.
type realSite struct {
	lb   *haproxy.HAProxy
	dns  *pdns.PDNS
	db   *mariadb.MariaDB
	node *http.Server
}

// startRealSite starts the three servers at once (MariaDB's first start,
// a few seconds, dominates), a web node behind HAProxy, and the service
// record in PowerDNS.
func startRealSite(t *testing.T) *realSite {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	s := &realSite{}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "web1") })
	s.node = startWeb(t, realNode, mux).Config

	var wg sync.WaitGroup
	var lbErr, dnsErr, dbErr error
	var lbTook, dnsTook, dbTook time.Duration
	timed := func(took *time.Duration, f func()) func() {
		return func() { t0 := time.Now(); f(); *took = time.Since(t0) }
	}
	wg.Go(timed(&lbTook, func() {
		s.lb, lbErr = haproxy.Start(ctx, haproxy.Options{
			Dir: filepath.Join(dir, "lb"), RuntimeAPI: realRuntime, Frontend: realFrontend,
			Backend: "be_web", HealthPath: "/", Servers: []haproxy.Server{{Name: "web1", Addr: realNode}},
		})
	}))
	wg.Go(timed(&dnsTook, func() {
		s.dns, dnsErr = pdns.Start(ctx, pdns.Options{Dir: filepath.Join(dir, "dns"), DNSAddr: realDNS, APIAddr: realPDNSAPI, APIKey: "probe-key-38"})
	}))
	wg.Go(timed(&dbTook, func() {
		s.db, dbErr = mariadb.Start(ctx, mariadb.Options{
			Dir: filepath.Join(dir, "db"), Addr: realDB, ServerID: 38, Database: "mdc_app",
			Users: mariadb.Users{
				AdminUser: "mdc_admin", AdminPassword: "admin-Secret-38",
				AppUser: "mdc_web", AppPassword: dbPassword,
				ReplUser: "mdc_repl", ReplPassword: "repl-Secret-38",
			},
		})
	}))
	wg.Wait()
	for _, c := range []struct {
		err  error
		stop func()
	}{{lbErr, func() { s.lb.Kill() }}, {dnsErr, func() { s.dns.Kill() }}, {dbErr, func() { s.db.Kill() }}} {
		if c.err == nil {
			t.Cleanup(c.stop)
		}
	}
	require.NoError(t, lbErr)
	require.NoError(t, dnsErr)
	require.NoError(t, dbErr)
	t.Logf("start-up: haproxy %v, pdns %v, mariadb (fresh datadir) %v", lbTook.Round(time.Millisecond), dnsTook.Round(time.Millisecond), dbTook.Round(time.Millisecond))

	require.NoError(t, s.dns.EnsureZone(ctx, realZone, "ns1."+realZone))
	require.NoError(t, s.dns.ReplaceRRsets(ctx, realZone, []pdnsapi.RRset{{Name: realRecord, Type: "A", TTL: 30, Records: []string{"127.38.0.2"}}}))
	return s
}

func realConfig() SiteProbeConfig {
	return SiteProbeConfig{
		LBFrontend:   realFrontend,
		LBRuntimeAPI: realRuntime,
		DNSServers:   []string{realDNS},
		Record:       realRecord,
		DBAddress:    realDB,
		DBDSN:        mariadb.DSN("mdc_web", dbPassword, realDB, "mdc_app"),
	}
}

// TestProbeSiteRealComponents probes a site of real HAProxy, PowerDNS and
// MariaDB while it is healthy, then breaks it one part at a time down to
// nothing, checking what each probe reports.
func TestProbeSiteRealComponents(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real haproxy, pdns_server and mariadbd")
	}
	s := startRealSite(t)
	healthy := realConfig()
	badPW := realConfig()
	badPW.DBDSN = mariadb.DSN("mdc_web", "wrong-Secret-1", realDB, "mdc_app")
	noRecord := realConfig()
	noRecord.Record = "missing." + realZone
	a := newActs(t, map[string]SiteProbeConfig{"uk": healthy, "uk-badpw": badPW, "uk-norecord": noRecord})
	ctx := context.Background()
	probe := func(site string) ProbeSiteResult {
		t.Helper()
		res, err := a.ProbeSite(ctx, ProbeSiteInput{Site: site})
		require.NoError(t, err)
		requireNoSecret(t, res, dbPassword, "wrong-Secret-1")
		return res
	}

	// Healthy: every component answers; latencies over 20 probes.
	const n = 20
	lat := map[string][]time.Duration{}
	for range n {
		res := probe("uk")
		require.True(t, res.Healthy, "%+v", res)
		require.True(t, res.Reachable)
		for _, c := range res.Components {
			lat[c.Kind] = append(lat[c.Kind], c.Latency)
		}
		lat["whole probe"] = append(lat["whole probe"], res.Latency)
	}
	res := probe("uk")
	require.Equal(t, []string{KindLBFrontend, KindLBRuntimeAPI, KindDNS, KindDB}, kinds(res))
	require.Equal(t, "status 200", res.Components[0].Detail)
	require.Equal(t, "A 127.38.0.2", res.Components[2].Detail)
	require.Equal(t, "SELECT 1", res.Components[3].Detail)
	for _, k := range []string{KindLBFrontend, KindLBRuntimeAPI, KindDNS, KindDB, "whole probe"} {
		slices.Sort(lat[k])
		t.Logf("median latency over %d probes, %-15s %v", n, k+":", lat[k][n/2].Round(time.Microsecond))
	}

	// Wrong DB password: the database is reachable but not healthy.
	res = probe("uk-badpw")
	require.True(t, res.Reachable)
	require.False(t, res.Healthy)
	db := res.Components[3]
	require.True(t, db.Reachable)
	require.False(t, db.Healthy)
	require.Contains(t, db.Error, "credentials rejected (error 1045)")

	// A record the server does not have: reachable DNS, unhealthy.
	res = probe("uk-norecord")
	require.False(t, res.Healthy)
	dnsRes := res.Components[2]
	require.True(t, dnsRes.Reachable)
	require.Equal(t, "NXDOMAIN", dnsRes.Detail)
	require.Contains(t, dnsRes.Error, "answered NXDOMAIN for missing.site.test. A")

	// The only web node stops: HAProxy answers 503 once its checks notice.
	require.NoError(t, s.node.Close())
	deadline := time.Now().Add(10 * time.Second)
	for {
		res = probe("uk")
		if fe := res.Components[0]; fe.Reachable && !fe.Healthy {
			require.Equal(t, "status 503", fe.Detail)
			require.Contains(t, fe.Error, "cannot serve")
			break
		}
		require.True(t, time.Now().Before(deadline), "HAProxy still serving without its node: %+v", res.Components[0])
		time.Sleep(100 * time.Millisecond)
	}
	require.True(t, res.Reachable)
	require.False(t, res.Healthy)

	// HAProxy killed: the LB is unreachable, the site is not (DNS and DB are).
	s.lb.Kill()
	res = probe("uk")
	require.False(t, res.Components[0].Reachable)
	require.False(t, res.Components[1].Reachable)
	require.Contains(t, res.Components[1].Error, "connection refused")
	require.True(t, res.Components[2].Healthy)
	require.True(t, res.Components[3].Healthy)
	require.True(t, res.Reachable)
	require.False(t, res.Healthy)

	// PowerDNS and MariaDB killed too: the site is dead, and says so quickly.
	s.dns.Kill()
	s.db.Kill()
	start := time.Now()
	res = probe("uk")
	require.Less(t, time.Since(start), 1500*time.Millisecond)
	require.False(t, res.Reachable)
	for _, c := range res.Components {
		require.False(t, c.Reachable, "%s: %+v", c.Kind, c)
		require.NotEmpty(t, c.Error)
	}
	t.Logf("dead site (real components killed) probed in %v", res.Latency)
}
