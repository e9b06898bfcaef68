package snmpagent_test

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/snmpagent"
)

// Tests use 127.61.0.0/16 (no other package does) so they can run beside the lab's tests.
func startAgent(t testing.TB) *snmpagent.Agent {
	t.Helper()
	a, err := snmpagent.Listen("127.61.0.1:0", "public")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, a.Close()) })
	return a
}

func client(t testing.TB, addr, community string, v gosnmp.SnmpVersion) *gosnmp.GoSNMP {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	p, err := net.LookupPort("udp", port)
	require.NoError(t, err)
	c := &gosnmp.GoSNMP{
		Target: host, Port: uint16(p), Community: community, Version: v, //nolint:gosec // port from the OS
		Timeout: 2 * time.Second, Retries: 1, MaxOids: gosnmp.MaxOids,
	}
	require.NoError(t, c.Connect())
	t.Cleanup(func() { _ = c.Conn.Close() })
	return c
}

func TestGetLoadAfterSetLoad(t *testing.T) {
	a := startAgent(t)
	a.SetLoad(2.5, 1.234, 0.005)
	one, five, fifteen := a.Load()
	require.Equal(t, []float64{2.5, 1.234, 0.005}, []float64{one, five, fifteen})

	c := client(t, a.Addr(), "public", gosnmp.Version2c)
	res, err := c.Get([]string{
		snmpagent.OIDLaLoad1, snmpagent.OIDLaLoad5, snmpagent.OIDLaLoad15,
		snmpagent.OIDLaLoadInt1, snmpagent.OIDLaLoadInt5, snmpagent.OIDLaLoadInt15,
		".1.3.6.1.4.1.2021.10.1.2.3", snmpagent.OIDSysDescr, snmpagent.OIDSysUpTime,
	})
	require.NoError(t, err)
	require.Equal(t, gosnmp.NoError, res.Error)
	require.Len(t, res.Variables, 9)
	strs := []string{}
	for _, v := range res.Variables[:3] {
		require.Equal(t, gosnmp.OctetString, v.Type, v.Name)
		strs = append(strs, string(v.Value.([]byte)))
	}
	require.Equal(t, []string{"2.50", "1.23", "0.01"}, strs)
	ints := []int{}
	for _, v := range res.Variables[3:6] {
		require.Equal(t, gosnmp.Integer, v.Type, v.Name)
		ints = append(ints, v.Value.(int))
	}
	require.Equal(t, []int{250, 123, 1}, ints)
	require.Equal(t, "Load-15", string(res.Variables[6].Value.([]byte)))
	require.Equal(t, snmpagent.DefaultDescr, string(res.Variables[7].Value.([]byte)))
	require.Equal(t, gosnmp.TimeTicks, res.Variables[8].Type)

	// A new value is visible on the next request.
	a.SetLoad(0.25, 0, 0)
	res, err = c.Get([]string{snmpagent.OIDLaLoad1})
	require.NoError(t, err)
	require.Equal(t, "0.25", string(res.Variables[0].Value.([]byte)))
	require.Equal(t, uint64(2), a.Stats().Requests)
}

func TestExceptions(t *testing.T) {
	a := startAgent(t)
	c := client(t, a.Addr(), "public", gosnmp.Version2c)
	res, err := c.Get([]string{
		".1.3.6.1.4.1.2021.10.1.3.4", // laLoad exists, instance 4 does not
		".1.3.6.1.4.1.2021.10.1.3",   // the column itself is not an instance
		".1.3.6.1.2.1.1.1",           // sysDescr without .0
		".1.3.6.1.4.1.2021.10.1.4.1", // laConfig is not implemented
		".1.3.6.1.2.1.2.1.0",         // ifNumber is not implemented
	})
	require.NoError(t, err)
	types := []gosnmp.Asn1BER{}
	for _, v := range res.Variables {
		types = append(types, v.Type)
	}
	require.Equal(t, []gosnmp.Asn1BER{
		gosnmp.NoSuchInstance, gosnmp.NoSuchInstance, gosnmp.NoSuchInstance,
		gosnmp.NoSuchObject, gosnmp.NoSuchObject,
	}, types)

	res, err = c.GetNext([]string{snmpagent.OIDLaLoadInt15, ".2.1"})
	require.NoError(t, err)
	require.Equal(t, gosnmp.EndOfMibView, res.Variables[0].Type)
	require.Equal(t, snmpagent.OIDLaLoadInt15, res.Variables[0].Name)
	require.Equal(t, gosnmp.EndOfMibView, res.Variables[1].Type)

	// GETNEXT compares arcs numerically: after laNames.3 comes laLoad.1, and
	// anything between sysUpTime and the UCD subtree leads into laIndex.1.
	res, err = c.GetNext([]string{".1.3.6.1.4.1.2021.10.1.2.3", ".1.3.6.1.2.1.1.9", ".0.0"})
	require.NoError(t, err)
	require.Equal(t, snmpagent.OIDLaLoad1, res.Variables[0].Name)
	require.Equal(t, ".1.3.6.1.4.1.2021.10.1.1.1", res.Variables[1].Name)
	require.Equal(t, snmpagent.OIDSysDescr, res.Variables[2].Name)
}

