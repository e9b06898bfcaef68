// Package snmpagent is a small in-process SNMP v1/v2c agent that answers
// UCD-SNMP-MIB load averages (laNames, laLoad, laLoadInt), sysDescr and
// sysUpTime on a UDP socket. The lab's web nodes run one each so that mdc's
// SNMP poller reads a load the lab can set; packets are encoded and decoded
// with gosnmp's codec, so net-snmp's snmpget/snmpwalk read it too.
package snmpagent

import (
	"errors"
	"fmt"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gosnmp/gosnmp"
)

// readBufSize bounds the request size. Requests from pollers are a few
// hundred bytes; a fixed per-agent buffer keeps 1,000 agents at ~4 MB total.
const readBufSize = 4096

// DefaultDescr is the sysDescr an agent answers until SetDescr changes it.
const DefaultDescr = "mdc lab node (snmpagent, UCD-SNMP-MIB laTable)"

// Agent is a running SNMP agent bound to one UDP address.
type Agent struct {
	conn      *net.UDPConn
	community string
	started   time.Time

	mu    sync.RWMutex
	load  [3]float64
	descr string

	requests     atomic.Uint64
	badCommunity atomic.Uint64
	badPackets   atomic.Uint64

	closeOnce sync.Once
	done      chan struct{}
}

// Stats counts what an agent received since Listen.
type Stats struct {
	// Requests is the number of requests answered.
	Requests uint64
	// BadCommunity is the number of v1/v2c requests dropped for a wrong community.
	BadCommunity uint64
	// BadPackets is the number of datagrams dropped as undecodable,
	// SNMPv3, or of a PDU type an agent does not answer.
	BadPackets uint64
}

// Listen starts an agent on addr (ip:port, UDP; port 0 picks a free one)
// that answers requests carrying community and silently drops the rest,
// as net-snmp does.
func Listen(addr, community string) (*Agent, error) {
	if community == "" {
		return nil, errors.New("snmpagent: empty community; pass the community the poller uses (e.g. \"public\")")
	}
	if len(community) > 127 {
		// gosnmp writes the community length as a single byte.
		return nil, fmt.Errorf("snmpagent: community is %d bytes, at most 127 are supported", len(community))
	}
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("snmpagent: bad listen address %q (want ip:port): %w", addr, err)
	}
	conn, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("snmpagent: listen on udp %s: %w", addr, err)
	}
	a := &Agent{
		conn:      conn,
		community: community,
		started:   time.Now(),
		descr:     DefaultDescr,
		done:      make(chan struct{}),
	}
	go a.serve()
	return a, nil
}

// Addr is the ip:port the agent listens on.
func (a *Agent) Addr() string { return a.conn.LocalAddr().String() }

// Close stops the agent and releases its socket; it returns once the serving
// goroutine has exited. Closing twice is a no-op.
func (a *Agent) Close() error {
	var err error
	a.closeOnce.Do(func() {
		err = a.conn.Close()
		<-a.done
	})
	if err != nil {
		return fmt.Errorf("snmpagent: close %s: %w", a.Addr(), err)
	}
	return nil
}

// SetLoad sets the 1, 5 and 15 minute load averages the agent reports.
// Negative and NaN values are reported as 0. Safe for concurrent use.
func (a *Agent) SetLoad(one, five, fifteen float64) {
	a.mu.Lock()
	a.load = [3]float64{clean(one), clean(five), clean(fifteen)}
	a.mu.Unlock()
}

// Load returns the load averages the agent reports.
func (a *Agent) Load() (one, five, fifteen float64) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.load[0], a.load[1], a.load[2]
}

// SetDescr sets the sysDescr.0 string, e.g. to name the node.
func (a *Agent) SetDescr(s string) {
	a.mu.Lock()
	a.descr = s
	a.mu.Unlock()
}

// Descr returns the sysDescr.0 string.
func (a *Agent) Descr() string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.descr
}

// Stats returns the agent's request counters.
func (a *Agent) Stats() Stats {
	return Stats{
		Requests:     a.requests.Load(),
		BadCommunity: a.badCommunity.Load(),
		BadPackets:   a.badPackets.Load(),
	}
}

func (a *Agent) loadAt(i int) float64 {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.load[i]
}

// uptimeTicks is sysUpTime in hundredths of a second; it wraps like the real one.
func (a *Agent) uptimeTicks() uint32 {
	return uint32(time.Since(a.started) / (10 * time.Millisecond)) //nolint:gosec // wraps by design
}

func clean(v float64) float64 {
	if math.IsNaN(v) || v < 0 {
		return 0
	}
	if math.IsInf(v, 1) {
		return math.MaxInt32 / 100
	}
	return v
}

// serve answers datagrams one at a time: requests are tiny and CPU-bound,
// so a goroutine per packet would only add scheduling cost.
func (a *Agent) serve() {
	defer close(a.done)
	buf := make([]byte, readBufSize)
	// One decoder per agent: SnmpDecodePacket fills in defaults on its
	// receiver, so sharing one between agents would race.
	dec := &gosnmp.GoSNMP{}
	for {
		n, from, err := a.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // transient (e.g. ICMP error reported on the socket)
		}
		out := a.handle(dec, buf[:n])
		if out == nil {
			continue
		}
		_, _ = a.conn.WriteToUDPAddrPort(out, from) // a lost reply is retried by the manager
	}
}
