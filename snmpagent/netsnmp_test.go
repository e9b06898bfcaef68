package snmpagent_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// netsnmp runs a net-snmp command-line tool against the agent. MIBS= keeps
// it from loading MIB files, so the output is numeric and the same on every
// machine.
func netsnmp(t *testing.T, tool string, args ...string) (string, error) {
	return netsnmpWait(t, "1", tool, args...)
}

// netsnmpWait is netsnmp with a timeout of wait seconds and no retry, for
// requests that are meant to go unanswered.
func netsnmpWait(t *testing.T, wait, tool string, args ...string) (string, error) {
	t.Helper()
	path, err := exec.LookPath(tool)
	require.NoError(t, err, "%s not on PATH: install the Debian package snmp (apt-get install snmp)", tool)
	cmd := exec.Command(path, append([]string{"-On", "-t", wait, "-r", "0"}, args...)...)
	// A persistent dir of its own, made beforehand: on a fresh machine the
	// first run otherwise creates /var/lib/snmp/cert_indexes and says so
	// on its output.
	persist := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(persist, "cert_indexes"), 0o700))
	cmd.Env = append(cmd.Environ(), "MIBS=", "MIBDIRS=/nonexistent", "HOME="+t.TempDir(), "SNMP_PERSISTENT_DIR="+persist)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func TestNetSNMPTools(t *testing.T) {
	if testing.Short() {
		t.Skip("runs net-snmp's snmpget/snmpwalk")
	}
	a := startAgent(t)
	a.SetLoad(2.5, 1.75, 0.3)

	out, err := netsnmp(t, "snmpget", "-v2c", "-c", "public", "-Oqv", a.Addr(),
		".1.3.6.1.4.1.2021.10.1.3.1", ".1.3.6.1.4.1.2021.10.1.3.2", ".1.3.6.1.4.1.2021.10.1.3.3",
		".1.3.6.1.4.1.2021.10.1.5.1")
	require.NoError(t, err, out)
	require.Equal(t, "\"2.50\"\n\"1.75\"\n\"0.30\"\n250", out)

	out, err = netsnmp(t, "snmpwalk", "-v2c", "-c", "public", a.Addr(), ".1.3.6.1.4.1.2021.10")
	require.NoError(t, err, out)
	lines := strings.Split(out, "\n")
	require.Len(t, lines, 13, out) // 12 instances, then net-snmp's endOfMibView line
	require.Equal(t, `.1.3.6.1.4.1.2021.10.1.2.1 = STRING: "Load-1"`, lines[3])
	require.Equal(t, `.1.3.6.1.4.1.2021.10.1.3.1 = STRING: "2.50"`, lines[6])
	require.Equal(t, `.1.3.6.1.4.1.2021.10.1.5.3 = INTEGER: 30`, lines[11])
	require.Contains(t, lines[12], "No more variables left in this MIB View")

	out, err = netsnmp(t, "snmpbulkwalk", "-v2c", "-c", "public", "-Cr3", a.Addr(), ".1.3.6.1.4.1.2021.10.1.3")
	require.NoError(t, err, out)
	require.Equal(t, ".1.3.6.1.4.1.2021.10.1.3.1 = STRING: \"2.50\"\n"+
		".1.3.6.1.4.1.2021.10.1.3.2 = STRING: \"1.75\"\n"+
		".1.3.6.1.4.1.2021.10.1.3.3 = STRING: \"0.30\"", out)

	out, err = netsnmp(t, "snmpwalk", "-v1", "-c", "public", a.Addr(), ".1.3.6.1.2.1.1")
	require.NoError(t, err, out)
	require.Contains(t, out, ".1.3.6.1.2.1.1.1.0 = STRING: \"mdc lab node")
	require.Contains(t, out, ".1.3.6.1.2.1.1.3.0 = Timeticks:")

	out, err = netsnmp(t, "snmpget", "-v2c", "-c", "public", a.Addr(), ".1.3.6.1.4.1.2021.10.1.3.7", ".1.3.6.1.4.1.2021.10.1.4.1")
	require.NoError(t, err, out)
	require.Contains(t, out, ".1.3.6.1.4.1.2021.10.1.3.7 = No Such Instance currently exists at this OID")
	require.Contains(t, out, ".1.3.6.1.4.1.2021.10.1.4.1 = No Such Object available on this agent at this OID")

	out, err = netsnmpWait(t, "0.3", "snmpget", "-v2c", "-c", "wrong", a.Addr(), ".1.3.6.1.4.1.2021.10.1.3.1")
	require.Error(t, err, "wrong community must get no answer")
	require.Contains(t, out, "Timeout: No Response from "+a.Addr())
	require.Equal(t, uint64(1), a.Stats().BadCommunity)

	// SNMPv3 is not spoken: no answer, counted as a bad packet, agent unharmed.
	out, err = netsnmpWait(t, "0.3", "snmpget", "-v3", "-l", "noAuthNoPriv", "-u", "nobody", a.Addr(), ".1.3.6.1.2.1.1.1.0")
	require.Error(t, err, out)
	require.NotZero(t, a.Stats().BadPackets)
	out, err = netsnmp(t, "snmpget", "-v2c", "-c", "public", "-Oqv", a.Addr(), ".1.3.6.1.4.1.2021.10.1.5.2")
	require.NoError(t, err, out)
	require.Equal(t, "175", out)
}
