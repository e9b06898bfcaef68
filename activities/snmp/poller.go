// Package snmp reads nodes' load averages (UCD-SNMP-MIB laLoad) over SNMP
// v2c, many agents at a time. Poller is plain Go, so `mdc monitor` can poll
// every round without Temporal; Activities wraps it as the PollLoad activity
// that the Autoscale workflow calls when it wants a fresh reading of a
// service's nodes.
//
// A round never fails as a whole: each agent's outcome (loads, or why there
// are none) is reported in its own Sample, and the caller decides what a
// round with failures means.
package snmp

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gosnmp/gosnmp"
)

// UCD-SNMP-MIB laTable columns read for each of the 1, 5 and 15 minute
// averages: laLoad (a DisplayString such as "2.50") and laLoadInt (the load
// times 100, an Integer), asked for together so the fallback costs no
// second round trip.
var loadOIDs = []string{
	".1.3.6.1.4.1.2021.10.1.3.1", ".1.3.6.1.4.1.2021.10.1.3.2", ".1.3.6.1.4.1.2021.10.1.3.3",
	".1.3.6.1.4.1.2021.10.1.5.1", ".1.3.6.1.4.1.2021.10.1.5.2", ".1.3.6.1.4.1.2021.10.1.5.3",
}

// loadPDUs is the GET request's varbind list for loadOIDs.
var loadPDUs = func() []gosnmp.SnmpPDU {
	pdus := make([]gosnmp.SnmpPDU, len(loadOIDs))
	for i, o := range loadOIDs {
		pdus[i] = gosnmp.SnmpPDU{Name: o, Type: gosnmp.Null}
	}
	return pdus
}()

// Defaults for Options fields left zero.
const (
	DefaultConcurrency = 256
	DefaultTimeout     = time.Second
)

// Kinds of per-agent failure, in Sample.ErrKind, so callers can tell a node
// that is down from one that answers nonsense without parsing messages.
const (
	// ErrTimeout: no answer within the timeout. SNMP agents drop requests
	// with a wrong community silently, so a bad community looks like this too.
	ErrTimeout = "timeout"
	// ErrRefused: the node's host said nothing listens on the SNMP port
	// (ICMP port unreachable), i.e. the agent is not running.
	ErrRefused = "refused"
	// ErrBadValue: the agent answered, but not with a usable load.
	ErrBadValue = "bad-value"
	// ErrBadAddress: the target's address is not ip:port.
	ErrBadAddress = "bad-address"
	// ErrCanceled: the caller's context ended before the agent was polled.
	ErrCanceled = "canceled"
	// ErrOther: any other failure (socket errors, SNMP error status).
	ErrOther = "error"
)

// Target is one agent to poll.
type Target struct {
	// Node names the node in results; it is not sent anywhere.
	Node string
	// Addr is the agent's ip:port, e.g. "127.1.0.10:1161".
	Addr string
	// Community is the SNMP v2c community; it never appears in results or errors.
	Community string
}

// Options tunes one round.
type Options struct {
	// Concurrency is how many agents are in flight at once (each holds one
	// UDP socket while it is); 0 means DefaultConcurrency. A round over n
	// agents that all time out takes about ceil(n/Concurrency) × Timeout.
	Concurrency int
	// Timeout bounds each agent's whole exchange, retries included; 0 means
	// DefaultTimeout. Retries split it into equal attempts.
	Timeout time.Duration
	// Retries is how many times an unanswered request is resent (default 0).
	Retries int
}

func (o Options) withDefaults() Options {
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Retries < 0 {
		o.Retries = 0
	}
	return o
}

// Sample is one agent's outcome in a round.
type Sample struct {
	Node string
	Addr string
	// Load1, Load5 and Load15 are the 1, 5 and 15 minute load averages;
	// zero when Err is set.
	Load1, Load5, Load15 float64
	// Err says why there are no loads; empty on success.
	Err string `json:",omitempty"`
	// ErrKind is one of the Err* constants; empty on success.
	ErrKind string `json:",omitempty"`
	// Latency is the time from opening the socket to the decoded answer
	// (or to the failure).
	Latency time.Duration
}

// OK reports whether the sample carries loads.
func (s Sample) OK() bool { return s.Err == "" }

// Poller polls SNMP agents for their load averages. The zero value is ready
// to use and safe for concurrent rounds.
type Poller struct{}

// NewPoller returns a Poller.
func NewPoller() *Poller { return &Poller{} }

