package snmpagent_test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/snmpagent"
)

func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(ents)
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse
}

// TestThousandAgents starts 1,000 agents the way the lab lays out nodes (one
// address each, same port), reads every one's load, closes them all, and
// checks that sockets and goroutines are released.
func TestThousandAgents(t *testing.T) {
	const n = 1000
	fds0, gor0, mem0 := openFDs(t), runtime.NumGoroutine(), heapInUse()

	start := time.Now()
	agents := make([]*snmpagent.Agent, 0, n)
	closeAll := func() {
		for _, a := range agents {
			require.NoError(t, a.Close())
		}
		agents = agents[:0]
	}
	t.Cleanup(closeAll)
	for i := range n {
		a, err := snmpagent.Listen(fmt.Sprintf("127.61.%d.%d:1161", 1+i/250, 1+i%250), "public")
		require.NoError(t, err, "agent %d", i)
		a.SetLoad(float64(i)/100, 0, 0)
		agents = append(agents, a)
	}
	startup := time.Since(start)
	mem1 := heapInUse()
	require.Equal(t, fds0+n, openFDs(t), "one socket per agent")
	gor1 := runtime.NumGoroutine()
	require.GreaterOrEqual(t, gor1, gor0+n, "one serving goroutine per agent")

	start = time.Now()
	loads := queryAll(t, agents)
	query := time.Since(start)
	for i := range n {
		require.Equal(t, i, loads[agents[i].Addr()], "laLoadInt.1 of agent %d", i)
	}

	start = time.Now()
	closeAll()
	shutdown := time.Since(start)
	require.Equal(t, fds0, openFDs(t), "every socket closed")
	// Close waits until its serving goroutine has finished its work; the
	// goroutine itself may linger a moment in goexit, so poll (by hand:
	// require.Eventually would count its own goroutines).
	for deadline := time.Now().Add(5 * time.Second); gor1-runtime.NumGoroutine() < n; time.Sleep(5 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "%d serving goroutines still running after Close", n-(gor1-runtime.NumGoroutine()))
	}

	t.Logf("%d agents: start %v (%v/agent), heap+stacks %.1f MiB (%.1f KiB/agent), query all %v, close all %v",
		n, startup, startup/n, float64(mem1-mem0)/(1<<20), float64(mem1-mem0)/1024/n, query, shutdown)
}

// queryAll GETs laLoadInt.1 from every agent through one client socket, a
// batch at a time so replies do not overflow the socket's receive buffer,
// resending to agents that have not answered.
func queryAll(t *testing.T, agents []*snmpagent.Agent) map[string]int {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 61, 0, 250)})
	require.NoError(t, err)
	defer conn.Close()
	codec := &gosnmp.GoSNMP{Version: gosnmp.Version2c, Community: "public"}
	req, err := codec.SnmpEncodePacket(gosnmp.GetRequest, []gosnmp.SnmpPDU{{Name: snmpagent.OIDLaLoadInt1, Type: gosnmp.Null}}, 0, 0)
	require.NoError(t, err)

	got := map[string]int{}
	buf := make([]byte, 2048)
	for round := 0; len(got) < len(agents) && round < 5; round++ {
		for lo := 0; lo < len(agents); lo += 100 {
			want := 0
			for _, a := range agents[lo:min(lo+100, len(agents))] {
				if _, ok := got[a.Addr()]; ok {
					continue
				}
				_, err := conn.WriteToUDPAddrPort(req, netip.MustParseAddrPort(a.Addr()))
				require.NoError(t, err)
				want++
			}
			require.NoError(t, conn.SetReadDeadline(time.Now().Add(time.Second)))
			for ; want > 0; want-- {
				m, from, err := conn.ReadFromUDPAddrPort(buf)
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break
				}
				require.NoError(t, err)
				resp, err := codec.SnmpDecodePacket(buf[:m])
				require.NoError(t, err)
				require.Len(t, resp.Variables, 1)
				got[from.String()] = resp.Variables[0].Value.(int)
			}
		}
	}
	require.Len(t, got, len(agents), "every agent answered")
	return got
}
