package dns

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/apperrors"
)

func TestNewRejectsBadConfig(t *testing.T) {
	_, err := New(nil)
	require.ErrorContains(t, err, "no sites configured")

	_, err = New(map[string]SiteConfig{
		"uk": {Servers: []Server{{APIURL: "127.1.0.1:8081", APIKey: "k-secret-1", Address: "127.1.0.1"}}},
		"us": {},
		"eu": {Servers: []Server{{APIURL: "http://127.3.0.1:8081", Address: "127.3.0.1:53"}}},
	})
	require.ErrorContains(t, err, `site "uk" server 1: APIURL "127.1.0.1:8081" must be like http://`)
	require.ErrorContains(t, err, `Address: "127.1.0.1" is not host:port`)
	require.ErrorContains(t, err, `site "us" has no DNS servers`)
	require.ErrorContains(t, err, `site "eu" server 1 (http://127.3.0.1:8081): APIKey is empty`)
	require.NotContains(t, err.Error(), "k-secret-1")

	a, err := New(map[string]SiteConfig{"us": {Servers: []Server{{APIURL: "http://x:1", APIKey: "k", Address: "x:53"}}},
		"uk": {Servers: []Server{{APIURL: "http://y:1", APIKey: "k", Address: "y:53"}}}})
	require.NoError(t, err)
	_, err = a.site("fr")
	requireType(t, err, apperrors.TypeBadInput)
	require.ErrorContains(t, err, `unknown site "fr": configured sites are uk, us`)
}

func TestNormalize(t *testing.T) {
	for _, c := range []struct{ typ, in, want, err string }{
		{"A", " 192.0.2.1 ", "192.0.2.1", ""},
		{"A", "192.0.2", "", "not an IPv4 address"},
		{"A", "2001:db8::1", "", "not an IPv4 address"},
		{"AAAA", "2001:DB8:0::1", "2001:db8::1", ""},
		{"AAAA", "192.0.2.1", "", "not an IPv6 address"},
		{"CNAME", "Web.Example.", "web.example.", ""},
		{"CNAME", "web.example", "", "trailing dot"},
		{"MX", "10   mail.example.", "10 mail.example.", ""},
		{"TXT", `"v=spf1 -all"`, `"v=spf1 -all"`, ""},
		{"SRV", "10 5 443 web.example.", "10 5 443 web.example.", ""},
		{"MX", "mail.example.", "", "bad MX"},
	} {
		got, err := normalize(c.typ, "www.mdc.test.", c.in)
		if c.err != "" {
			require.ErrorContains(t, err, c.err, "%s %q", c.typ, c.in)
			continue
		}
		require.NoError(t, err, "%s %q", c.typ, c.in)
		require.Equal(t, c.want, got)
	}
	recs, err := checkRecords("A", "www.mdc.test.", []string{"192.0.2.2", "192.0.2.1", "192.0.2.2"})
	require.NoError(t, err)
	require.Equal(t, []string{"192.0.2.1", "192.0.2.2"}, recs)
}

func TestChecks(t *testing.T) {
	bad := func(err error, want string) {
		t.Helper()
		requireType(t, err, apperrors.TypeBadInput)
		require.ErrorContains(t, err, want)
	}
	_, err := checkZone("mdc.test")
	bad(err, `zone "mdc.test" has no trailing dot: write "mdc.test."`)
	_, err = checkZone(".")
	bad(err, "fully qualified name")
	z, err := checkZone("MDC.test.")
	require.NoError(t, err)
	require.Equal(t, "mdc.test.", z)

	_, err = checkName("www.other.test.", "mdc.test.")
	bad(err, "www.other.test. is outside zone mdc.test.")
	_, err = checkName("wwwmdc.test.", "mdc.test.")
	bad(err, "outside zone")
	_, err = checkName("www.mdc.test", "mdc.test.")
	bad(err, "no trailing dot")
	n, err := checkName("WWW.mdc.test.", "mdc.test.")
	require.NoError(t, err)
	require.Equal(t, "www.mdc.test.", n)

	_, err = checkType("SOA", settableTypes)
	bad(err, `record type "SOA" is not one of A, AAAA`)
	_, err = checkType("BOGUS", nil)
	bad(err, "not a DNS record type")
	typ, err := checkType("lua", nil)
	require.NoError(t, err)
	require.Equal(t, "LUA", typ)

	bad(checkTTL(0), "TTL 0 is not between 1 and 604800")
	bad(checkTTL(3600000), "TTL 3600000")
	require.NoError(t, checkTTL(30))

	_, err = checkRecords("A", "www.mdc.test.", nil)
	bad(err, "Records is empty")
	_, err = checkRecords("CNAME", "www.mdc.test.", []string{"a.example.", "b.example."})
	bad(err, "at most one CNAME")
	_, err = checkRecords("A", "www.mdc.test.", []string{"192.0.2.1", "300.1.1.1"})
	bad(err, `record 2 "300.1.1.1": not an IPv4 address`)
}

func TestVerifyRejectsBadInput(t *testing.T) {
	a, err := New(map[string]SiteConfig{"uk": {Servers: []Server{{APIURL: "http://127.0.0.1:1", APIKey: "k", Address: "127.0.0.1:1"}}}})
	require.NoError(t, err)
	ctx := context.Background()
	ok := VerifyInput{Site: "uk", Name: "www.mdc.test.", Type: "A", Expect: []string{"192.0.2.1"}}
	for _, c := range []struct {
		edit func(*VerifyInput)
		want string
	}{
		{func(in *VerifyInput) { in.Servers = []string{"127.0.0.1:53"} }, "give Site or Servers, not both"},
		{func(in *VerifyInput) { in.Site = "" }, "give the Site or the Servers"},
		{func(in *VerifyInput) { in.Site = "fr" }, `unknown site "fr"`},
		{func(in *VerifyInput) { in.Site, in.Servers = "", []string{"127.0.0.1"} }, `"127.0.0.1" is not host:port`},
		{func(in *VerifyInput) { in.Name = "www.mdc.test" }, "no trailing dot"},
		{func(in *VerifyInput) { in.Type = "LUA" }, "not a type clients can query"},
		{func(in *VerifyInput) { in.Expect = []string{"192.0.2.300"} }, `expected record 1 "192.0.2.300"`},
		{func(in *VerifyInput) { in.ClientSubnets = []string{"192.0.2.0"} }, `client subnet "192.0.2.0" is not a CIDR prefix`},
		{func(in *VerifyInput) { in.Deadline = -1 }, "Deadline -1ns is negative"},
	} {
		in := ok
		c.edit(&in)
		_, err := a.Verify(ctx, in)
		requireType(t, err, apperrors.TypeBadInput)
		require.ErrorContains(t, err, c.want)
	}
}

func TestSummarize(t *testing.T) {
	outs := []ServerOutcome{{Server: "http://a", Outcome: OutcomeChanged}, {Server: "http://b", Outcome: OutcomeUnreachable, Error: "connection refused"}}
	errs := []error{nil, context.DeadlineExceeded}
	res, err := summarize("set x", outs, errs, false)
	requireType(t, err, apperrors.TypeUnavailable)
	require.ErrorContains(t, err, "http://b unreachable: connection refused")
	require.ErrorContains(t, err, "done so far: http://a changed, http://b unreachable")
	require.True(t, res.Changed)

	res, err = summarize("set x", outs, errs, true)
	require.NoError(t, err)
	require.Equal(t, []string{"http://b"}, res.Unreachable)

	// Every server unreachable is an error even when some may be.
	_, err = summarize("set x", outs[1:], errs[1:], true)
	requireType(t, err, apperrors.TypeUnavailable)
}