// Poll reads the load averages of every target, at most opts.Concurrency at
// a time, and returns one Sample per target in the order of targets. It
// never fails as a whole: an agent that times out, refuses, or answers
// nonsense gets an Err in its own Sample. Targets not yet polled when ctx
// ends get ErrCanceled.
func (p *Poller) Poll(ctx context.Context, targets []Target, opts Options) []Sample {
	opts = opts.withDefaults()
	out := make([]Sample, len(targets))
	workers := min(opts.Concurrency, len(targets))
	// Workers take the next index from a counter rather than a goroutine
	// per target: no spawn per agent, one buffer and codec per worker, and
	// Concurrency bounds the sockets open at once.
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			w := newWorker()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(targets) {
					return
				}
				out[i] = w.poll(ctx, targets[i], opts)
			}
		})
	}
	wg.Wait()
	return out
}

// maxAnswer bounds an answer's size. Six load varbinds take ~150 bytes; an
// answer that fills the buffer was truncated and is reported as bad.
const maxAnswer = 4096

// worker polls one agent at a time with its own codec and buffer. gosnmp's
// GoSNMP.Get would allocate a 64 KiB receive buffer per Connect, i.e. per
// agent: 64 MB of garbage per 1,000-agent round.
type worker struct {
	codec *gosnmp.GoSNMP
	buf   []byte
	id    uint32 // last request ID sent
}

func newWorker() *worker {
	return &worker{
		codec: &gosnmp.GoSNMP{Version: gosnmp.Version2c, MaxOids: len(loadOIDs)},
		buf:   make([]byte, maxAnswer),
		// Workers start apart so that two rounds to one agent do not
		// accept each other's answers.
		id: rand.Uint32() & 0x7fffffff,
	}
}

// poll polls one agent within opts.Timeout.
func (w *worker) poll(ctx context.Context, t Target, opts Options) Sample {
	s := Sample{Node: t.Node, Addr: t.Addr}
	if err := ctx.Err(); err != nil {
		return s.fail(ErrCanceled, fmt.Sprintf("%s not polled: round canceled (%v)", t.Addr, err))
	}
	ap, err := netip.ParseAddrPort(t.Addr)
	if err != nil || ap.Port() == 0 {
		return s.fail(ErrBadAddress, fmt.Sprintf("agent address %q is not ip:port", t.Addr))
	}
	start := time.Now()
	vars, err := w.get(ctx, ap, t.Community, start.Add(opts.Timeout), opts.Retries)
	s.Latency = time.Since(start)
	if err != nil {
		kind, msg := classify(err, t.Addr, opts)
		return s.fail(kind, msg)
	}
	loads, err := parseLoads(vars)
	if err != nil {
		return s.fail(ErrBadValue, fmt.Sprintf("SNMP GET laLoad from %s: %v", t.Addr, err))
	}
	s.Load1, s.Load5, s.Load15 = loads[0], loads[1], loads[2]
	return s
}

// errAgentStatus is an answer with a non-zero error-status.
var errAgentStatus = errors.New("agent answered with an error status")

// get sends a GET for loadOIDs from a socket connected to the agent, so the
// kernel delivers only that agent's answers and reports its ICMP "port
// unreachable" as ECONNREFUSED; unanswered requests are resent with a new
// request ID, and an answer to any of them counts.
func (w *worker) get(ctx context.Context, ap netip.AddrPort, community string, deadline time.Time, retries int) ([]gosnmp.SnmpPDU, error) {
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(ap))
	if err != nil {
		return nil, fmt.Errorf("open UDP socket: %w", err)
	}
	defer conn.Close()
	// A cancelled round must not wait out the deadline.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()

	attempt := time.Until(deadline) / time.Duration(retries+1)
	sent := make([]uint32, 0, retries+1)
	for try := 0; try <= retries; try++ {
		req, id, err := w.encode(community)
		if err != nil {
			return nil, fmt.Errorf("encode GET: %w", err)
		}
		sent = append(sent, id)
		if _, err := conn.Write(req); err != nil {
			return nil, err
		}
		attemptEnd := deadline
		if try < retries {
			attemptEnd = time.Now().Add(attempt)
		}
		if err := conn.SetReadDeadline(attemptEnd); err != nil {
			return nil, err
		}
		for {
			n, err := conn.Read(w.buf)
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				if isTimeout(err) && try < retries {
					break // resend
				}
				return nil, err
			}
			if n == len(w.buf) {
				return nil, fmt.Errorf("answer of %d bytes or more was truncated", n)
			}
			pkt, err := w.codec.SnmpDecodePacket(w.buf[:n])
			if err != nil || !slices.Contains(sent, pkt.RequestID) {
				continue // garbage or a stale answer: keep waiting
			}
			if pkt.Error != gosnmp.NoError {
				return nil, fmt.Errorf("%w %v at varbind %d", errAgentStatus, pkt.Error, pkt.ErrorIndex)
			}
			return pkt.Variables, nil
		}
	}
	return nil, os.ErrDeadlineExceeded // not reached: the last attempt returns
}

