package haproxyapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Operational states (srv_op_state) in `show servers state`.
const (
	OpStopped  = 0 // DOWN
	OpStarting = 1 // coming up after slowstart
	OpRunning  = 2 // UP
	OpStopping = 3 // going down (soft stop)
)

// Admin state bits (srv_admin_state) in `show servers state`.
const (
	AdminForcedMaint    = 0x01 // `set server ... state maint`, or a new dynamic server
	AdminInheritedMaint = 0x02 // tracks a server in maintenance
	AdminConfigMaint    = 0x04 // `disabled` in the configuration
	AdminForcedDrain    = 0x08 // `set server ... state drain`
	AdminInheritedDrain = 0x10
	AdminResolvMaint    = 0x20 // DNS resolution failed
	AdminHostnameMaint  = 0x40 // no address yet
	adminMaintMask      = AdminForcedMaint | AdminInheritedMaint | AdminConfigMaint | AdminResolvMaint | AdminHostnameMaint
	adminDrainMask      = AdminForcedDrain | AdminInheritedDrain
)

// ServerState is one server line of `show servers state`.
type ServerState struct {
	BackendID   int
	Backend     string
	ID          int
	Name        string
	Addr        string
	Port        int
	OpState     int // OpStopped ... OpStopping
	AdminState  int // bit set of Admin* constants
	UserWeight  int
	InitWeight  int
	LastChange  time.Duration // since the last state change
	CheckStatus int
	CheckResult int
	CheckHealth int
	CheckState  int
}

// Up reports whether the server takes traffic: running and not in maintenance.
func (s ServerState) Up() bool { return s.OpState == OpRunning && s.AdminState&adminMaintMask == 0 }

// Maint reports whether the server is in any kind of maintenance.
func (s ServerState) Maint() bool { return s.AdminState&adminMaintMask != 0 }

// Drain reports whether the server is draining (no new sessions).
func (s ServerState) Drain() bool { return s.AdminState&adminDrainMask != 0 }

// Checked reports whether health checks are configured and enabled.
func (s ServerState) Checked() bool { return s.CheckState&CheckEnabled != 0 }

// HostPort is the server's address as ip:port.
func (s ServerState) HostPort() string { return net.JoinHostPort(s.Addr, strconv.Itoa(s.Port)) }

// ErrUnknownBackend is wrapped by ShowServersState and ShowStat when HAProxy
// has no backend of the given name.
var ErrUnknownBackend = errors.New("no such backend in haproxy's configuration (check the backend name in the platform file)")

// CheckEnabled is the bit of srv_check_state that says health checks run;
// a server added with `add server` has it clear until `enable health`.
const CheckEnabled = 0x04

// ShowServersState runs `show servers state <backend>` on the runtime API at
// addr and parses the answer; an empty backend lists every backend.
func ShowServersState(ctx context.Context, addr, backend string) ([]ServerState, error) {
	cmd := "show servers state"
	if backend != "" {
		cmd += " " + backend
	}
	out, err := RuntimeCommand(ctx, addr, cmd)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(out, "Can't find backend") {
		return nil, fmt.Errorf("haproxy runtime API %s: backend %q: %w", addr, backend, ErrUnknownBackend)
	}
	st, err := ParseServersState(out)
	if err != nil {
		return nil, fmt.Errorf("haproxy runtime API %s: %s: %w", addr, cmd, err)
	}
	return st, nil
}

// ParseServersState parses the output of `show servers state` (format
// version 1): a version line, a "# " header naming the columns, then one line
// per server. Columns are found by name, so extra columns do not matter.
func ParseServersState(out string) ([]ServerState, error) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) == 0 || strings.TrimSpace(lines[0]) != "1" {
		return nil, fmt.Errorf("unexpected answer (want format version 1): %q", firstLine(out))
	}
	if len(lines) < 2 || !strings.HasPrefix(lines[1], "# ") {
		return nil, fmt.Errorf("answer has no column header: %q", firstLine(out))
	}
	col := map[string]int{}
	for i, name := range strings.Fields(lines[1][2:]) {
		col[name] = i
	}
	for _, need := range []string{"be_id", "be_name", "srv_id", "srv_name", "srv_addr", "srv_op_state", "srv_admin_state", "srv_port"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("column %s missing from header %q", need, lines[1])
		}
	}
	var res []ServerState
	for n, line := range lines[2:] {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) < len(col) {
			return nil, fmt.Errorf("line %d has %d fields, header has %d: %q", n+3, len(f), len(col), line)
		}
		var perr error
		num := func(name string) int {
			i, ok := col[name]
			if !ok {
				return 0
			}
			v, err := strconv.Atoi(f[i])
			if err != nil && perr == nil {
				perr = fmt.Errorf("line %d: %s %q is not a number", n+3, name, f[i])
			}
			return v
		}
		s := ServerState{
			BackendID:   num("be_id"),
			Backend:     f[col["be_name"]],
			ID:          num("srv_id"),
			Name:        f[col["srv_name"]],
			Addr:        f[col["srv_addr"]],
			Port:        num("srv_port"),
			OpState:     num("srv_op_state"),
			AdminState:  num("srv_admin_state"),
			UserWeight:  num("srv_uweight"),
			InitWeight:  num("srv_iweight"),
			LastChange:  time.Duration(num("srv_time_since_last_change")) * time.Second,
			CheckStatus: num("srv_check_status"),
			CheckResult: num("srv_check_result"),
			CheckHealth: num("srv_check_health"),
			CheckState:  num("srv_check_state"),
		}
		if perr != nil {
			return nil, perr
		}
		res = append(res, s)
	}
	return res, nil
}
