package dns

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/microdc/mdc/apperrors"
)

func TestVerify(t *testing.T) {
	l := newLab(t)
	ctx := ctxT(t, 60*time.Second)
	_, err := l.a.SetRecord(ctx, SetRecordInput{Site: "uk", Zone: zone, Name: www, Type: "A", TTL: 60, Records: []string{"127.1.0.2", "127.2.0.2"}})
	require.NoError(t, err)

	// Both servers of the site, in any order of records.
	res, err := l.a.Verify(ctx, VerifyInput{Site: "uk", Name: www, Type: "A", Expect: []string{"127.2.0.2", "127.1.0.2"}, Deadline: 5 * time.Second})
	require.NoError(t, err)
	require.Len(t, res.Answers, 2)
	for i, a := range res.Answers {
		require.Equal(t, Answer{Server: dnsAddrs[i], Records: []string{"127.1.0.2", "127.2.0.2"}, Rcode: "NOERROR", Matched: true}, a)
	}
	require.Equal(t, 2, res.Queries)
	require.Empty(t, res.Unreachable)

	// Absence: no records, NXDOMAIN included.
	_, err = l.a.Verify(ctx, VerifyInput{Servers: dnsAddrs, Name: "none.mdc.test.", Type: "A", Deadline: 5 * time.Second})
	require.NoError(t, err)

	// A mismatch is a Timeout that says who answered what.
	began := time.Now()
	res, err = l.a.Verify(ctx, VerifyInput{Site: "uk", Name: www, Type: "A", Expect: []string{"127.1.0.2"}, Deadline: time.Second})
	requireType(t, err, apperrors.TypeTimeout)
	took := time.Since(began)
	require.Less(t, took, 2*time.Second)
	require.GreaterOrEqual(t, took, time.Second)
	require.ErrorContains(t, err, "127.35.0.1:5300 answered NOERROR [127.1.0.2, 127.2.0.2]")
	require.ErrorContains(t, err, "127.36.0.1:5300 answered NOERROR [127.1.0.2, 127.2.0.2]")
	require.Greater(t, res.Queries, 4, "it kept asking until the deadline")
	var ae *temporal.ApplicationError
	require.True(t, errors.As(err, &ae))
	var details VerifyResult
	require.NoError(t, ae.Details(&details))
	require.Len(t, details.Answers, 2)
	require.False(t, details.Answers[0].Matched)

	// A change that lands during the wait is seen.
	done := make(chan error, 1)
	go func() {
		time.Sleep(300 * time.Millisecond) // lands while Verify polls
		_, err := l.a.SetRecord(ctx, SetRecordInput{Site: "uk", Zone: zone, Name: www, Type: "A", TTL: 60, Records: []string{"127.1.0.2"}})
		done <- err
	}()
	res, err = l.a.Verify(ctx, VerifyInput{Site: "uk", Name: www, Type: "A", Expect: []string{"127.1.0.2"}, Deadline: 10 * time.Second})
	require.NoError(t, err)
	require.NoError(t, <-done)
	require.Greater(t, res.Queries, 2)

	// One server down: a Timeout naming it, unless unreachable servers are allowed.
	l.pdns[1].Kill()
	_, err = l.a.Verify(ctx, VerifyInput{Site: "uk", Name: www, Type: "A", Expect: []string{"127.1.0.2"}, Deadline: time.Second})
	requireType(t, err, apperrors.TypeTimeout)
	require.ErrorContains(t, err, "127.36.0.1:5300 did not answer")
	res, err = l.a.Verify(ctx, VerifyInput{Site: "uk", Name: www, Type: "A", Expect: []string{"127.1.0.2"}, Deadline: 5 * time.Second, AllowUnreachable: true})
	require.NoError(t, err)
	require.Equal(t, []string{dnsAddrs[1]}, res.Unreachable)
	require.True(t, res.Answers[0].Matched)
	require.NotEmpty(t, res.Answers[1].Error)
	t.Logf("Verify with one of two servers down and AllowUnreachable: %v", res.Took)

	// AllowUnreachable still needs the answering servers to agree.
	_, err = l.a.Verify(ctx, VerifyInput{Site: "uk", Name: www, Type: "A", Expect: []string{"127.2.0.2"}, Deadline: time.Second, AllowUnreachable: true})
	requireType(t, err, apperrors.TypeTimeout)

	// No server at all answering is Unavailable.
	_, err = l.a.Verify(ctx, VerifyInput{Site: "us", Name: www, Type: "A", Expect: []string{"127.1.0.2"}, Deadline: time.Second, AllowUnreachable: true})
	requireType(t, err, apperrors.TypeUnavailable)
	require.ErrorContains(t, err, "no server answered")
}

// TestLatency reports the median time of each operation against two real servers.
func TestLatency(t *testing.T) {
	l := newLab(t)
	ctx := ctxT(t, 60*time.Second)
	const n = 21
	var set, same, read, verify []time.Duration
	for i := 0; i < n; i++ {
		ip := []string{fmt.Sprintf("127.1.0.%d", 10+i)}
		in := SetRecordInput{Site: "uk", Zone: zone, Name: www, Type: "A", TTL: 60, Records: ip}
		began := time.Now()
		res, err := l.a.SetRecord(ctx, in)
		set = append(set, time.Since(began))
		require.NoError(t, err)
		require.True(t, res.Changed)

		began = time.Now()
		_, err = l.a.SetRecord(ctx, in)
		same = append(same, time.Since(began))
		require.NoError(t, err)

		began = time.Now()
		_, err = l.a.ReadRecord(ctx, ReadRecordInput{Site: "uk", Zone: zone, Name: www, Type: "A"})
		read = append(read, time.Since(began))
		require.NoError(t, err)

		began = time.Now()
		_, err = l.a.Verify(ctx, VerifyInput{Site: "uk", Name: www, Type: "A", Expect: ip, ClientSubnets: []string{"192.0.2.0/24", "198.51.100.0/24"}, Deadline: 5 * time.Second})
		verify = append(verify, time.Since(began))
		require.NoError(t, err)
	}
	t.Logf("median over %d runs, site of 2 servers: SetRecord (change) %v, SetRecord (no change) %v, ReadRecord %v, Verify (2 servers x 2 subnets) %v",
		n, median(set), median(same), median(read), median(verify))
}
