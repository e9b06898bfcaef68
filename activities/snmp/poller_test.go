package snmp

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/snmpagent"
)

func TestPollReadsLoadsInTargetOrder(t *testing.T) {
	agents := startAgents(t, 20, 40)
	agents[7].SetLoad(2.5, 1.75, 0.3)
	targets := targetsOf(agents)
	// Reverse the targets: results must follow them, not the agents.
	for i, j := 0, len(targets)-1; i < j; i, j = i+1, j-1 {
		targets[i], targets[j] = targets[j], targets[i]
	}
	out := NewPoller().Poll(context.Background(), targets, Options{Concurrency: 8})
	require.Len(t, out, len(targets))
	for i, s := range out {
		require.True(t, s.OK(), "%s: %s", s.Node, s.Err)
		require.Equal(t, targets[i].Node, s.Node)
		require.Equal(t, targets[i].Addr, s.Addr)
		require.Positive(t, s.Latency)
		require.Less(t, s.Latency, time.Second)
	}
	s := out[len(out)-1-7]
	require.Equal(t, "n7", s.Node)
	require.Equal(t, [3]float64{2.5, 1.75, 0.3}, [3]float64{s.Load1, s.Load5, s.Load15})
	s = out[0] // agent 39
	require.InDelta(t, 0.39, s.Load1, 1e-9)
	require.InDelta(t, 0.195, s.Load5, 0.0051) // the agent rounds to hundredths
	require.InDelta(t, 0.0975, s.Load15, 0.0051)
}

// TestPollReportsEachAgentsError mixes healthy agents with one that is
// closed, one polled with the wrong community, one with nothing at its
// address, and one with a malformed address: each failure is reported in
// its own sample, the others succeed, and the round ends within the
// timeout.
func TestPollReportsEachAgentsError(t *testing.T) {
	agents := startAgents(t, 21, 6)
	require.NoError(t, agents[1].Close())
	targets := targetsOf(agents)
	const secret = "s3cret-community"
	targets[2].Community = secret
	targets[3].Addr = deadAgentAddr
	targets[4].Addr = "127.37.21.5" // no port
	targets[5].Community = ""       // empty community: also dropped by the agent

	const timeout = 300 * time.Millisecond
	start := time.Now()
	out := NewPoller().Poll(context.Background(), targets, Options{Timeout: timeout})
	elapsed := time.Since(start)
	require.Less(t, elapsed, timeout+250*time.Millisecond, "round must end within the per-agent timeout")

	require.True(t, out[0].OK(), out[0].Err)
	require.InDelta(t, 0, out[0].Load1, 1e-9)
	want := []struct{ kind, contains string }{
		1: {ErrRefused, "nothing listens"},
		2: {ErrTimeout, "did not answer within 300ms"},
		3: {ErrRefused, deadAgentAddr},
		4: {ErrBadAddress, `"127.37.21.5" is not ip:port`},
		5: {ErrTimeout, "community is wrong"},
	}
	for i := 1; i < len(out); i++ {
		s := out[i]
		require.False(t, s.OK(), "agent %d", i)
		require.Equal(t, want[i].kind, s.ErrKind, "agent %d: %s", i, s.Err)
		require.Contains(t, s.Err, want[i].contains, "agent %d", i)
		require.NotContains(t, s.Err, secret)
		require.Zero(t, s.Load1+s.Load5+s.Load15)
		require.Equal(t, targets[i].Node, s.Node)
	}
	// The refusals come back at once, not after the timeout.
	require.Less(t, out[1].Latency, 100*time.Millisecond)
	require.GreaterOrEqual(t, out[2].Latency, timeout-10*time.Millisecond)
	require.Equal(t, uint64(1), agents[2].Stats().BadCommunity)
}

// TestPollTimeoutBoundsRound polls 100 agents that never answer (wrong
// community) with retries: the round takes one timeout, not one per agent
// or per attempt.
func TestPollTimeoutBoundsRound(t *testing.T) {
	agents := startAgents(t, 22, 100)
	targets := targetsOf(agents)
	for i := range targets {
		targets[i].Community = "wrong"
	}
	const timeout = 400 * time.Millisecond
	start := time.Now()
	out := NewPoller().Poll(context.Background(), targets, Options{Timeout: timeout, Retries: 2})
	elapsed := time.Since(start)
	require.Less(t, elapsed, timeout+300*time.Millisecond)
	require.GreaterOrEqual(t, elapsed, timeout)
	for i, s := range out {
		require.Equal(t, ErrTimeout, s.ErrKind, "agent %d: %s", i, s.Err)
		require.Contains(t, s.Err, "(2 retries)")
	}
	// Three attempts each: the first two timed out and were resent.
	require.Equal(t, uint64(3), agents[0].Stats().BadCommunity)
}

