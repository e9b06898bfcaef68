package dns

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/apperrors"
	"github.com/microdc/mdc/pdnsapi"
)

func TestSetRecordIsIdempotent(t *testing.T) {
	l := newLab(t)
	ctx := ctxT(t, 30*time.Second)
	before := l.serials()

	in := SetRecordInput{Site: "uk", Zone: zone, Name: "WWW.mdc.test.", Type: "a", TTL: 60, Records: []string{"127.1.0.2", " 127.2.0.2"}}
	res, err := l.a.SetRecord(ctx, in)
	require.NoError(t, err)
	require.True(t, res.Changed)
	require.Equal(t, []string{OutcomeChanged, OutcomeChanged}, outcomes(res))
	require.Equal(t, "http://"+apiAddrs[0], res.Servers[0].Server)
	require.Zero(t, res.Servers[0].PreviousTTL)
	changed := l.serials()
	for i := range before {
		require.Greater(t, changed[i], before[i], "server %d's serial", i)
	}

	// Run twice: nothing left to do, and the serial stays where it is.
	in.Records = []string{"127.2.0.2", "127.1.0.2", "127.1.0.2"}
	res, err = l.a.SetRecord(ctx, in)
	require.NoError(t, err)
	require.False(t, res.Changed)
	require.Equal(t, []string{OutcomeUnchanged, OutcomeUnchanged}, outcomes(res))
	require.Equal(t, 60, res.Servers[1].PreviousTTL)
	require.Equal(t, changed, l.serials())

	read, err := l.a.ReadRecord(ctx, ReadRecordInput{Site: "uk", Zone: zone, Name: www, Type: "A"})
	require.NoError(t, err)
	require.True(t, read.Agree)
	for _, s := range read.Servers {
		require.Equal(t, ServerRecord{Server: s.Server, Found: true, TTL: 60, Records: []string{"127.1.0.2", "127.2.0.2"}}, s)
	}

	// Servers that disagree are reported as such, and SetRecord mends them.
	require.NoError(t, l.api[1].ReplaceRRsets(ctx, zone, []pdnsapi.RRset{{Name: www, Type: "A", TTL: 60, Records: []string{"127.9.9.9"}}}))
	read, err = l.a.ReadRecord(ctx, ReadRecordInput{Site: "uk", Zone: zone, Name: www, Type: "A"})
	require.NoError(t, err)
	require.False(t, read.Agree)
	require.Equal(t, []string{"127.9.9.9"}, read.Servers[1].Records)
	res, err = l.a.SetRecord(ctx, in)
	require.NoError(t, err)
	require.Equal(t, []string{OutcomeUnchanged, OutcomeChanged}, outcomes(res))

	// Other types, normalised the way pdns stores them.
	for _, c := range []SetRecordInput{
		{Name: "mail.mdc.test.", Type: "MX", Records: []string{"10  mx1.mdc.test.", "20 mx2.mdc.test."}},
		{Name: "mdc.test.", Type: "TXT", Records: []string{`"v=spf1 -all"`}},
		{Name: "v6.mdc.test.", Type: "AAAA", Records: []string{"2001:DB8::1"}},
		{Name: "alias.mdc.test.", Type: "CNAME", Records: []string{"www.mdc.test."}},
	} {
		c.Site, c.Zone, c.TTL = "uk", zone, 300
		res, err := l.a.SetRecord(ctx, c)
		require.NoError(t, err, "%s %s", c.Name, c.Type)
		require.True(t, res.Changed)
		res, err = l.a.SetRecord(ctx, c)
		require.NoError(t, err)
		require.False(t, res.Changed, "%s %s set twice", c.Name, c.Type)
	}

	// A record name nobody has.
	read, err = l.a.ReadRecord(ctx, ReadRecordInput{Site: "uk", Zone: zone, Name: "none.mdc.test.", Type: "A"})
	require.NoError(t, err)
	require.True(t, read.Agree)
	require.False(t, read.Servers[0].Found)
}

