package haproxyapi

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Captured from haproxy 2.6.12: n1 UP, n3 a fresh dynamic server (maint).
const stateOut = `1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port
3 be_web 1 n1 127.31.0.10 2 0 1 1 12 6 3 4 6 0 0 0 - 8080 - 0 0 - - 0
3 be_web 2 n3 127.31.0.12 0 1 1 1 0 1 0 0 2 0 0 0 - 8080 - 0 0 - - 0

`

func TestParseServersState(t *testing.T) {
	st, err := ParseServersState(stateOut)
	require.NoError(t, err)
	require.Len(t, st, 2)
	require.Equal(t, ServerState{
		BackendID: 3, Backend: "be_web", ID: 1, Name: "n1", Addr: "127.31.0.10", Port: 8080,
		OpState: OpRunning, AdminState: 0, UserWeight: 1, InitWeight: 1, LastChange: 12 * time.Second,
		CheckStatus: 6, CheckResult: 3, CheckHealth: 4, CheckState: 6,
	}, st[0])
	require.True(t, st[0].Up())
	require.False(t, st[0].Maint())
	require.Equal(t, "n3", st[1].Name)
	require.False(t, st[1].Up())
	require.True(t, st[1].Maint())

	empty, err := ParseServersState("1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_port\n")
	require.NoError(t, err)
	require.Empty(t, empty)
}

func TestParseServersStateErrors(t *testing.T) {
	for name, tc := range map[string]struct{ in, want string }{
		"unknown backend": {"Can't find backend.\n", "format version 1"},
		"no header":       {"1\n3 be_web 1 n1\n", "no column header"},
		"missing column":  {"1\n# be_id be_name\n", "column srv_id missing"},
		"short line":      {strings.Replace(stateOut, "127.31.0.12 0 1 1 1 0 1 0 0 2 0 0 0 - 8080 - 0 0 - - 0", "127.31.0.12 0", 1), "line 4 has"},
		"not a number":    {strings.Replace(stateOut, "127.31.0.10 2 0", "127.31.0.10 up 0", 1), "srv_op_state \"up\""},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseServersState(tc.in)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestDrainAndMaintBits(t *testing.T) {
	s := ServerState{OpState: OpRunning, AdminState: AdminForcedDrain}
	require.True(t, s.Up(), "a draining server is still up for existing sessions")
	require.True(t, s.Drain())
	s.AdminState = AdminConfigMaint
	require.False(t, s.Up())
	require.True(t, s.Maint())
}