// TestPollRetriesLostRequest drops the first request to an agent: without
// retries that is a timeout, with one retry the answer arrives.
func TestPollRetriesLostRequest(t *testing.T) {
	a := startAgents(t, 23, 1)[0]
	a.SetLoad(1.25, 1, 0.5)
	r := startRelay(t, agentAddr(24, 0), a.Addr(), 0)
	target := []Target{{Node: "n0", Addr: agentAddr(24, 0), Community: community}}

	r.drop.Store(1)
	out := NewPoller().Poll(context.Background(), target, Options{Timeout: 200 * time.Millisecond})
	require.Equal(t, ErrTimeout, out[0].ErrKind, out[0].Err)

	r.drop.Store(1)
	out = NewPoller().Poll(context.Background(), target, Options{Timeout: 600 * time.Millisecond, Retries: 1})
	require.True(t, out[0].OK(), out[0].Err)
	require.Equal(t, 1.25, out[0].Load1)
	require.GreaterOrEqual(t, out[0].Latency, 300*time.Millisecond, "the answer came after the first attempt timed out")
}

// TestPollCanceled cancels a round in which every agent would time out:
// Poll returns promptly and marks what it did not finish as canceled.
func TestPollCanceled(t *testing.T) {
	agents := startAgents(t, 25, 20)
	targets := targetsOf(agents)
	for i := range targets {
		targets[i].Community = "wrong"
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	out := NewPoller().Poll(ctx, targets, Options{Timeout: 5 * time.Second, Concurrency: 4})
	require.Less(t, time.Since(start), time.Second)
	for i, s := range out {
		require.Equal(t, ErrCanceled, s.ErrKind, "agent %d: %s", i, s.Err)
	}
}

func TestPollNoTargets(t *testing.T) {
	require.Empty(t, NewPoller().Poll(context.Background(), nil, Options{}))
}

func str(s string) gosnmp.SnmpPDU                  { return gosnmp.SnmpPDU{Type: gosnmp.OctetString, Value: []byte(s)} }
func integer(n int) gosnmp.SnmpPDU                 { return gosnmp.SnmpPDU{Type: gosnmp.Integer, Value: n} }
func missing() gosnmp.SnmpPDU                      { return gosnmp.SnmpPDU{Type: gosnmp.NoSuchInstance} }
func named(v gosnmp.SnmpPDU, i int) gosnmp.SnmpPDU { v.Name = loadOIDs[i]; return v }

func TestParseLoads(t *testing.T) {
	vars := func(pdus ...gosnmp.SnmpPDU) []gosnmp.SnmpPDU {
		for i := range pdus {
			pdus[i] = named(pdus[i], i)
		}
		return pdus
	}
	got, err := parseLoads(vars(str("2.50"), str(" 1.75\n"), str("0"), integer(1), integer(1), integer(1)))
	require.NoError(t, err)
	require.Equal(t, [3]float64{2.5, 1.75, 0}, got)

	// Unparsable, negative and NaN strings fall back to laLoadInt/100.
	got, err = parseLoads(vars(str("n/a"), str("-1"), str("NaN"), integer(425), integer(99), integer(0)))
	require.NoError(t, err)
	require.Equal(t, [3]float64{4.25, 0.99, 0}, got)

	// Neither column usable: the error names what came back.
	_, err = parseLoads(vars(str("high"), str("1"), missing(), integer(-3), integer(1), missing()))
	require.Error(t, err)
	require.Contains(t, err.Error(), `1-minute load: laLoad.1 is "high" and laLoadInt.1 is -3 of type Integer`)
	require.Contains(t, err.Error(), "15-minute load: laLoad.3 is not served by the agent (NoSuchInstance)")
	require.NotContains(t, err.Error(), "5-minute load: laLoad.2")

	_, err = parseLoads(nil)
	require.ErrorContains(t, err, "laLoad.1 is missing from the answer and laLoadInt.1 is missing from the answer")
	_, err = parseLoads(vars(str("+Inf"), str(""), str("1e400"), missing(), missing(), missing()))
	require.Error(t, err, "infinite, empty and overflowing strings are not loads")
}

// The in-process agent clamps what SetLoad gets: polling it shows what a
// node's monitor would read for nonsense loads.
func TestPollAgentClampsLoad(t *testing.T) {
	a := startAgents(t, 26, 1)[0]
	a.SetLoad(math.NaN(), -2, 3.14159)
	out := NewPoller().Poll(context.Background(), targetsOf([]*snmpagent.Agent{a}), Options{})
	require.True(t, out[0].OK(), out[0].Err)
	require.Equal(t, [3]float64{0, 0, 3.14}, [3]float64{out[0].Load1, out[0].Load5, out[0].Load15})
}
