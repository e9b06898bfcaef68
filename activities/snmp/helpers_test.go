package snmp

import (
	"fmt"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/snmpagent"
)

// This package's tests live in 127.37.0.0/16 (lab Base 37): the real snmpd
// on 127.37.0.1, in-process agents on 127.37.<block>.<1..250>, and
// nothing at all on 127.37.200.0/24 (addresses that refuse).
const (
	agentPort     = 1161
	community     = "public"
	snmpdAddr     = "127.37.0.1:16100"
	deadAgentAddr = "127.37.200.1:1161"
)

// agentAddr is the address of agent i in a block of up to 1,000 agents;
// each test uses its own block so a slow Close never collides.
func agentAddr(block, i int) string {
	return fmt.Sprintf("127.37.%d.%d:%d", block+i/250, 1+i%250, agentPort)
}

// startAgents starts n in-process agents in block, agent i reporting load
// (i/100, i/200, i/400), and closes them when the test ends.
func startAgents(t testing.TB, block, n int) []*snmpagent.Agent {
	t.Helper()
	raiseNoFile(t, uint64(2*n+256))
	agents := make([]*snmpagent.Agent, n)
	for i := range n {
		a, err := snmpagent.Listen(agentAddr(block, i), community)
		require.NoError(t, err, "start agent %d", i)
		t.Cleanup(func() { _ = a.Close() })
		a.SetLoad(float64(i)/100, float64(i)/200, float64(i)/400)
		agents[i] = a
	}
	return agents
}

// targetsOf names agent i "n<i>".
func targetsOf(agents []*snmpagent.Agent) []Target {
	ts := make([]Target, len(agents))
	for i, a := range agents {
		ts[i] = Target{Node: fmt.Sprintf("n%d", i), Addr: a.Addr(), Community: community}
	}
	return ts
}

// raiseNoFile makes sure the process may open want descriptors: every
// in-process agent holds a socket, and so does every agent in flight.
func raiseNoFile(t testing.TB, want uint64) {
	t.Helper()
	var lim syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim))
	if lim.Cur >= want {
		return
	}
	lim.Cur = min(max(want, lim.Cur), lim.Max)
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim))
	require.GreaterOrEqual(t, lim.Cur, want, "RLIMIT_NOFILE hard limit %d is too low for %d sockets", lim.Max, want)
}
