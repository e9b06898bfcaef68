package proc

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestStopEndsTheWholeProcessGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "grandchild.pid")
	// A shell that starts a grandchild and ignores SIGTERM itself: Stop
	// must still leave nothing behind.
	p, err := Start("sh", filepath.Join(dir, "log"), nil, "sh", "-c",
		"trap '' TERM; sleep 300 & echo $! > "+pidFile+"; wait")
	require.NoError(t, err)
	var grandchild int
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(pidFile)
		if err != nil {
			return false
		}
		grandchild, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	}, 5*time.Second, 10*time.Millisecond)

	t0 := time.Now()
	require.NoError(t, p.Stop(300*time.Millisecond))
	require.Less(t, time.Since(t0), 3*time.Second)
	require.False(t, p.Running())
	require.Eventually(t, func() bool { return syscall.Kill(grandchild, 0) != nil || isZombie(grandchild) },
		3*time.Second, 10*time.Millisecond, "grandchild %d outlived Stop", grandchild)
}

func isZombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] == "Z"
}

func TestWaitTCPReportsAnEarlyExitWithTheLogTail(t *testing.T) {
	dir := t.TempDir()
	p, err := Start("failing", filepath.Join(dir, "log"), nil, "sh", "-c", "echo 'bind: address in use' >&2; exit 3")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = p.WaitTCP(ctx, "127.0.0.1:1")
	require.Error(t, err)
	require.Contains(t, err.Error(), "failing exited before listening on 127.0.0.1:1")
	require.Contains(t, err.Error(), "bind: address in use")
}

func TestStartNamesAMissingBinary(t *testing.T) {
	_, err := Start("ghost", filepath.Join(t.TempDir(), "log"), nil, "no-such-binary-mdc")
	require.Error(t, err)
	require.Contains(t, err.Error(), "no-such-binary-mdc not found")
}
