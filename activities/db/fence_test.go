package db

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestFenceDuringLongWrite fences a primary while the app runs a slow
// write, which holds off the global read lock read_only needs.
func TestFenceDuringLongWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two real mariadbd")
	}
	pr := startPair(t)
	ctx := context.Background()
	app := appDB(t, primaryAddr)
	done := make(chan error, 1)
	go func() {
		_, err := app.Exec("INSERT INTO visits (node, site) SELECT 'web-slow', IF(SLEEP(20) = 0, 'test', 'x')")
		done <- err
	}()
	eventually(t, 5*time.Second, "the slow write runs", func() bool {
		var n int
		require.NoError(t, rootDB(t, pr.uk).QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER=? AND INFO LIKE 'INSERT%'", users.AppUser).Scan(&n))
		return n == 1
	})
	start := time.Now()
	f, err := pr.acts.Fence(ctx, FenceInput{Site: "uk", KillSessions: true, AppUser: users.AppUser})
	took := time.Since(start)
	require.NoError(t, err)
	t.Logf("TIMING Fence during a 20s app write: %v, %+v", took, f)
	require.False(t, f.AlreadyFenced)
	require.GreaterOrEqual(t, f.Killed, 1)
	require.Less(t, took, 10*time.Second)
	select {
	case err := <-done:
		require.Error(t, err, "the slow write must be killed, not committed")
	case <-time.After(10 * time.Second):
		t.Fatal("the slow write still runs after the fence")
	}
	require.True(t, status(t, pr.acts, "uk").ReadOnly)
	var n int
	require.NoError(t, rootDB(t, pr.uk).QueryRow("SELECT COUNT(*) FROM mdc_app.visits WHERE node='web-slow'").Scan(&n))
	require.Zero(t, n)
}
