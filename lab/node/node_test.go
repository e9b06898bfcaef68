package node_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/lab/node"
	"github.com/microdc/mdc/snmpagent"
)

// The package's tests use address-plan Base 53: nodes on 127.53.0.x. Tests
// of Node use .200 and up; Manager tests use the plan's slots from .10.
const (
	httpPort = 8080
	snmpPort = 1161
	password = "s3cret-pw"
	// deadDSN points at a port nothing listens on: the site's database is down.
	deadDSN = "app:" + password + "@tcp(127.53.0.1:1)/mdc"
)

// syncBuffer collects log output from the node's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testLogger() (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

func startNode(t *testing.T, o node.Options) *node.Node {
	t.Helper()
	n, err := node.Start(o)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, n.Stop()) })
	return n
}

var client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := client.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

func snmpClient(t *testing.T, addr string) *gosnmp.GoSNMP {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	c := &gosnmp.GoSNMP{Target: host, Port: uint16(p), Community: "public", Version: gosnmp.Version2c, Timeout: time.Second, Retries: 1} //nolint:gosec
	require.NoError(t, c.Connect())
	t.Cleanup(func() { _ = c.Conn.Close() })
	return c
}

func TestPageHealthAndCounters(t *testing.T) {
	log, logs := testLogger()
	n := startNode(t, node.Options{
		Name: "uk-web-1", Site: "uk", IP: "127.53.0.200", HTTPPort: httpPort, SNMPPort: snmpPort,
		HealthPath: "/healthz", DSN: deadDSN, Logger: log,
	})
	base := "http://127.53.0.200:8080"

	resp, body := get(t, base+"/")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "service web, node uk-web-1, site uk\n", body)
	require.Equal(t, "uk-web-1", resp.Header.Get(node.HeaderNode))
	require.Equal(t, "uk", resp.Header.Get(node.HeaderSite))
	require.Equal(t, "text/plain; charset=utf-8", resp.Header.Get("Content-Type"))

	// Health is the node's own: 200 although its database is down, which
	// the header reports once the background probe has run.
	eventually(t, 5*time.Second, "health reports the database down", func() bool {
		resp, body := get(t, base+"/healthz")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "ok\n", body)
		require.Equal(t, "uk-web-1", resp.Header.Get(node.HeaderNode))
		return resp.Header.Get(node.HeaderDB) == node.DBDown
	})

	resp, _ = get(t, base+"/nope")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Equal(t, "uk-web-1", resp.Header.Get(node.HeaderNode))
	resp, err := client.Post(base+"/", "text/plain", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)

	info := n.Info()
	require.Equal(t, uint64(3), info.Requests, "health checks are not counted as requests")
	require.NotZero(t, info.HealthChecks)
	require.Equal(t, node.DBDown, info.DB)
	require.Equal(t, "127.53.0.200:8080", info.HTTPAddr)
	require.Equal(t, "127.53.0.200:1161", info.SNMPAddr)
	require.True(t, info.Running)
	require.NotContains(t, logs.String(), password)
}

func TestDBDownAnswers503FastWithoutSecrets(t *testing.T) {
	log, logs := testLogger()
	startNode(t, node.Options{Name: "uk-web-2", Site: "uk", IP: "127.53.0.201", HTTPPort: httpPort, SNMPPort: snmpPort, DSN: deadDSN, Logger: log})
	start := time.Now()
	resp, body := get(t, "http://127.53.0.201:8080/db")
	require.Less(t, time.Since(start), 3*time.Second)
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var rep struct{ DB, Error string }
	require.NoError(t, json.Unmarshal([]byte(body), &rep))
	require.Equal(t, node.DBDown, rep.DB)
	require.Contains(t, rep.Error, "database at 127.53.0.1:1 is unreachable")
	require.Contains(t, rep.Error, "connection refused")
	require.NotContains(t, body, password)
	require.NotContains(t, logs.String(), password)
	require.Contains(t, logs.String(), "database write failed")
}

func TestNoDatabaseConfigured(t *testing.T) {
	n := startNode(t, node.Options{Name: "uk-web-3", Site: "uk", IP: "127.53.0.202", HTTPPort: httpPort, SNMPPort: snmpPort})
	resp, body := get(t, "http://127.53.0.202:8080/db")
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.JSONEq(t, `{"db":"unconfigured","error":"no database is configured for this node"}`, body)
	resp, _ = get(t, "http://127.53.0.202:8080/healthz")
	require.Equal(t, node.DBUnconfigured, resp.Header.Get(node.HeaderDB))
	require.Equal(t, node.DBUnconfigured, n.Info().DB)
}