var laTable = []string{
	".1.3.6.1.4.1.2021.10.1.1.1", ".1.3.6.1.4.1.2021.10.1.1.2", ".1.3.6.1.4.1.2021.10.1.1.3",
	".1.3.6.1.4.1.2021.10.1.2.1", ".1.3.6.1.4.1.2021.10.1.2.2", ".1.3.6.1.4.1.2021.10.1.2.3",
	".1.3.6.1.4.1.2021.10.1.3.1", ".1.3.6.1.4.1.2021.10.1.3.2", ".1.3.6.1.4.1.2021.10.1.3.3",
	".1.3.6.1.4.1.2021.10.1.5.1", ".1.3.6.1.4.1.2021.10.1.5.2", ".1.3.6.1.4.1.2021.10.1.5.3",
}

func TestWalkAndBulkWalk(t *testing.T) {
	a := startAgent(t)
	a.SetLoad(3, 2, 1)
	for _, v := range []gosnmp.SnmpVersion{gosnmp.Version1, gosnmp.Version2c} {
		c := client(t, a.Addr(), "public", v)
		walk := func(f func(string, gosnmp.WalkFunc) error, root string) []string {
			var names []string
			require.NoError(t, f(root, func(pdu gosnmp.SnmpPDU) error {
				names = append(names, pdu.Name)
				return nil
			}))
			return names
		}
		require.Equal(t, laTable, walk(c.Walk, ".1.3.6.1.4.1.2021.10"), "GETNEXT walk, %v", v)
		all := append([]string{snmpagent.OIDSysDescr, snmpagent.OIDSysUpTime}, laTable...)
		require.Equal(t, all, walk(c.Walk, ".1.3"), "GETNEXT walk of everything, %v", v)
		if v == gosnmp.Version1 {
			continue // no GETBULK in v1
		}
		require.Equal(t, laTable, walk(c.BulkWalk, ".1.3.6.1.4.1.2021.10"), "GETBULK walk")
		c.MaxRepetitions = 2 // several round trips
		require.Equal(t, all, walk(c.BulkWalk, ".1.3"), "GETBULK walk, 2 per request")
	}
}

func TestGetBulkNonRepeatersAndEnd(t *testing.T) {
	a := startAgent(t)
	c := client(t, a.Addr(), "public", gosnmp.Version2c)
	// One non-repeater, then two repeaters walked in lock-step; the second
	// runs off the end, and the reply stops once both have.
	res, err := c.GetBulk([]string{".1.3.6.1.2.1.1", ".1.3.6.1.4.1.2021.10.1.5.1", ".1.3.6.1.4.1.2021.10.1.3.2"}, 1, 10)
	require.NoError(t, err)
	got := []string{}
	for _, v := range res.Variables {
		got = append(got, v.Name+" "+v.Type.String())
	}
	require.Equal(t, []string{
		snmpagent.OIDSysDescr + " OctetString",
		snmpagent.OIDLaLoadInt5 + " Integer", snmpagent.OIDLaLoad15 + " OctetString",
		snmpagent.OIDLaLoadInt15 + " Integer", snmpagent.OIDLaLoadInt1 + " Integer",
		snmpagent.OIDLaLoadInt15 + " EndOfMibView", snmpagent.OIDLaLoadInt5 + " Integer",
		snmpagent.OIDLaLoadInt15 + " EndOfMibView", snmpagent.OIDLaLoadInt15 + " Integer",
		snmpagent.OIDLaLoadInt15 + " EndOfMibView", snmpagent.OIDLaLoadInt15 + " EndOfMibView",
	}, got)
}

func TestV1Errors(t *testing.T) {
	a := startAgent(t)
	c := client(t, a.Addr(), "public", gosnmp.Version1)
	res, err := c.Get([]string{snmpagent.OIDLaLoad1, ".1.3.6.1.4.1.2021.10.1.3.9"})
	require.NoError(t, err)
	require.Equal(t, gosnmp.NoSuchName, res.Error)
	require.Equal(t, uint8(2), res.ErrorIndex)

	res, err = c.GetNext([]string{snmpagent.OIDLaLoadInt15})
	require.NoError(t, err)
	require.Equal(t, gosnmp.NoSuchName, res.Error)

	res, err = c.Set([]gosnmp.SnmpPDU{{Name: snmpagent.OIDLaLoad1, Type: gosnmp.OctetString, Value: "9.99"}})
	require.NoError(t, err)
	require.Equal(t, gosnmp.NoSuchName, res.Error)
}