// encode builds a GET for loadOIDs with the next request ID and returns
// the ID. SnmpEncodePacket uses the codec's counter plus one, so the
// counter is set just below the ID wanted; IDs stay in 1..2^31-1 because
// agents echo them as Integer32 and 0 is what some send when they cannot
// parse the request.
func (w *worker) encode(community string) ([]byte, uint32, error) {
	w.id = w.id%0x7ffffffe + 1
	w.codec.Community = community
	w.codec.SetRequestID(w.id - 1)
	req, err := w.codec.SnmpEncodePacket(gosnmp.GetRequest, loadPDUs, 0, 0)
	return req, w.id, err
}

func (s Sample) fail(kind, msg string) Sample {
	s.ErrKind, s.Err = kind, msg
	return s
}

// classify turns a gosnmp error into a kind and an actionable message.
// gosnmp's errors do not contain the community, and neither do these.
func classify(err error, addr string, opts Options) (string, string) {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return ErrRefused, fmt.Sprintf("SNMP agent %s refused: nothing listens on that UDP port (is snmpd running on the node?)", addr)
	case errors.Is(err, context.Canceled):
		return ErrCanceled, fmt.Sprintf("SNMP GET laLoad from %s: round canceled", addr)
	case isTimeout(err):
		return ErrTimeout, fmt.Sprintf("SNMP agent %s did not answer within %v (%d retries): node down, filtered, or the community is wrong (agents drop those silently)", addr, opts.Timeout, opts.Retries)
	default:
		return ErrOther, fmt.Sprintf("SNMP GET laLoad from %s: %v", addr, err)
	}
}

// isTimeout recognises gosnmp's timeouts, which arrive as a net.Error, as
// context.DeadlineExceeded, or only as text ("request timeout").
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, gosnmp.ErrMaxRetriesExceeded) ||
		(errors.As(err, &ne) && ne.Timeout()) || strings.Contains(err.Error(), "timeout")
}

// parseLoads takes laLoad.i when it parses as a number and laLoadInt.i/100
// otherwise; an average with neither is an error naming what was received.
func parseLoads(vars []gosnmp.SnmpPDU) ([3]float64, error) {
	var out [3]float64
	byOID := make(map[string]gosnmp.SnmpPDU, len(vars))
	for _, v := range vars {
		byOID["."+strings.TrimPrefix(v.Name, ".")] = v
	}
	var errs []error
	for i, minutes := range []int{1, 5, 15} {
		str, strOK := byOID[loadOIDs[i]]
		if v, ok := loadString(str, strOK); ok {
			out[i] = v
			continue
		}
		intv, intOK := byOID[loadOIDs[3+i]]
		if v, ok := loadInt(intv, intOK); ok {
			out[i] = v
			continue
		}
		errs = append(errs, fmt.Errorf("%d-minute load: laLoad.%d is %s and laLoadInt.%d is %s",
			minutes, i+1, describe(str, strOK), i+1, describe(intv, intOK)))
	}
	return out, errors.Join(errs...)
}

func loadString(v gosnmp.SnmpPDU, ok bool) (float64, bool) {
	if !ok || v.Type != gosnmp.OctetString {
		return 0, false
	}
	b, _ := v.Value.([]byte)
	f, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0, false
	}
	return f, true
}

func loadInt(v gosnmp.SnmpPDU, ok bool) (float64, bool) {
	if !ok || v.Type != gosnmp.Integer {
		return 0, false
	}
	n, isInt := v.Value.(int)
	if !isInt || n < 0 {
		return 0, false
	}
	return float64(n) / 100, true
}

// describe renders a received value for an error message.
func describe(v gosnmp.SnmpPDU, ok bool) string {
	switch {
	case !ok:
		return "missing from the answer"
	case v.Type == gosnmp.OctetString:
		b, _ := v.Value.([]byte)
		if len(b) > 32 {
			b = append(b[:32:32], "..."...)
		}
		return strconv.Quote(string(b))
	case v.Type == gosnmp.NoSuchObject, v.Type == gosnmp.NoSuchInstance, v.Type == gosnmp.EndOfMibView:
		return "not served by the agent (" + v.Type.String() + ")"
	default:
		return fmt.Sprintf("%v of type %v", v.Value, v.Type)
	}
}