func TestSNMPLoad(t *testing.T) {
	n := startNode(t, node.Options{Name: "uk-web-4", Site: "uk", IP: "127.53.0.203", HTTPPort: httpPort, SNMPPort: snmpPort, DSN: deadDSN})
	c := snmpClient(t, "127.53.0.203:1161")
	read := func() []string {
		res, err := c.Get([]string{snmpagent.OIDLaLoad1, snmpagent.OIDLaLoad5, snmpagent.OIDLaLoad15})
		require.NoError(t, err)
		out := []string{}
		for _, v := range res.Variables {
			out = append(out, string(v.Value.([]byte)))
		}
		return out
	}
	require.Equal(t, []string{"0.00", "0.00", "0.00"}, read())
	n.SetLoad(2.5)
	require.Equal(t, []string{"2.50", "1.25", "0.50"}, read())
	n.SetLoad(2.5) // held: the longer averages keep climbing towards it
	require.Equal(t, []string{"2.50", "1.88", "0.90"}, read())

	_, body := get(t, "http://127.53.0.203:8080/load")
	require.JSONEq(t, `{"load1":2.5,"load5":1.875,"load15":0.9}`, body)
	info := n.Info()
	require.Equal(t, 2.5, info.Load1)
	require.Equal(t, uint64(3), info.SNMPRequests)

	res, err := c.Get([]string{snmpagent.OIDSysDescr})
	require.NoError(t, err)
	require.Equal(t, "mdc lab web node uk-web-4, site uk", string(res.Variables[0].Value.([]byte)))
}

// eventually polls cond in the test's goroutine (so cond may use require)
// until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func refused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// requireDown checks that nothing answers on the node's HTTP and SNMP ports.
func requireDown(t *testing.T, ip string) {
	t.Helper()
	_, err := net.DialTimeout("tcp", ip+":8080", time.Second)
	require.True(t, refused(err), "HTTP on %s must refuse connections, got %v", ip, err)

	// A connected UDP socket gets the ICMP port-unreachable as ECONNREFUSED.
	codec := &gosnmp.GoSNMP{Version: gosnmp.Version2c, Community: "public"}
	req, err := codec.SnmpEncodePacket(gosnmp.GetRequest, []gosnmp.SnmpPDU{{Name: snmpagent.OIDLaLoad1, Type: gosnmp.Null}}, 0, 0)
	require.NoError(t, err)
	conn, err := net.Dial("udp", ip+":1161")
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Write(req)
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(time.Second)))
	_, err = conn.Read(make([]byte, 1500))
	require.True(t, refused(err), "SNMP on %s must be closed, got %v", ip, err)
}

func TestStopClosesBothListeners(t *testing.T) {
	o := node.Options{Name: "uk-web-5", Site: "uk", IP: "127.53.0.204", HTTPPort: httpPort, SNMPPort: snmpPort}
	n, err := node.Start(o)
	require.NoError(t, err)
	resp, _ := get(t, "http://127.53.0.204:8080/")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	_, err = snmpClient(t, "127.53.0.204:1161").Get([]string{snmpagent.OIDLaLoad1})
	require.NoError(t, err)

	// An idle keep-alive connection is cut too, as a power-off would.
	idle, err := net.Dial("tcp", "127.53.0.204:8080")
	require.NoError(t, err)
	defer idle.Close()

	require.NoError(t, n.Stop())
	require.NoError(t, n.Stop(), "second Stop is a no-op")
	require.False(t, n.Info().Running)
	requireDown(t, "127.53.0.204")
	require.NoError(t, idle.SetReadDeadline(time.Now().Add(2*time.Second)))
	_, err = idle.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF)

	// The same addresses can be bound again at once (power back on).
	startNode(t, o)
	resp, _ = get(t, "http://127.53.0.204:8080/")
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestStartErrors(t *testing.T) {
	_, err := node.Start(node.Options{Name: "x", IP: "127.53.0.300"})
	require.ErrorContains(t, err, `Options.IP "127.53.0.300" is not an IPv4 address`)
	_, err = node.Start(node.Options{Name: "x", IP: "127.53.0.205", HealthPath: "/db"})
	require.ErrorContains(t, err, `HealthPath "/db" collides`)
	_, err = node.Start(node.Options{Name: "x", IP: "127.53.0.205", DSN: "app:" + password + "@tcp(127.53.0.1:3306"})
	require.ErrorContains(t, err, "DSN is not in go-sql-driver format")
	require.NotContains(t, err.Error(), password)

	startNode(t, node.Options{Name: "a", IP: "127.53.0.205", HTTPPort: httpPort, SNMPPort: snmpPort})
	_, err = node.Start(node.Options{Name: "b", IP: "127.53.0.205", HTTPPort: httpPort, SNMPPort: snmpPort})
	require.ErrorContains(t, err, "HTTP listen on 127.53.0.205:8080")
	_, err = node.Start(node.Options{Name: "c", IP: "127.53.0.205", HTTPPort: 8081, SNMPPort: snmpPort})
	require.ErrorContains(t, err, "listen on udp 127.53.0.205:1161")
	// The failed start released its HTTP port.
	startNode(t, node.Options{Name: "d", IP: "127.53.0.205", HTTPPort: 8081, SNMPPort: 1162})
}