func TestSetIsRefused(t *testing.T) {
	a := startAgent(t)
	a.SetLoad(1, 1, 1)
	c := client(t, a.Addr(), "public", gosnmp.Version2c)
	res, err := c.Set([]gosnmp.SnmpPDU{{Name: snmpagent.OIDLaLoad1, Type: gosnmp.OctetString, Value: "9.99"}})
	require.NoError(t, err)
	require.Equal(t, gosnmp.NotWritable, res.Error)
	res, err = c.Set([]gosnmp.SnmpPDU{{Name: ".1.3.6.1.4.1.99.1.0", Type: gosnmp.Integer, Value: 1}})
	require.NoError(t, err)
	require.Equal(t, gosnmp.NoCreation, res.Error)
	one, _, _ := a.Load()
	require.Equal(t, 1.0, one)
}

func TestWrongCommunityGetsNoAnswer(t *testing.T) {
	a := startAgent(t)
	bad := client(t, a.Addr(), "private", gosnmp.Version2c)
	bad.Timeout, bad.Retries = 300*time.Millisecond, 0
	_, err := bad.Get([]string{snmpagent.OIDLaLoad1})
	require.Error(t, err)
	require.Contains(t, err.Error(), "timeout")
	require.Equal(t, snmpagent.Stats{BadCommunity: 1}, a.Stats())

	// The agent is still serving the right community.
	good := client(t, a.Addr(), "public", gosnmp.Version2c)
	_, err = good.Get([]string{snmpagent.OIDLaLoad1})
	require.NoError(t, err)
	require.Equal(t, uint64(1), a.Stats().Requests)
}

// TestGarbageDoesNotKillAgent sends every truncation and many corruptions of
// a valid request; the agent must drop them all and keep answering.
func TestGarbageDoesNotKillAgent(t *testing.T) {
	a := startAgent(t)
	enc := &gosnmp.GoSNMP{Version: gosnmp.Version2c, Community: "public"}
	req, err := enc.SnmpEncodePacket(gosnmp.GetRequest, []gosnmp.SnmpPDU{{Name: snmpagent.OIDLaLoad1, Type: gosnmp.Null}}, 0, 0)
	require.NoError(t, err)
	conn, err := net.Dial("udp", a.Addr())
	require.NoError(t, err)
	defer conn.Close()
	sent := 0
	for n := range len(req) {
		_, err = conn.Write(req[:n])
		require.NoError(t, err)
		sent++
	}
	for i := range req {
		for _, b := range []byte{0x00, 0xff, 0x80, 0x7f} {
			bad := append([]byte(nil), req...)
			bad[i] = b
			_, err = conn.Write(bad)
			require.NoError(t, err)
		}
	}
	c := client(t, a.Addr(), "public", gosnmp.Version2c)
	res, err := c.Get([]string{snmpagent.OIDLaLoad1})
	require.NoError(t, err)
	require.Equal(t, "0.00", string(res.Variables[0].Value.([]byte)))
	st := a.Stats()
	// Every truncation is rejected; a corrupted byte may still decode (e.g. a
	// changed request ID), so only a lower bound holds for the rest.
	require.GreaterOrEqual(t, st.BadPackets+st.BadCommunity, uint64(sent))
}

func TestConcurrentSetLoadAndGet(t *testing.T) {
	a := startAgent(t)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 200 {
				a.SetLoad(float64(i), float64(j), 1)
				a.Load()
			}
		})
	}
	c := client(t, a.Addr(), "public", gosnmp.Version2c)
	for range 50 {
		_, err := c.Get([]string{snmpagent.OIDLaLoad1, snmpagent.OIDLaLoadInt5})
		require.NoError(t, err)
	}
	wg.Wait()
}

func TestListenErrorsAndClose(t *testing.T) {
	_, err := snmpagent.Listen("127.61.0.1:0", "")
	require.ErrorContains(t, err, "empty community")
	_, err = snmpagent.Listen("not-an-address", "public")
	require.ErrorContains(t, err, `bad listen address "not-an-address"`)

	a := startAgent(t)
	_, err = snmpagent.Listen(a.Addr(), "public")
	require.ErrorContains(t, err, "listen on udp "+a.Addr())

	a.SetLoad(-1, float64(0)/zero(), 2)
	one, five, fifteen := a.Load()
	require.Equal(t, []float64{0, 0, 2}, []float64{one, five, fifteen})

	addr := a.Addr()
	require.NoError(t, a.Close())
	require.NoError(t, a.Close(), "second Close is a no-op")
	b, err := snmpagent.Listen(addr, "public")
	require.NoError(t, err, "the port is free again after Close")
	require.NoError(t, b.Close())
}

func zero() float64 { return 0 }
