package haproxyapi

import (
	"bufio"
	"context"
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeCLI answers each connection's one command line with answer(cmd), as
// HAProxy's non-interactive CLI does, then closes it.
func fakeCLI(t *testing.T, network, addr string, answer func(string) string) {
	t.Helper()
	ln, err := net.Listen(network, addr)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Write([]byte(answer(line[:max(0, len(line)-1)])))
			c.Close()
		}
	}()
}

func TestNetwork(t *testing.T) {
	require.Equal(t, "unix", Network("/run/haproxy/admin.sock"))
	require.Equal(t, "tcp", Network("127.1.0.1:9999"))
	require.Equal(t, "tcp", Network("[::1]:9999"))
}

func TestRuntimeCommandUnixSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "admin.sock")
	fakeCLI(t, "unix", sock, func(cmd string) string {
		switch cmd {
		case "show servers state be_web":
			return "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_port\n3 be_web 1 n1 127.1.0.10 2 8 8080\n\n"
		case "show servers state be_nope":
			return "Can't find backend.\n"
		}
		return "Unknown command: " + cmd + "\n"
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := ShowServersState(ctx, sock, "be_web")
	require.NoError(t, err)
	require.Len(t, st, 1)
	require.Equal(t, "127.1.0.10:8080", st[0].HostPort())
	require.True(t, st[0].Up() && st[0].Drain())

	_, err = ShowServersState(ctx, sock, "be_nope")
	require.ErrorIs(t, err, ErrUnknownBackend)
	require.False(t, IsConnError(err))

	out, err := RuntimeCommand(ctx, sock, "help me")
	require.NoError(t, err)
	require.Equal(t, "Unknown command: help me\n", out)

	_, err = RuntimeCommand(ctx, sock, "show info\nshow stat")
	require.ErrorContains(t, err, "newline")
}

func TestRuntimeCommandConnErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Nothing listens: refused at once.
	_, err := RuntimeCommand(ctx, filepath.Join(t.TempDir(), "none.sock"), "show info")
	require.True(t, IsConnError(err), "%v", err)
	require.ErrorContains(t, err, "is haproxy running")

	// Accepts but never answers: the context's deadline ends the wait.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	short, cancel2 := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel2()
	start := time.Now()
	_, err = ShowStat(short, ln.Addr().String(), "be_web")
	var ce *ConnError
	require.True(t, errors.As(err, &ce), "%v", err)
	require.Equal(t, "read answer to", ce.Op)
	require.Less(t, time.Since(start), time.Second)
}