func TestBadInputChangesNothing(t *testing.T) {
	l := newLab(t)
	ctx := ctxT(t, 30*time.Second)
	_, err := l.a.SetRecord(ctx, SetRecordInput{Site: "uk", Zone: zone, Name: www, Type: "A", TTL: 60, Records: []string{"127.1.0.2"}})
	require.NoError(t, err)
	before := l.serials()

	ok := SetRecordInput{Site: "uk", Zone: zone, Name: www, Type: "A", TTL: 60, Records: []string{"127.5.0.2"}}
	for _, c := range []struct {
		edit func(*SetRecordInput)
		want string
	}{
		{func(in *SetRecordInput) { in.Site = "fr" }, `unknown site "fr": configured sites are uk, us`},
		{func(in *SetRecordInput) { in.Name = "www.other.test." }, "www.other.test. is outside zone mdc.test."},
		{func(in *SetRecordInput) { in.Zone = "mdc.test" }, `zone "mdc.test" has no trailing dot`},
		{func(in *SetRecordInput) { in.Records = []string{"127.5.0.2", "127.5.0"} }, `record 2 "127.5.0": not an IPv4 address`},
		{func(in *SetRecordInput) { in.Records = []string{"2001:db8::1"} }, "not an IPv4 address"},
		{func(in *SetRecordInput) { in.TTL = 0 }, "TTL 0 is not between 1 and"},
		{func(in *SetRecordInput) { in.Type = "SOA" }, `record type "SOA" is not one of`},
		{func(in *SetRecordInput) { in.Records = nil }, "Records is empty"},
	} {
		in := ok
		c.edit(&in)
		_, err := l.a.SetRecord(ctx, in)
		requireType(t, err, apperrors.TypeBadInput)
		require.ErrorContains(t, err, c.want)
	}

	geo := SetGeoRecordInput{Site: "uk", Zone: zone, Name: www, TTL: 30, Fallback: "127.35.0.2",
		Answers: []GeoAnswer{{Region: "uk", Subnets: []string{"192.0.2.0/24"}, IP: "127.35.0.2"}}}
	for _, c := range []struct {
		edit func(*SetGeoRecordInput)
		want string
	}{
		{func(in *SetGeoRecordInput) { in.Answers[0].Subnets = []string{"192.0.2.0-255"} }, `subnet "192.0.2.0-255" is not a CIDR prefix`},
		{func(in *SetGeoRecordInput) { in.Answers[0].Subnets = []string{"192.0.2.0/24'}) os.exit() --"} }, "is not a CIDR prefix"},
		{func(in *SetGeoRecordInput) { in.Answers[0].IP = "127.35.0.300" }, `answer 1 IP "127.35.0.300" is not an IPv4 address`},
		{func(in *SetGeoRecordInput) { in.Answers[0].Region = "" }, "has no Region"},
		{func(in *SetGeoRecordInput) { in.Answers = append(in.Answers, in.Answers[0]) }, `region "uk" appears twice`},
		{func(in *SetGeoRecordInput) { in.Answers = nil }, "Answers is empty"},
		{func(in *SetGeoRecordInput) { in.Fallback = "" }, "fallback"},
		{func(in *SetGeoRecordInput) { in.HealthCheck = &HealthCheck{Port: 8080, Path: "health"} }, "must start with /"},
		{func(in *SetGeoRecordInput) { in.HealthCheck = &HealthCheck{Port: 0, Path: "/health"} }, "port 0"},
		{func(in *SetGeoRecordInput) { in.TTL = 0 }, "TTL 0"},
		{func(in *SetGeoRecordInput) { in.Site = "fr" }, `unknown site "fr"`},
		{func(in *SetGeoRecordInput) { in.Zone = "mdc.test" }, "no trailing dot"},
	} {
		in := geo
		in.Answers = append([]GeoAnswer(nil), geo.Answers...)
		in.Answers[0].Subnets = append([]string(nil), geo.Answers[0].Subnets...)
		c.edit(&in)
		_, err := l.a.SetGeoRecord(ctx, in)
		requireType(t, err, apperrors.TypeBadInput)
		require.ErrorContains(t, err, c.want)
	}

	for _, in := range []SetTTLInput{
		{Site: "uk", Zone: zone, Name: www, Type: "A", TTL: 0},
		{Site: "uk", Zone: zone, Name: "www.other.test.", Type: "A", TTL: 30},
		{Site: "fr", Zone: zone, Name: www, Type: "A", TTL: 30},
	} {
		_, err := l.a.SetTTL(ctx, in)
		requireType(t, err, apperrors.TypeBadInput)
	}

	require.Equal(t, before, l.serials(), "bad input changed a zone")
	read, err := l.a.ReadRecord(ctx, ReadRecordInput{Site: "uk", Zone: zone, Name: www, Type: "A"})
	require.NoError(t, err)
	require.Equal(t, []string{"127.1.0.2"}, read.Servers[0].Records)
	require.Equal(t, []string{"127.1.0.2"}, read.Servers[1].Records)

	// A zone the servers do not have.
	_, err = l.a.SetRecord(ctx, SetRecordInput{Site: "uk", Zone: "other.test.", Name: "www.other.test.", Type: "A", TTL: 60, Records: []string{"127.1.0.2"}})
	requireType(t, err, apperrors.TypeNotFound)
	require.ErrorContains(t, err, "other.test.")
}

