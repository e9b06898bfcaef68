package haproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// defaultCommandTimeout bounds one runtime API exchange when ctx has no
// deadline: HAProxy answers in microseconds, so a hang means it is wedged.
const defaultCommandTimeout = 5 * time.Second

// RuntimeCommand sends one command to the HAProxy runtime API at addr (TCP
// ip:port) and returns the whole response. HAProxy reports most command
// failures in the response text (e.g. "No such server."), not as an error
// here: callers check the text. Several commands may be joined with ';'.
func RuntimeCommand(ctx context.Context, addr, cmd string) (string, error) {
	return command(ctx, "tcp", addr, cmd)
}

// command runs one non-interactive CLI command over network/addr; HAProxy
// closes the connection after answering, so the response is read to EOF.
func command(ctx context.Context, network, addr, cmd string) (string, error) {
	if strings.ContainsAny(cmd, "\r\n") {
		return "", fmt.Errorf("haproxy runtime API %s: command %q contains a newline; send one command per call", addr, cmd)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultCommandTimeout)
		defer cancel()
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return "", fmt.Errorf("haproxy runtime API %s: connect: %w (is haproxy running?)", addr, err)
	}
	defer conn.Close()
	dl, _ := ctx.Deadline()
	_ = conn.SetDeadline(dl)
	if _, err := io.WriteString(conn, cmd+"\n"); err != nil {
		return "", fmt.Errorf("haproxy runtime API %s: send %q: %w", addr, verb(cmd), err)
	}
	// The master CLI answers only once it sees the end of the input.
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	b, err := io.ReadAll(conn)
	if err != nil {
		return string(b), fmt.Errorf("haproxy runtime API %s: read answer to %q: %w", addr, verb(cmd), err)
	}
	return string(b), nil
}

// verb is the command without its arguments, for error messages: arguments
// of some commands (e.g. `set ssl cert`) can be sensitive.
func verb(cmd string) string {
	f := strings.Fields(cmd)
	if len(f) > 2 {
		f = f[:2]
	}
	return strings.Join(f, " ")
}

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

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// procInfo is what the master CLI's `show proc` says about the workers.
type procInfo struct {
	failedReloads int
	worker        int // PID of the current worker (0 reloads); 0 if none
}

// parseShowProc reads `show proc` from the master CLI (HAProxy 2.6 format):
//
//	#<PID>  <type>  <reloads>  <uptime>  <version>
//	11319   master  1 [failed: 0]  ...
//	# workers
//	11429   worker  0   ...
func parseShowProc(out string) (procInfo, error) {
	var pi procInfo
	sawMaster := false
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || strings.HasPrefix(f[0], "#") {
			continue
		}
		pid, err := strconv.Atoi(f[0])
		if err != nil {
			continue
		}
		switch f[1] {
		case "master":
			sawMaster = true
			if i := strings.Index(line, "[failed:"); i >= 0 {
				v := strings.TrimSpace(strings.TrimSuffix(strings.Fields(line[i+len("[failed:"):])[0], "]"))
				pi.failedReloads, _ = strconv.Atoi(v)
			}
		case "worker":
			// Old workers still finishing have reloads >= 1; the current
			// one was forked by the last reload.
			if f[2] == "0" && pi.worker == 0 {
				pi.worker = pid
			}
		}
	}
	if !sawMaster {
		return pi, errors.New("no master line in `show proc` answer")
	}
	return pi, nil
}
