// Package haproxyapi is mdc's client for HAProxy's runtime API (the "stats
// socket" CLI, level admin) and the shared renderer of the backend
// configuration file that mdc persists servers in. The lab's HAProxy and the
// load-balancer activities both use it, so they agree on command syntax,
// state parsing and file layout.
//
// The runtime API is reached over TCP ("127.1.0.1:9999") or a unix socket
// (an absolute path, "/run/haproxy/admin.sock"). Each call opens one
// connection, sends one command and reads the answer to EOF: HAProxy's
// non-interactive mode.
package haproxyapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// DefaultTimeout bounds one runtime API exchange when ctx has no deadline:
// HAProxy answers in microseconds, so a hang means it is wedged.
const DefaultTimeout = 5 * time.Second

// ConnError is a failed exchange with HAProxy: the connection was refused,
// timed out, or broke before the answer was complete. Callers treat it as
// "HAProxy is unavailable" (retryable), unlike a command HAProxy answered
// with an error text.
type ConnError struct {
	Addr string // runtime API address the command was sent to
	Op   string // connect, send, read
	Cmd  string // the command's verb (first two words only)
	Err  error
}

// Error says where the exchange failed and what to check.
func (e *ConnError) Error() string {
	if e.Op == "connect" {
		return fmt.Sprintf("haproxy runtime API %s: connect: %v (is haproxy running and is this its stats socket?)", e.Addr, e.Err)
	}
	return fmt.Sprintf("haproxy runtime API %s: %s %q: %v", e.Addr, e.Op, e.Cmd, e.Err)
}

// Unwrap returns the network error.
func (e *ConnError) Unwrap() error { return e.Err }

// IsConnError reports whether err (or an error it wraps) is a *ConnError.
func IsConnError(err error) bool {
	var ce *ConnError
	return errors.As(err, &ce)
}

// Network returns the network ("unix" or "tcp") of a runtime API address:
// an absolute path is a unix socket, anything else is host:port.
func Network(addr string) string {
	if strings.HasPrefix(addr, "/") {
		return "unix"
	}
	return "tcp"
}

// RuntimeCommand sends one command to the HAProxy runtime API (or master
// CLI) at addr, TCP host:port or an absolute unix socket path, and returns
// the whole answer. HAProxy reports most command failures in the answer text
// (e.g. "No such server."), not as an error here: callers check the text.
// Several commands may be joined with ';'. A transport failure is a
// *ConnError.
func RuntimeCommand(ctx context.Context, addr, cmd string) (string, error) {
	if strings.ContainsAny(cmd, "\r\n") {
		return "", fmt.Errorf("haproxy runtime API %s: command %q contains a newline; send one command per call", addr, verb(cmd))
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, Network(addr), addr)
	if err != nil {
		return "", &ConnError{Addr: addr, Op: "connect", Cmd: verb(cmd), Err: err}
	}
	defer conn.Close()
	dl, _ := ctx.Deadline()
	_ = conn.SetDeadline(dl)
	if _, err := io.WriteString(conn, cmd+"\n"); err != nil {
		return "", &ConnError{Addr: addr, Op: "send", Cmd: verb(cmd), Err: err}
	}
	// The master CLI answers only once it sees the end of the input.
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	b, err := io.ReadAll(conn)
	if err != nil {
		return string(b), &ConnError{Addr: addr, Op: "read answer to", Cmd: verb(cmd), Err: err}
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

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
