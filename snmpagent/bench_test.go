package snmpagent_test

import (
	"net"
	"testing"

	"github.com/gosnmp/gosnmp"
	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/snmpagent"
)

// BenchmarkGet is one gosnmp GET of laLoad.1 over loopback UDP: the latency
// mdc's poller sees per node.
func BenchmarkGet(b *testing.B) {
	a := startAgent(b)
	a.SetLoad(1.5, 1, 0.5)
	c := client(b, a.Addr(), "public", gosnmp.Version2c)
	for b.Loop() {
		res, err := c.Get([]string{snmpagent.OIDLaLoad1})
		if err != nil || len(res.Variables) != 1 {
			b.Fatalf("get: %v", err)
		}
	}
}

// BenchmarkGetRaw sends pre-encoded requests on a plain socket, so it
// measures the agent (decode, answer, encode) plus the loopback round trip
// without the gosnmp client's own cost.
func BenchmarkGetRaw(b *testing.B) {
	a := startAgent(b)
	codec := &gosnmp.GoSNMP{Version: gosnmp.Version2c, Community: "public"}
	req, err := codec.SnmpEncodePacket(gosnmp.GetRequest, []gosnmp.SnmpPDU{{Name: snmpagent.OIDLaLoad1, Type: gosnmp.Null}}, 0, 0)
	require.NoError(b, err)
	conn, err := net.Dial("udp", a.Addr())
	require.NoError(b, err)
	defer conn.Close()
	buf := make([]byte, 1500)
	for b.Loop() {
		if _, err := conn.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := conn.Read(buf); err != nil {
			b.Fatal(err)
		}
	}
}
