package pdns

import (
	"github.com/microdc/mdc/dnsquery"

	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/pdnsapi"
)

// Addresses follow lab.Plan with Base 32 (127.32.0.1), written out here
// because package lab imports this one.
const (
	dnsAddr = "127.32.0.1:5300"
	apiAddr = "127.32.0.1:8081"
	zoneN   = "mdc.test."
	wwwN    = "www.mdc.test."
	testKey = "lab-key-3f9c1e"
)

var (
	regions = []GeoAnswer{
		{Subnets: []string{"192.0.2.0/24"}, IP: "127.1.0.2"},    // eu
		{Subnets: []string{"198.51.100.0/24"}, IP: "127.2.0.2"}, // na
	}
	fallbackIP = "127.1.0.2"
)

func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real pdns_server; skipped with -short")
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func start(t *testing.T, dir string) *PDNS {
	t.Helper()
	p, err := Start(ctxT(t), Options{Dir: dir, DNSAddr: dnsAddr, APIAddr: apiAddr, APIKey: testKey})
	require.NoError(t, err)
	t.Cleanup(p.Kill)
	return p
}

// query asks the server for name's A record over network ("udp" or "tcp"),
// with an EDNS Client Subnet option when ecs is valid.
func query(t *testing.T, network, name string, ecs netip.Prefix) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	dnsquery.WithClientSubnet(m, ecs)
	c := &dns.Client{Net: network, Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, dnsAddr)
	require.NoError(t, err)
	require.Equal(t, dns.RcodeSuccess, r.Rcode, "rcode %s for %s", dns.RcodeToString[r.Rcode], name)
	return r
}

// answerA returns the A addresses and their TTL from r.
func answerA(t *testing.T, r *dns.Msg) ([]string, uint32) {
	t.Helper()
	var ips []string
	var ttl uint32
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			ips = append(ips, a.A.String())
			ttl = a.Hdr.Ttl
		}
	}
	sort.Strings(ips)
	return ips, ttl
}

func requireGeo(t *testing.T, network string, ecs netip.Prefix, wantIP string, wantTTL uint32) {
	t.Helper()
	ips, ttl := answerA(t, query(t, network, wwwN, ecs))
	require.Equal(t, []string{wantIP}, ips, "answer for ECS %v over %s", ecs, network)
	require.Equal(t, wantTTL, ttl)
}

func soaSerial(t *testing.T) uint32 {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(zoneN, dns.TypeSOA)
	r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, dnsAddr)
	require.NoError(t, err)
	require.Len(t, r.Answer, 1)
	return r.Answer[0].(*dns.SOA).Serial
}

