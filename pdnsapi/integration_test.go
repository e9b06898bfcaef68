package pdnsapi_test

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/lab/pdns"
	"github.com/microdc/mdc/pdnsapi"
)

// The DNS activities' tests own lab Bases 35 and 36 on the lab's usual
// ports; these run beside them on other ports of 127.35.0.1.
const (
	dnsAddr = "127.35.0.1:5390"
	apiAddr = "127.35.0.1:8090"
	key     = "pdnsapi-test-key-5c2a"
	zone    = "api.test."
)

func startPDNS(t *testing.T) (*pdns.PDNS, context.Context) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs a real pdns_server; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	p, err := pdns.Start(ctx, pdns.Options{Dir: t.TempDir(), DNSAddr: dnsAddr, APIAddr: apiAddr, APIKey: key})
	require.NoError(t, err)
	t.Cleanup(p.Kill)
	return p, ctx
}

func lookupA(t *testing.T, name string) []string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, dnsAddr)
	require.NoError(t, err)
	var ips []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			ips = append(ips, a.A.String())
		}
	}
	return ips
}

func TestRRsetsAgainstRealPDNS(t *testing.T) {
	p, ctx := startPDNS(t)
	c := pdnsapi.NewClient("http://"+apiAddr, key, pdnsapi.WithServerID("localhost"))
	require.NoError(t, c.Ping(ctx))
	require.NoError(t, c.EnsureZone(ctx, zone, "ns1."+zone))
	require.NoError(t, c.EnsureZone(ctx, zone, "ns1."+zone), "EnsureZone is idempotent")

	zs, err := c.ListZones(ctx)
	require.NoError(t, err)
	require.Len(t, zs, 1)
	require.Equal(t, zone, zs[0].Name)
	require.Equal(t, "Native", zs[0].Kind)
	serial := zs[0].Serial

	_, found, err := c.GetRRset(ctx, zone, "www."+zone, "A")
	require.NoError(t, err)
	require.False(t, found)

	www := pdnsapi.RRset{Name: "www." + zone, Type: "A", TTL: 60, Records: []string{"192.0.2.1", "192.0.2.2"},
		Comments: []pdnsapi.Comment{{Content: "set by mdc", Account: "mdc"}}}
	require.NoError(t, c.ReplaceRRsets(ctx, zone, []pdnsapi.RRset{www}))
	rr, found, err := c.GetRRset(ctx, zone, "WWW."+zone, "A")
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, 60, rr.TTL)
	require.ElementsMatch(t, www.Records, rr.Records)
	require.Len(t, rr.Comments, 1)
	require.Equal(t, "set by mdc", rr.Comments[0].Content)
	require.ElementsMatch(t, www.Records, lookupA(t, "www."+zone))

	z, err := c.GetZone(ctx, zone)
	require.NoError(t, err)
	require.Greater(t, z.Serial, serial, "a change moves the SOA serial")
	require.Len(t, z.RRsets, 3) // SOA, NS, www A

	// pdns rejects what it cannot parse; the error says what and where.
	err = c.ReplaceRRsets(ctx, zone, []pdnsapi.RRset{{Name: "bad." + zone, Type: "A", TTL: 60, Records: []string{"192.0.2"}}})
	var ae *pdnsapi.APIError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, 422, ae.Status)
	require.NotContains(t, err.Error(), key)

	require.NoError(t, c.DeleteRRset(ctx, zone, "www."+zone, "A"))
	require.NoError(t, c.DeleteRRset(ctx, zone, "www."+zone, "A"), "deleting what is gone succeeds")
	_, found, err = c.GetRRset(ctx, zone, "www."+zone, "A")
	require.NoError(t, err)
	require.False(t, found)

	_, _, err = c.GetRRset(ctx, "nope.test.", "www.nope.test.", "A")
	require.ErrorIs(t, err, pdnsapi.ErrZoneNotFound)
	require.ErrorIs(t, c.ReplaceRRsets(ctx, "nope.test.", []pdnsapi.RRset{{Name: "nope.test.", Type: "A", TTL: 5, Records: []string{"192.0.2.1"}}}), pdnsapi.ErrZoneNotFound)

	require.ErrorIs(t, pdnsapi.NewClient("http://"+apiAddr, "wrong").Ping(ctx), pdnsapi.ErrKeyRejected)

	p.Kill()
	err = c.Ping(ctx)
	require.ErrorIs(t, err, pdnsapi.ErrUnreachable)
}

func TestHealthCheckedGeoRecordIsServed(t *testing.T) {
	_, ctx := startPDNS(t)
	c := pdnsapi.NewClient("http://"+apiAddr, key)
	require.NoError(t, c.EnsureZone(ctx, zone, "ns1."+zone))
	// Only the second address answers the checked URL.
	l, err := net.Listen("tcp", "127.35.0.3:8089")
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != "app.api.test:8089" || r.URL.Path != "/up" {
			http.NotFound(w, r)
		}
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	answers := []pdnsapi.GeoAnswer{{Region: "a", Subnets: []string{"192.0.2.0/24"}, IP: "127.35.0.4"}}
	changed, err := c.SetGeo(ctx, zone, "app."+zone, 5, answers, "127.35.0.3", &pdnsapi.HealthCheck{Port: 8089, Path: "/up"})
	require.NoError(t, err)
	require.True(t, changed)
	changed, err = c.SetGeo(ctx, zone, "app."+zone, 5, answers, "127.35.0.3", &pdnsapi.HealthCheck{Port: 8089, Path: "/up"})
	require.NoError(t, err)
	require.False(t, changed, "the same record again changes nothing")

	// Before the first check every address is answered; then only the up one.
	require.Eventually(t, func() bool {
		ips := lookupA(t, "app."+zone)
		return len(ips) == 1 && ips[0] == "127.35.0.3"
	}, 15*time.Second, 100*time.Millisecond)
}
