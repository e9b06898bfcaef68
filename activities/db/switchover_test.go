package db

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"
)

const errReadOnly = 1290 // the server is running with --read-only

// TestSwitchover moves the primary uk -> us the way FailoverSite's planned
// mode does, checking each step against the real servers, then switches
// back and forth a few more times to measure each operation.
func TestSwitchover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two real mariadbd")
	}
	pr := startPair(t)
	ctx := context.Background()
	acts := pr.acts

	// Rows the app writes at the primary reach the replica.
	first := insertVisit(t, primaryAddr, "web-1")
	uk := status(t, acts, "uk")
	require.Equal(t, RolePrimary, uk.Role)
	require.False(t, uk.ReadOnly)
	w, err := acts.WaitForGTID(ctx, WaitForGTIDInput{Site: "us", GTID: uk.GTIDBinlogPos, Timeout: 10 * time.Second})
	require.NoError(t, err)
	require.Equal(t, uk.GTIDBinlogPos, w.GTIDSlavePos)
	require.True(t, hasVisit(t, replicaAddr, first), "row written at uk must be at us")
	us := status(t, acts, "us")
	require.Equal(t, RoleReplica, us.Role)
	require.True(t, us.ReadOnly && us.IORunning && us.SQLRunning)
	require.Equal(t, "uk", us.MasterSite)
	require.Equal(t, "127.43.0.1", us.MasterHost)
	require.NotNil(t, us.SecondsBehindMaster)
	w, err = acts.WaitForGTID(ctx, WaitForGTIDInput{Site: "us", GTID: uk.GTIDBinlogPos})
	require.NoError(t, err)
	require.True(t, w.AlreadyApplied, "second wait: nothing left to wait for")

	wc, err := acts.WriteCheck(ctx, WriteCheckInput{Site: "uk"})
	require.NoError(t, err)
	require.True(t, wc.Writable, wc.Reason)
	wc, err = acts.WriteCheck(ctx, WriteCheckInput{Site: "us"})
	require.NoError(t, err)
	require.False(t, wc.Writable)
	require.True(t, wc.ReadOnly && wc.Replicating, wc.Reason)

	// A web node holds a session in an open transaction at uk.
	app := appDB(t, primaryAddr)
	tx, err := app.BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = tx.Exec("INSERT INTO visits (node, site) VALUES ('web-in-flight', 'test')")
	require.NoError(t, err)

	switchStart := time.Now()
	f, err := acts.Fence(ctx, FenceInput{Site: "uk", KillSessions: true, AppUser: users.AppUser})
	require.NoError(t, err)
	require.False(t, f.AlreadyFenced)
	require.GreaterOrEqual(t, f.Killed, 1, "the web node's session must be killed")
	require.Error(t, tx.Commit(), "the killed session's transaction must not commit")
	fresh := appDB(t, primaryAddr)
	_, err = fresh.Exec("INSERT INTO visits (node, site) VALUES ('web-after-fence', 'test')")
	var me *mysql.MySQLError
	require.True(t, errors.As(err, &me) && me.Number == errReadOnly, "app write at a fenced primary: want read-only error, got %v", err)
	fresh.Close()
	app.Close()
	eventually(t, 5*time.Second, "no app sessions at uk", func() bool {
		var n int
		require.NoError(t, rootDB(t, pr.uk).QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER=?", users.AppUser).Scan(&n))
		return n == 0
	})
	f, err = acts.Fence(ctx, FenceInput{Site: "uk", KillSessions: true, AppUser: users.AppUser})
	require.NoError(t, err)
	require.Equal(t, FenceResult{AlreadyFenced: true, Killed: 0}, f, "second fence: nothing left to do")

	// The replica catches up with the fenced primary and is promoted.
	uk = status(t, acts, "uk")
	_, err = acts.WaitForGTID(ctx, WaitForGTIDInput{Site: "us", GTID: uk.GTIDBinlogPos, Timeout: 10 * time.Second})
	require.NoError(t, err)
	p, err := acts.Promote(ctx, PromoteInput{Site: "us", MaxLag: time.Second, PrimaryGTID: uk.GTIDBinlogPos})
	require.NoError(t, err)
	require.False(t, p.AlreadyPrimary)
	require.Equal(t, LagCaughtUp, p.LagSource)
	require.Zero(t, p.LagSeconds)
	require.Zero(t, p.MissingTransactions)
	require.Equal(t, uk.GTIDBinlogPos, p.GTID, "no data lost: the new primary has everything uk had")
	require.Equal(t, countVisits(t, primaryAddr), countVisits(t, replicaAddr))
	p, err = acts.Promote(ctx, PromoteInput{Site: "us", MaxLag: time.Second})
	require.NoError(t, err)
	require.True(t, p.AlreadyPrimary, "second promote: nothing left to do")
	onUS := insertVisit(t, replicaAddr, "web-us-1")

	// The old primary follows the new one.
	r, err := acts.Repoint(ctx, RepointInput{Site: "uk", PrimarySite: "us"})
	require.NoError(t, err)
	require.True(t, r.Changed)
	switchTook := time.Since(switchStart)
	r, err = acts.Repoint(ctx, RepointInput{Site: "uk", PrimarySite: "us"})
	require.NoError(t, err)
	require.False(t, r.Changed, "second repoint: nothing left to do")
	us = status(t, acts, "us")
	require.Equal(t, RolePrimary, us.Role)
	_, err = acts.WaitForGTID(ctx, WaitForGTIDInput{Site: "uk", GTID: us.GTIDBinlogPos, Timeout: 10 * time.Second})
	require.NoError(t, err)
	require.True(t, hasVisit(t, primaryAddr, onUS), "row written at the new primary must reach the old one")
	uk = requireUnchangedReplica(t, acts, "uk", "us")
	require.True(t, uk.IORunning && uk.SQLRunning)
	t.Logf("TIMING full switchover uk->us (Fence, WaitForGTID, Promote, Repoint, with status reads): %v", switchTook.Round(time.Millisecond))

	// More switchovers, back and forth, with a write each time, to time
	// the operations when they have real work to do.
	var fence, wait, promote, repoint, total []time.Duration
	from, to := "us", "uk"
	addr := map[string]string{"uk": primaryAddr, "us": replicaAddr}
	for i := range 6 {
		id := insertVisit(t, addr[from], fmt.Sprintf("web-%s-%d", from, i))
		t0 := time.Now()
		_, err := acts.Fence(ctx, FenceInput{Site: from, KillSessions: true, AppUser: users.AppUser})
		require.NoError(t, err)
		t1 := time.Now()
		st, err := acts.ReplicationStatus(ctx, ReplicationStatusInput{Site: from})
		require.NoError(t, err)
		t2 := time.Now()
		_, err = acts.WaitForGTID(ctx, WaitForGTIDInput{Site: to, GTID: st.GTIDBinlogPos, Timeout: 10 * time.Second})
		require.NoError(t, err)
		t3 := time.Now()
		p, err := acts.Promote(ctx, PromoteInput{Site: to, MaxLag: time.Second})
		require.NoError(t, err)
		require.Equal(t, LagCaughtUp, p.LagSource)
		t4 := time.Now()
		_, err = acts.Repoint(ctx, RepointInput{Site: from, PrimarySite: to})
		require.NoError(t, err)
		t5 := time.Now()
		fence, wait, promote, repoint = append(fence, t1.Sub(t0)), append(wait, t3.Sub(t2)), append(promote, t4.Sub(t3)), append(repoint, t5.Sub(t4))
		total = append(total, t5.Sub(t0))
		require.True(t, hasVisit(t, addr[to], id))
		from, to = to, from
	}
	t.Logf("TIMING median over 6 switchovers: Fence %v, WaitForGTID %v, Promote %v, Repoint %v, whole switchover %v",
		median(fence), median(wait), median(promote), median(repoint), median(total))
	final := insertVisit(t, addr[from], "web-final")
	st := status(t, acts, from)
	_, err = acts.WaitForGTID(ctx, WaitForGTIDInput{Site: to, GTID: st.GTIDBinlogPos, Timeout: 10 * time.Second})
	require.NoError(t, err)
	require.True(t, hasVisit(t, addr[to], final))
	require.Equal(t, countVisits(t, addr[from]), countVisits(t, addr[to]))
}