func TestGeoRecords(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	p := start(t, dir)
	require.NotZero(t, p.PID())
	require.Equal(t, "http://"+apiAddr, p.APIURL())

	fi, err := os.Stat(filepath.Join(dir, "pdns.conf"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "pdns.conf holds the API key")

	ctx := ctxT(t)
	require.NoError(t, p.EnsureZone(ctx, zoneN, "ns1.mdc.test."))
	require.NoError(t, p.EnsureZone(ctx, "mdc.test", "ns1.mdc.test"), "EnsureZone is idempotent")

	require.NoError(t, p.SetGeoA(ctx, zoneN, wwwN, 30, regions, fallbackIP))
	eu, na := netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.51.100.0/24")
	for _, network := range []string{"udp", "tcp"} {
		requireGeo(t, network, eu, "127.1.0.2", 30)
		requireGeo(t, network, na, "127.2.0.2", 30)
	}
	// A host address inside a region's subnet, and a subnet of no region.
	requireGeo(t, "udp", netip.MustParsePrefix("198.51.100.77/32"), "127.2.0.2", 30)
	requireGeo(t, "udp", netip.MustParsePrefix("203.0.113.0/24"), fallbackIP, 30)
	// Without ECS the source address (127.0.0.1) decides: no region.
	requireGeo(t, "udp", netip.Prefix{}, fallbackIP, 30)

	// The server echoes the client subnet, as ECS requires.
	r := query(t, "udp", wwwN, na)
	var echoed bool
	for _, o := range r.IsEdns0().Option {
		if s, ok := o.(*dns.EDNS0_SUBNET); ok {
			echoed = s.Address.Equal(net.ParseIP("198.51.100.0"))
		}
	}
	require.True(t, echoed, "ECS option not echoed: %v", r)

	// Setting the same record again changes nothing, not even the serial.
	serial := soaSerial(t)
	require.NoError(t, p.SetGeoA(ctx, zoneN, wwwN, 30, regions, fallbackIP))
	require.Equal(t, serial, soaSerial(t))

	// A change is answered at once (the API purges pdns's caches).
	moved := []GeoAnswer{regions[0], {Subnets: []string{"198.51.100.0/24", "203.0.113.0/24"}, IP: "127.2.0.3"}}
	require.NoError(t, p.SetGeoA(ctx, zoneN, wwwN, 60, moved, "127.2.0.3"))
	require.Greater(t, soaSerial(t), serial)
	requireGeo(t, "udp", na, "127.2.0.3", 60)
	requireGeo(t, "udp", netip.MustParsePrefix("203.0.113.0/24"), "127.2.0.3", 60)
	requireGeo(t, "udp", netip.Prefix{}, "127.2.0.3", 60)
	requireGeo(t, "udp", eu, "127.1.0.2", 60)
}

func TestSetGeoAReplacesPlainA(t *testing.T) {
	skipShort(t)
	p := start(t, t.TempDir())
	ctx := ctxT(t)
	require.NoError(t, p.EnsureZone(ctx, zoneN, "ns1.mdc.test."))
	require.NoError(t, p.ReplaceRRsets(ctx, zoneN, []pdnsapi.RRset{{Name: wwwN, Type: "A", TTL: 30, Records: []string{"127.9.9.9"}}}))
	ips, _ := answerA(t, query(t, "udp", wwwN, netip.Prefix{}))
	require.Equal(t, []string{"127.9.9.9"}, ips)

	require.NoError(t, p.SetGeoA(ctx, zoneN, wwwN, 30, regions, fallbackIP))
	requireGeo(t, "udp", netip.Prefix{}, fallbackIP, 30)

	err := p.SetGeoA(ctx, "other.test.", "www.other.test.", 30, regions, fallbackIP)
	require.ErrorIs(t, err, ErrZoneNotFound)
	require.ErrorContains(t, err, "EnsureZone")
}

func TestRestartKeepsZone(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	p := start(t, dir)
	ctx := ctxT(t)
	require.NoError(t, p.EnsureZone(ctx, zoneN, "ns1.mdc.test."))
	require.NoError(t, p.SetGeoA(ctx, zoneN, wwwN, 30, regions, fallbackIP))
	require.NoError(t, p.Stop())

	p2 := start(t, dir)
	require.NotEqual(t, p.PID(), p2.PID())
	requireGeo(t, "udp", netip.MustParsePrefix("198.51.100.0/24"), "127.2.0.2", 30)
	require.NoError(t, p2.EnsureZone(ctx, zoneN, "ns1.mdc.test."))

	// After a crash too.
	p2.Kill()
	start(t, dir)
	requireGeo(t, "tcp", netip.MustParsePrefix("192.0.2.0/24"), "127.1.0.2", 30)
}

func TestWrongAPIKey(t *testing.T) {
	skipShort(t)
	p := start(t, t.TempDir())
	const wrong = "not-the-key-81d2"
	c := NewClient(p.APIURL(), wrong)
	err := c.EnsureZone(ctxT(t), zoneN, "ns1.mdc.test.")
	require.ErrorIs(t, err, ErrKeyRejected)
	require.ErrorContains(t, err, "rejected the API key")
	require.NotContains(t, err.Error(), wrong)
	require.NotContains(t, err.Error(), testKey)

	err = c.SetGeoA(ctxT(t), zoneN, wwwN, 30, regions, fallbackIP)
	require.ErrorIs(t, err, ErrKeyRejected)
	require.NotContains(t, err.Error(), wrong)

	log, err := os.ReadFile(p.LogPath())
	require.NoError(t, err)
	require.NotContains(t, string(log), testKey)
	require.NotContains(t, string(log), wrong)
}

func TestStartBusyPort(t *testing.T) {
	skipShort(t)
	c, err := net.ListenPacket("udp", dnsAddr)
	require.NoError(t, err)
	defer c.Close()
	_, err = Start(ctxT(t), Options{Dir: t.TempDir(), DNSAddr: dnsAddr, APIAddr: apiAddr, APIKey: testKey})
	require.ErrorContains(t, err, dnsAddr)
	require.ErrorContains(t, err, "not free")
	require.NotContains(t, err.Error(), testKey)
}

// TestStartupTime measures how long Start takes (median of five).
func TestStartupTime(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	var took []time.Duration
	for i := 0; i < 5; i++ {
		before := time.Now()
		p := start(t, dir)
		took = append(took, time.Since(before))
		require.NoError(t, p.Stop())
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	t.Logf("pdns start-up: median %v (min %v, max %v)", took[2], took[0], took[4])
}
