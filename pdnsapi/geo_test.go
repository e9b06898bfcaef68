package pdnsapi

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestGeoLUAView(t *testing.T) {
	code, err := GeoLUA([]GeoAnswer{
		{Subnets: []string{"192.0.2.7/24"}, IP: "127.1.0.2"},
		{Subnets: []string{"198.51.100.0/24", "2001:db8::/32"}, IP: " 127.2.0.2"},
	}, "127.1.0.2", nil)
	require.NoError(t, err)
	require.Equal(t, `A "view({{{'192.0.2.0/24'}, {'127.1.0.2'}}, {{'198.51.100.0/24', '2001:db8::/32'}, {'127.2.0.2'}}, {{'0.0.0.0/0', '::/0'}, {'127.1.0.2'}}})"`, code)

	code, err = GeoLUA(nil, "127.1.0.2", nil)
	require.NoError(t, err)
	require.Equal(t, `A "view({{{'0.0.0.0/0', '::/0'}, {'127.1.0.2'}}})"`, code)

	code, err = GeoLUA([]GeoAnswer{{Region: "uk", Subnets: []string{"192.0.2.0/24"}, IP: "127.1.0.2"}}, "127.1.0.2", nil)
	require.NoError(t, err)
	require.Equal(t, `A "view({--[[uk]] {{'192.0.2.0/24'}, {'127.1.0.2'}}, {{'0.0.0.0/0', '::/0'}, {'127.1.0.2'}}})"`, code)
}

func TestGeoLUAHealth(t *testing.T) {
	answers := []GeoAnswer{
		{Region: "uk", Subnets: []string{"192.0.2.0/24"}, IP: "127.1.0.2"},
		{Region: "us", Subnets: []string{"198.51.100.0/24"}, IP: "127.2.0.2"},
	}
	code, err := GeoLUA(answers, "127.1.0.2", &HealthCheck{Host: "WWW.mdc.test", Port: 8080, Path: "/health"})
	require.NoError(t, err)
	u := "ifurlup('http://www.mdc.test:8080/health', "
	require.Equal(t, `A ";`+
		`--[[uk]] if netmask({'192.0.2.0/24'}) then return `+u+`{{'127.1.0.2'}, {'127.2.0.2'}}, {backupSelector='all'}) end `+
		`--[[us]] if netmask({'198.51.100.0/24'}) then return `+u+`{{'127.2.0.2'}, {'127.1.0.2'}}, {backupSelector='all'}) end `+
		`return `+u+`{{'127.1.0.2'}, {'127.2.0.2'}}, {backupSelector='all'})"`, code)

	code, err = GeoLUA(answers, "127.3.0.2", &HealthCheck{Host: "www", Port: 443, Path: "/"})
	require.NoError(t, err)
	require.Contains(t, code, "return ifurlup('http://www:443/', {{'127.3.0.2'}, {'127.1.0.2'}, {'127.2.0.2'}}, {backupSelector='all'})\"")
}

func TestGeoLUARejectsBadInput(t *testing.T) {
	_, err := GeoLUA([]GeoAnswer{
		{Subnets: []string{"192.0.2.0/24'}) os.exit() --"}, IP: "127.1.0.2"},
		{Region: "u k", Subnets: nil, IP: "2001:db8::1"},
	}, "nope", nil)
	require.ErrorContains(t, err, `answer 1 subnet "192.0.2.0/24'}) os.exit() --" is not a CIDR prefix`)
	require.ErrorContains(t, err, "answer 2 (2001:db8::1) has no subnets")
	require.ErrorContains(t, err, `answer 2 IP "2001:db8::1" is not an IPv4 address`)
	require.ErrorContains(t, err, `answer 2 region "u k"`)
	require.ErrorContains(t, err, `fallback "nope" is not an IPv4 address`)

	ok := []GeoAnswer{{Subnets: []string{"192.0.2.0/24"}, IP: "127.1.0.2"}}
	for hc, want := range map[HealthCheck]string{
		{Host: "www", Port: 0, Path: "/"}:            "port 0",
		{Host: "www", Port: 70000}:                   "port 70000",
		{Host: "www", Port: 80}:                      "must start with /",
		{Host: "www", Port: 80, Path: "health"}:      "must start with /",
		{Host: "www", Port: 80, Path: "/a'b"}:        "no quotes",
		{Host: "www", Port: 80, Path: `/a"b`}:        "no quotes",
		{Host: "www', x", Port: 80, Path: "/health"}: "is not a host name",
	} {
		_, err := GeoLUA(ok, "127.1.0.2", &hc)
		require.ErrorContains(t, err, want, "%+v", hc)
	}
}

func TestSetGeoValidatesBeforeCallingTheAPI(t *testing.T) {
	// Nothing listens here: each error must come from validation.
	c := NewClient("http://127.0.0.1:1", "k")
	ctx := context.Background()
	require.ErrorContains(t, c.SetGeoA(ctx, "mdc.test.", "www.other.test.", 30, nil, "127.1.0.2"), "not inside zone mdc.test.")
	require.ErrorContains(t, c.SetGeoA(ctx, "mdc.test.", "www.mdc.test.", 0, nil, "127.1.0.2"), "TTL 0 must be positive")
	require.ErrorContains(t, c.SetGeoA(ctx, "mdc.test.", "www.mdc.test.", 30, nil, ""), "fallback")
	_, err := c.SetGeo(ctx, "mdc.test.", "www.mdc.test.", 30, nil, "127.1.0.2", &HealthCheck{Port: 80, Path: "x"})
	require.ErrorContains(t, err, "must start with /")
	require.ErrorContains(t, c.EnsureZone(ctx, "", "ns1."), "must both be non-empty")
	require.ErrorContains(t, c.ReplaceRRsets(ctx, "mdc.test.", []RRset{{Name: "a.other.", Type: "A", TTL: 5}}), "not inside zone")
	require.ErrorContains(t, c.ReplaceRRsets(ctx, "mdc.test.", []RRset{{Name: "a.mdc.test.", Type: "A"}}), "TTL 0 must be positive")
}

func TestCanonAndInZone(t *testing.T) {
	require.Equal(t, "www.mdc.test.", Canon("WWW.mdc.test"))
	require.Equal(t, "mdc.test.", Canon("mdc.test."))
	require.Equal(t, ".", Canon(""))
	require.True(t, InZone("www.mdc.test.", "mdc.test."))
	require.True(t, InZone("mdc.test.", "MDC.test"))
	require.False(t, InZone("wwwmdc.test.", "mdc.test."))
	require.False(t, InZone("mdc.test.", "www.mdc.test."))
}