func TestSetTTL(t *testing.T) {
	l := newLab(t)
	ctx := ctxT(t, 30*time.Second)
	_, err := l.a.SetRecord(ctx, SetRecordInput{Site: "uk", Zone: zone, Name: www, Type: "A", TTL: 3600, Records: []string{"127.1.0.2", "127.2.0.2"}})
	require.NoError(t, err)

	res, err := l.a.SetTTL(ctx, SetTTLInput{Site: "uk", Zone: zone, Name: www, Type: "A", TTL: 30})
	require.NoError(t, err)
	require.True(t, res.Changed)
	require.Equal(t, 3600, res.Servers[0].PreviousTTL)
	serials := l.serials()
	read, err := l.a.ReadRecord(ctx, ReadRecordInput{Site: "uk", Zone: zone, Name: www, Type: "A"})
	require.NoError(t, err)
	require.True(t, read.Agree)
	require.Equal(t, 30, read.Servers[0].TTL)
	require.Equal(t, []string{"127.1.0.2", "127.2.0.2"}, read.Servers[0].Records)

	res, err = l.a.SetTTL(ctx, SetTTLInput{Site: "uk", Zone: zone, Name: www, Type: "A", TTL: 30})
	require.NoError(t, err)
	require.False(t, res.Changed)
	require.Equal(t, serials, l.serials())

	// Restore.
	res, err = l.a.SetTTL(ctx, SetTTLInput{Site: "uk", Zone: zone, Name: www, Type: "A", TTL: 3600})
	require.NoError(t, err)
	require.Equal(t, []string{OutcomeChanged, OutcomeChanged}, outcomes(res))
	require.Equal(t, 30, res.Servers[1].PreviousTTL)

	// SetTTL cannot create a record.
	_, err = l.a.SetTTL(ctx, SetTTLInput{Site: "uk", Zone: zone, Name: "none.mdc.test.", Type: "A", TTL: 30})
	requireType(t, err, apperrors.TypeNotFound)
	require.ErrorContains(t, err, "use SetRecord")
}

func TestWrongAPIKey(t *testing.T) {
	l := newLab(t)
	ctx := ctxT(t, 30*time.Second)
	const wrong = "wrong-key-0b7f3c"
	a := l.activities(wrong)
	before := l.serials()

	_, err := a.SetRecord(ctx, SetRecordInput{Site: "uk", Zone: zone, Name: www, Type: "A", TTL: 60, Records: []string{"127.1.0.2"}})
	requireType(t, err, apperrors.TypeAuth)
	require.ErrorContains(t, err, "rejected the API key")
	require.ErrorContains(t, err, apiAddrs[0])
	require.NotContains(t, err.Error(), wrong)
	require.NotContains(t, err.Error(), testKey)
	_, err = a.ReadRecord(ctx, ReadRecordInput{Site: "uk", Zone: zone, Name: www, Type: "A"})
	requireType(t, err, apperrors.TypeAuth)
	require.NotContains(t, err.Error(), wrong)
	require.Equal(t, before, l.serials())
}

func TestServerDown(t *testing.T) {
	l := newLab(t)
	ctx := ctxT(t, 60*time.Second)
	in := SetRecordInput{Site: "uk", Zone: zone, Name: www, Type: "A", TTL: 60, Records: []string{"127.1.0.2"}}
	_, err := l.a.SetRecord(ctx, in)
	require.NoError(t, err)

	l.pdns[1].Kill()
	in.Records = []string{"127.2.0.2"}
	began := time.Now()
	res, err := l.a.SetRecord(ctx, in)
	took := time.Since(began)
	requireType(t, err, apperrors.TypeUnavailable)
	require.Less(t, took, 2*time.Second, "a stopped server is reported at once")
	require.ErrorContains(t, err, "http://"+apiAddrs[1]+" unreachable")
	require.ErrorContains(t, err, "AllowUnreachable")
	require.Equal(t, []string{OutcomeChanged, OutcomeUnreachable}, outcomes(res))
	t.Logf("SetRecord with one of two servers stopped: Unavailable after %v", took)

	in.AllowUnreachable = true
	res, err = l.a.SetRecord(ctx, in)
	require.NoError(t, err)
	require.False(t, res.Changed, "the reachable server was done by the first try")
	require.Equal(t, []string{"http://" + apiAddrs[1]}, res.Unreachable)

	read, err := l.a.ReadRecord(ctx, ReadRecordInput{Site: "uk", Zone: zone, Name: www, Type: "A"})
	require.NoError(t, err)
	require.False(t, read.Agree)
	require.NotEmpty(t, read.Servers[1].Error)
	_, err = l.a.ReadRecord(ctx, ReadRecordInput{Site: "us", Zone: zone, Name: www, Type: "A"})
	requireType(t, err, apperrors.TypeUnavailable)
	_, err = l.a.SetTTL(ctx, SetTTLInput{Site: "us", Zone: zone, Name: www, Type: "A", TTL: 30, AllowUnreachable: true})
	requireType(t, err, apperrors.TypeUnavailable)

	// Back up: the retry finishes the job.
	l.start(1)
	in.AllowUnreachable = false
	res, err = l.a.SetRecord(ctx, in)
	require.NoError(t, err)
	require.Equal(t, []string{OutcomeUnchanged, OutcomeChanged}, outcomes(res))

	// A server that accepts connections but never answers is Unavailable
	// within the caller's deadline.
	ln, err := net.Listen("tcp", "127.35.0.1:8089")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	hung, err := New(map[string]SiteConfig{"uk": {Servers: []Server{{APIURL: "http://127.35.0.1:8089", APIKey: testKey, Address: "127.35.0.1:5389"}}}})
	require.NoError(t, err)
	began = time.Now()
	_, err = hung.SetRecord(ctxT(t, time.Second), in)
	requireType(t, err, apperrors.TypeUnavailable)
	require.Less(t, time.Since(began), 2*time.Second)
	require.True(t, strings.Contains(err.Error(), "deadline") || strings.Contains(err.Error(), "Timeout"), "%v", err)
}
