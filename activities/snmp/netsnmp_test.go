package snmp

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/lab/proc"
)

// snmpd is a real net-snmp agent whose laLoad and laLoadInt columns come
// from a values file the test writes, through a `pass` script.
type snmpd struct {
	p      *proc.Process
	values string
}

// passScript answers GETs (-g OID) from the values file, one
// "OID TYPE VALUE" line per object; GETNEXT and SET get no answer, which
// net-snmp reports as "no such object". The value is the rest of the line,
// so strings may contain spaces.
const passScript = `#!/bin/sh
[ "$1" = "-g" ] || exit 0
while read -r oid type value; do
	if [ "$oid" = "$2" ]; then printf '%%s\n%%s\n%%s\n' "$oid" "$type" "$value"; exit 0; fi
done < %s
`

// snmpdConfig is deliberately not called snmpd.conf, and snmpd is started
// with -C so it reads only this file: the system's /etc/snmp/snmpd.conf
// would add agentaddress 161. The pass lines take priority 10 over the
// built-in ucd-snmp/loadave module (default 127); at the same priority
// snmpd refuses them as a duplicate registration.
const snmpdConfig = `rocommunity %s 127.0.0.0/8
dontLogTCPWrappersConnects yes
pass -p 10 .1.3.6.1.4.1.2021.10.1.3 %[2]s
pass -p 10 .1.3.6.1.4.1.2021.10.1.5 %[2]s
`

// startSnmpd runs Debian's snmpd on addr in the foreground. -I -smux keeps
// it off TCP 199, SNMP_PERSISTENT_DIR off /var/lib/snmp, and MIBS= from
// parsing MIB files it does not need.
func startSnmpd(t *testing.T, addr string) *snmpd {
	t.Helper()
	dir := t.TempDir()
	s := &snmpd{values: filepath.Join(dir, "values")}
	s.setLoad(t, "0.00", "0.00", "0.00", 0, 0, 0)
	script := filepath.Join(dir, "load.sh")
	require.NoError(t, os.WriteFile(script, fmt.Appendf(nil, passScript, s.values), 0o755))
	conf := filepath.Join(dir, "agent.conf")
	require.NoError(t, os.WriteFile(conf, fmt.Appendf(nil, snmpdConfig, community, script), 0o600))

	start := time.Now()
	p, err := proc.Start("snmpd", filepath.Join(dir, "snmpd.log"),
		[]string{"SNMP_PERSISTENT_DIR=" + filepath.Join(dir, "persist"), "MIBS="},
		"snmpd", "-f", "-Lo", "-I", "-smux", "-C", "-c", conf, "-p", filepath.Join(dir, "snmpd.pid"), "udp:"+addr)
	require.NoError(t, err)
	s.p = p
	t.Cleanup(func() { _ = p.Stop(5 * time.Second) })

	// UDP has no listen to wait for: poll until snmpd answers.
	target := []Target{{Node: "snmpd", Addr: addr, Community: community}}
	for deadline := time.Now().Add(10 * time.Second); ; {
		out := NewPoller().Poll(context.Background(), target, Options{Timeout: 100 * time.Millisecond})
		if out[0].OK() {
			break
		}
		require.True(t, p.Running(), "snmpd exited; log %s ends:\n%s", p.LogPath, p.Tail(2000))
		require.True(t, time.Now().Before(deadline), "snmpd not answering on %s: %s; log ends:\n%s", addr, out[0].Err, p.Tail(2000))
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("snmpd (PID %d) answering on %s after %v", p.PID(), addr, time.Since(start))
	return s
}

// setLoad writes the values the pass script serves: laLoad strings and
// laLoadInt integers for 1, 5 and 15 minutes. The rename makes each change
// atomic for the script.
func (s *snmpd) setLoad(t *testing.T, l1, l5, l15 string, i1, i5, i15 int) {
	t.Helper()
	var b strings.Builder
	for i, v := range []string{l1, l5, l15} {
		fmt.Fprintf(&b, ".1.3.6.1.4.1.2021.10.1.3.%d string %s\n", i+1, v)
	}
	for i, v := range []int{i1, i5, i15} {
		fmt.Fprintf(&b, ".1.3.6.1.4.1.2021.10.1.5.%d integer %d\n", i+1, v)
	}
	tmp := s.values + ".tmp"
	require.NoError(t, os.WriteFile(tmp, []byte(b.String()), 0o644))
	require.NoError(t, os.Rename(tmp, s.values))
}

func TestRealSnmpd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Debian's snmpd")
	}
	s := startSnmpd(t, snmpdAddr)
	p := NewPoller()
	poll := func(targets ...Target) []Sample {
		return p.Poll(context.Background(), targets, Options{Timeout: 500 * time.Millisecond})
	}
	node := Target{Node: "real", Addr: snmpdAddr, Community: community}

	s.setLoad(t, "2.50", "1.75", "0.30", 1, 1, 1)
	out := poll(node)
	require.True(t, out[0].OK(), out[0].Err)
	require.Equal(t, [3]float64{2.5, 1.75, 0.3}, [3]float64{out[0].Load1, out[0].Load5, out[0].Load15})
	t.Logf("one GET of six objects from snmpd (a pass script fork per object): %v", out[0].Latency)

	// The load the test sets is the load the poller reads.
	s.setLoad(t, "0.05", "12.00", "3", 1, 1, 1)
	out = poll(node)
	require.True(t, out[0].OK(), out[0].Err)
	require.Equal(t, [3]float64{0.05, 12, 3}, [3]float64{out[0].Load1, out[0].Load5, out[0].Load15})

	// laLoad that does not parse: laLoadInt/100 is used instead.
	s.setLoad(t, "n/a", "1.00", "not a load", 425, 7, 1)
	out = poll(node)
	require.True(t, out[0].OK(), out[0].Err)
	require.Equal(t, [3]float64{4.25, 1, 0.01}, [3]float64{out[0].Load1, out[0].Load5, out[0].Load15})

	// Neither column usable: a bad value, reported with what came back.
	s.setLoad(t, "busy", "1.00", "1.00", -5, 1, 1)
	out = poll(node)
	require.Equal(t, ErrBadValue, out[0].ErrKind, out[0].Err)
	require.Contains(t, out[0].Err, `laLoad.1 is "busy" and laLoadInt.1 is -5`)

	// Per-agent errors side by side with the healthy snmpd: a wrong
	// community (snmpd drops it silently) and nothing listening.
	s.setLoad(t, "1.00", "2.00", "3.00", 1, 1, 1)
	wrong := Target{Node: "wrong", Addr: snmpdAddr, Community: "not-" + community}
	dead := Target{Node: "dead", Addr: deadAgentAddr, Community: community}
	out = poll(wrong, node, dead)
	require.Equal(t, ErrTimeout, out[0].ErrKind, out[0].Err)
	require.NotContains(t, out[0].Err, "not-"+community)
	require.True(t, out[1].OK(), out[1].Err)
	require.Equal(t, 3.0, out[1].Load15)
	require.Equal(t, ErrRefused, out[2].ErrKind, out[2].Err)

	// snmpd stopped: refused at once.
	require.NoError(t, s.p.Stop(5*time.Second))
	out = poll(node)
	require.Equal(t, ErrRefused, out[0].ErrKind, out[0].Err)
	require.Less(t, out[0].Latency, 100*time.Millisecond)
}
