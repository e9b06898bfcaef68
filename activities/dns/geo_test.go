package dns

import (
	"context"

	"github.com/microdc/mdc/dnsquery"

	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Client subnets of the two regions, and the sites' frontends in them.
const (
	ukNet, usNet = "192.0.2.0/24", "198.51.100.0/24"
	ukIP, usIP   = "127.35.0.2", "127.36.0.2"
)

func geoInput(hc *HealthCheck) SetGeoRecordInput {
	return SetGeoRecordInput{Site: "uk", Zone: zone, Name: www, TTL: 5, Fallback: ukIP, HealthCheck: hc,
		Answers: []GeoAnswer{
			{Region: "uk", Subnets: []string{ukNet}, IP: ukIP},
			{Region: "us", Subnets: []string{usNet}, IP: usIP},
		}}
}

func TestSetGeoRecord(t *testing.T) {
	l := newLab(t)
	ctx := ctxT(t, 30*time.Second)
	res, err := l.a.SetGeoRecord(ctx, geoInput(nil))
	require.NoError(t, err)
	require.Equal(t, []string{OutcomeChanged, OutcomeChanged}, outcomes(res))
	serials := l.serials()
	res, err = l.a.SetGeoRecord(ctx, geoInput(nil))
	require.NoError(t, err)
	require.False(t, res.Changed)
	require.Equal(t, serials, l.serials())

	for subnet, ip := range map[string]string{ukNet: ukIP, usNet: usIP, "203.0.113.0/24": ukIP} {
		_, err := l.a.Verify(ctx, VerifyInput{Site: "uk", Name: www, Type: "A", Expect: []string{ip}, ClientSubnets: []string{subnet}, Deadline: 2 * time.Second})
		require.NoError(t, err, "clients in %s", subnet)
	}
	read, err := l.a.ReadRecord(ctx, ReadRecordInput{Site: "uk", Zone: zone, Name: www, Type: "LUA"})
	require.NoError(t, err)
	require.True(t, read.Agree)
	require.Contains(t, read.Servers[0].Records[0], "--[[us]] {{'"+usNet+"'}, {'"+usIP+"'}}")

	// A plain A record replaces the geo one, and the other way round.
	_, err = l.a.SetRecord(ctx, SetRecordInput{Site: "uk", Zone: zone, Name: www, Type: "A", TTL: 5, Records: []string{usIP}})
	require.NoError(t, err)
	_, err = l.a.Verify(ctx, VerifyInput{Site: "uk", Name: www, Type: "A", Expect: []string{usIP}, ClientSubnets: []string{ukNet}, Deadline: 2 * time.Second})
	require.NoError(t, err)
	read, err = l.a.ReadRecord(ctx, ReadRecordInput{Site: "uk", Zone: zone, Name: www, Type: "LUA"})
	require.NoError(t, err)
	require.False(t, read.Servers[0].Found)
	res, err = l.a.SetGeoRecord(ctx, geoInput(nil))
	require.NoError(t, err)
	require.True(t, res.Changed)
	read, err = l.a.ReadRecord(ctx, ReadRecordInput{Site: "uk", Zone: zone, Name: www, Type: "A"})
	require.NoError(t, err)
	require.False(t, read.Servers[1].Found)

	// The geo record's TTL can be lowered for a cutover like any other.
	res, err = l.a.SetTTL(ctx, SetTTLInput{Site: "uk", Zone: zone, Name: www, Type: "LUA", TTL: 2})
	require.NoError(t, err)
	require.True(t, res.Changed)
}

// queryA asks server for www's A records as a resolver in subnet would.
func queryA(t *testing.T, server, subnet string) []string {
	t.Helper()
	ips, err := dnsquery.A(context.Background(), server, www, netip.MustParsePrefix(subnet))
	require.NoError(t, err)
	return ips
}

// TestGeoHealthFailover checks "closest healthy site" for real: pdns
// checks each site's HTTP server itself and stops answering a dead one.
func TestGeoHealthFailover(t *testing.T) {
	l := newLab(t)
	ctx := ctxT(t, 120*time.Second)
	ukWeb, usWeb := startWeb(t, ukIP+":8080"), startWeb(t, usIP+":8080")
	_, err := l.a.SetGeoRecord(ctx, geoInput(&HealthCheck{Port: 8080, Path: "/health"}))
	require.NoError(t, err)

	// pdns 4.7 has not checked anything at the first query: every address
	// is down until its first check, and backupSelector 'all' answers all.
	first := queryA(t, dnsAddrs[0], usNet)
	t.Logf("first answer to us clients, before any health check: %v", first)
	require.Equal(t, []string{ukIP, usIP}, first)

	// expect waits until every server answers clients in subnet with ip.
	expect := func(what, subnet string, ips ...string) {
		t.Helper()
		res, err := l.a.Verify(ctx, VerifyInput{Site: "uk", Name: www, Type: "A", Expect: ips, ClientSubnets: []string{subnet}, Deadline: 20 * time.Second})
		require.NoError(t, err, what)
		t.Logf("%s: %v after %v", what, ips, res.Took.Round(10*time.Millisecond))
	}
	expect("us clients get us once checked", usNet, usIP)
	expect("uk clients get uk", ukNet, ukIP)

	usWeb.stop()
	expect("us site down: us clients fail over to uk", usNet, ukIP)
	expect("uk clients unaffected", ukNet, ukIP)
	expect("other clients get the fallback", "203.0.113.0/24", ukIP)

	ukWeb.stop()
	expect("both down: every address answered", usNet, ukIP, usIP)

	startWeb(t, usIP+":8080")
	expect("us back: us clients return", usNet, usIP)
	expect("uk still down: uk clients go to us", ukNet, usIP)
}
