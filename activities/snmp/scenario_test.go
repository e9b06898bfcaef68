package snmp

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var scenarioRounds = flag.Int("snmp.rounds", 5, "rounds per row of TestPollScenarios' table (median reported)")

// relay forwards datagrams between a poller and one agent, holding each
// request for delay: a network round-trip time without a network.
type relay struct {
	conn   *net.UDPConn
	agent  netip.AddrPort
	delay  time.Duration
	client atomic.Pointer[netip.AddrPort]
	// drop is how many of the next requests are lost.
	drop atomic.Int32
}

func startRelay(t testing.TB, addr, agent string, delay time.Duration) *relay {
	t.Helper()
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	require.NoError(t, err)
	r := &relay{conn: conn, agent: netip.MustParseAddrPort(agent), delay: delay}
	done := make(chan struct{})
	t.Cleanup(func() { conn.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			} else if err != nil {
				continue
			}
			if from == r.agent {
				if c := r.client.Load(); c != nil {
					_, _ = conn.WriteToUDPAddrPort(buf[:n], *c)
				}
				continue
			}
			r.client.Store(&from)
			if r.drop.Add(-1) >= 0 {
				continue
			}
			r.drop.Store(0)
			pkt := slices.Clone(buf[:n])
			time.AfterFunc(r.delay, func() { _, _ = conn.WriteToUDPAddrPort(pkt, r.agent) })
		}
	}()
	return r
}

// medianRound polls targets rounds times and returns the median round time.
func medianRound(t *testing.T, p *Poller, targets []Target, opts Options, rounds int) time.Duration {
	t.Helper()
	times := make([]time.Duration, rounds)
	for r := range rounds {
		start := time.Now()
		out := p.Poll(context.Background(), targets, opts)
		times[r] = time.Since(start)
		for i, s := range out {
			require.True(t, s.OK(), "round %d, agent %d: %s", r, i, s.Err)
		}
	}
	slices.Sort(times)
	return times[rounds/2]
}

// TestPollScenarios prints the table the poller's design rests on: the
// median round time over 1,000 agents with the default options against a
// sequential poll (Concurrency 1) of the same agents, on bare loopback and
// behind relays that add a round-trip time. It fails if a concurrent round
// takes more than a second.
func TestPollScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("polls 1,000 agents for several seconds")
	}
	const n = 1000
	agents := startAgents(t, 1, n)
	direct := targetsOf(agents)
	p := NewPoller()
	rounds := max(*scenarioRounds, 1)

	type row struct {
		name       string
		targets    []Target
		seqRounds  int
		conc, seq  time.Duration
		concurrent Options
	}
	rows := []*row{{name: "loopback, in-process agents", targets: direct, seqRounds: rounds}}
	for i, rtt := range []time.Duration{time.Millisecond, 5 * time.Millisecond} {
		relayed := make([]Target, n)
		raiseNoFile(t, uint64(3*n+512))
		for j, a := range agents {
			addr := agentAddr(10+5*i, j)
			startRelay(t, addr, a.Addr(), rtt)
			relayed[j] = Target{Node: direct[j].Node, Addr: addr, Community: community}
		}
		// A sequential round at 5 ms RTT takes over 5 s: one is enough.
		rows = append(rows, &row{name: fmt.Sprintf("%v RTT (relay)", rtt), targets: relayed, seqRounds: max(1, rounds/(2*(i+1)))})
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-30s %12s %12s %8s\n", "1,000 agents", "concurrent", "sequential", "ratio")
	for _, r := range rows {
		r.conc = medianRound(t, p, r.targets, r.concurrent, rounds)
		r.seq = medianRound(t, p, r.targets, Options{Concurrency: 1}, r.seqRounds)
		fmt.Fprintf(&b, "%-30s %12v %12v %7.1fx\n", r.name, r.conc.Round(time.Millisecond), r.seq.Round(time.Millisecond), float64(r.seq)/float64(r.conc))
	}
	fmt.Fprintf(&b, "(median of %d rounds; sequential rows at RTT over fewer rounds; default Concurrency %d)\n", rounds, DefaultConcurrency)

	// Agents that never answer hold a worker each for the whole timeout,
	// so a round over silent agents takes ceil(n/Concurrency) timeouts.
	silent := slices.Clone(direct)
	for i := range silent {
		silent[i].Community = "wrong"
	}
	const timeout = 200 * time.Millisecond
	for _, c := range []int{DefaultConcurrency, n} {
		start := time.Now()
		out := p.Poll(context.Background(), silent, Options{Timeout: timeout, Concurrency: c})
		took := time.Since(start)
		require.Equal(t, ErrTimeout, out[n-1].ErrKind)
		waves := (n + c - 1) / c
		fmt.Fprintf(&b, "1,000 silent agents, Timeout %v, Concurrency %4d: %v (%d waves)\n", timeout, c, took.Round(time.Millisecond), waves)
		require.Less(t, took, time.Duration(waves)*timeout+500*time.Millisecond)
	}
	t.Log(b.String())
	for _, r := range rows {
		require.Less(t, r.conc, time.Second, "%s: a concurrent round over %d agents must take under a second", r.name, n)
	}
}
