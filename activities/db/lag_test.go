package db

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/apperrors"
)

// sqlIdleMS is how long the replica's SQL thread has been in its state.
func sqlIdleMS(t *testing.T, pr *pair) float64 {
	t.Helper()
	var ms float64
	require.NoError(t, rootDB(t, pr.us).QueryRow(
		"SELECT TIME_MS FROM information_schema.PROCESSLIST WHERE COMMAND='Slave_SQL'").Scan(&ms))
	return ms
}

// TestPromoteRefusesLag makes the replica lag behind a fenced primary in
// the two ways the lag can be measured, checks Promote refuses and changes
// nothing, then forces it and checks the data loss it reports is real.
func TestPromoteRefusesLag(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two real mariadbd")
	}
	pr := startPair(t)
	ctx := context.Background()
	acts := pr.acts
	ukRoot, usRoot := rootDB(t, pr.uk), rootDB(t, pr.us)

	// 1. The SQL thread is stopped: the replica receives but does not apply.
	mustExec(t, usRoot, "STOP SLAVE SQL_THREAD")
	insertVisit(t, primaryAddr, "web-unapplied")
	uk := status(t, acts, "uk")
	eventually(t, 10*time.Second, "us receives uk's write", func() bool {
		return status(t, acts, "us").GTIDIOPos == uk.GTIDBinlogPos
	})
	_, err := acts.Fence(ctx, FenceInput{Site: "uk", KillSessions: true, AppUser: users.AppUser})
	require.NoError(t, err)
	before := requireUnchangedReplica(t, acts, "us", "uk")
	_, err = acts.Promote(ctx, PromoteInput{Site: "us", MaxLag: 500 * time.Millisecond})
	ae := requireAppErr(t, err, apperrors.TypeReplicaLag)
	require.False(t, ae.NonRetryable() == false, "a lag refusal is not retried")
	require.Equal(t, -1.0, lagDetail(t, ae), "the age of unapplied transactions cannot be measured")
	require.Contains(t, err.Error(), "1 transactions missing")
	require.Contains(t, err.Error(), "SQL thread is stopped")
	after := requireUnchangedReplica(t, acts, "us", "uk")
	require.Equal(t, before.GTIDSlavePos, after.GTIDSlavePos)
	require.False(t, after.SQLRunning, "Promote must not restart a stopped SQL thread")
	require.True(t, after.IORunning)

	// 2. A delayed replica (MASTER_DELAY) has received the transaction, so
	// promoting it loses nothing (lag caught-up), but applying its relay
	// log takes longer than the activity may run: a retryable Timeout, and
	// replication is left as it was.
	mustExec(t, usRoot, "STOP SLAVE")
	mustExec(t, usRoot, "CHANGE MASTER TO MASTER_DELAY=30")
	mustExec(t, usRoot, "START SLAVE")
	eventually(t, 10*time.Second, "us 1s behind", func() bool {
		sbm := status(t, acts, "us").SecondsBehindMaster
		return sbm != nil && *sbm >= 1
	})
	short, cancel := context.WithTimeout(ctx, 4*time.Second)
	defer cancel()
	start := time.Now()
	_, err = acts.Promote(short, PromoteInput{Site: "us", MaxLag: 500 * time.Millisecond})
	requireAppErr(t, err, apperrors.TypeTimeout)
	require.Less(t, time.Since(start), 4*time.Second, "the activity reports before its deadline")
	require.ErrorContains(t, err, "did not apply its relay log")
	after = requireUnchangedReplica(t, acts, "us", "uk")
	require.Equal(t, before.GTIDSlavePos, after.GTIDSlavePos)
	eventually(t, 5*time.Second, "the IO thread Promote stopped to drain runs again", func() bool {
		st := status(t, acts, "us")
		return st.IORunning && st.SQLRunning
	})
	mustExec(t, usRoot, "STOP SLAVE")
	mustExec(t, usRoot, "CHANGE MASTER TO MASTER_DELAY=0")

	// 3. The IO thread is stopped: the replica applied all it got, and the
	// primary has a transaction more. The lag is the replica's idle time.
	mustExec(t, usRoot, "START SLAVE")
	_, err = acts.WaitForGTID(ctx, WaitForGTIDInput{Site: "us", GTID: uk.GTIDBinlogPos, Timeout: 10 * time.Second})
	require.NoError(t, err)
	mustExec(t, usRoot, "STOP SLAVE IO_THREAD")
	// The primary is fenced; root writes past read_only, as a SUPER user could.
	mustExec(t, ukRoot, "INSERT INTO mdc_app.visits (node, site) VALUES ('root-unreceived', 'test')")
	eventually(t, 10*time.Second, "us idle for more than 700ms", func() bool { return sqlIdleMS(t, pr) > 700 })
	before = requireUnchangedReplica(t, acts, "us", "uk")
	_, err = acts.Promote(ctx, PromoteInput{Site: "us", MaxLag: 500 * time.Millisecond})
	ae = requireAppErr(t, err, apperrors.TypeReplicaLag)
	lag := lagDetail(t, ae)
	require.Greater(t, lag, 0.5)
	require.Less(t, lag, 30.0)
	after = requireUnchangedReplica(t, acts, "us", "uk")
	require.Equal(t, before.GTIDSlavePos, after.GTIDSlavePos)
	require.Equal(t, "No", after.IOState, "a refused Promote leaves the threads as they were")
	require.True(t, after.SQLRunning)
	wc, err := acts.WriteCheck(ctx, WriteCheckInput{Site: "us"})
	require.NoError(t, err)
	require.False(t, wc.Writable)

	// 4. Force: promoted, and the lag and the lost transaction are reported.
	p, err := acts.Promote(ctx, PromoteInput{Site: "us", MaxLag: 500 * time.Millisecond, Force: true})
	require.NoError(t, err)
	require.False(t, p.AlreadyPrimary)
	require.Equal(t, LagIdleTime, p.LagSource)
	require.Greater(t, p.LagSeconds, 0.5)
	require.EqualValues(t, 1, p.MissingTransactions)
	t.Logf("forced promotion: lag %.3fs (%s), %d transaction lost", p.LagSeconds, p.LagSource, p.MissingTransactions)
	us := status(t, acts, "us")
	require.Equal(t, RolePrimary, us.Role)
	require.Equal(t, countVisits(t, primaryAddr)-1, countVisits(t, replicaAddr), "exactly the unreceived row is lost")
	insertVisit(t, replicaAddr, "web-after-forced-promotion")

	// The old primary has a transaction the new one lacks: repointing it
	// must fail instead of silently diverging.
	_, err = acts.Repoint(ctx, RepointInput{Site: "uk", PrimarySite: "us"})
	requireAppErr(t, err, apperrors.TypeRejected)
	require.True(t, strings.Contains(err.Error(), "rebuild"), err.Error())
}

// TestDisaster kills the primary, then promotes the replica with the
// primary's last known position, and brings the old primary back as a
// replica of the new one.
func TestDisaster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two real mariadbd")
	}
	pr := startPair(t)
	ctx := context.Background()
	acts := pr.acts
	for _, n := range []string{"web-1", "web-2", "web-3"} {
		insertVisit(t, primaryAddr, n)
	}
	last := status(t, acts, "uk").GTIDBinlogPos // what the workflow saw last
	_, err := acts.WaitForGTID(ctx, WaitForGTIDInput{Site: "us", GTID: last, Timeout: 10 * time.Second})
	require.NoError(t, err)

	pr.uk.Kill()
	start := time.Now()
	_, err = acts.Fence(ctx, FenceInput{Site: "uk", KillSessions: true, AppUser: users.AppUser})
	requireAppErr(t, err, apperrors.TypeUnavailable)
	require.Less(t, time.Since(start), 3*time.Second, "a dead site must fail fast")
	eventually(t, 15*time.Second, "us notices uk is gone", func() bool { return !status(t, acts, "us").IORunning })
	us := status(t, acts, "us")
	require.NotEmpty(t, us.LastIOError)
	require.Nil(t, us.SecondsBehindMaster)

	// Without PrimaryGTID nothing can be counted: the lag is the idle time.
	eventually(t, 10*time.Second, "us idle for more than 300ms", func() bool { return sqlIdleMS(t, pr) > 300 })
	_, err = acts.Promote(ctx, PromoteInput{Site: "us", MaxLag: 200 * time.Millisecond})
	ae := requireAppErr(t, err, apperrors.TypeReplicaLag)
	require.Greater(t, lagDetail(t, ae), 0.2)
	requireUnchangedReplica(t, acts, "us", "uk")

	// The workflow believes uk had one transaction more than us applied.
	_, err = acts.Promote(ctx, PromoteInput{Site: "us", MaxLag: 200 * time.Millisecond, PrimaryGTID: bumpGTID(t, last, 1)})
	ae = requireAppErr(t, err, apperrors.TypeReplicaLag)
	require.Greater(t, lagDetail(t, ae), 0.2)
	requireUnchangedReplica(t, acts, "us", "uk")

	// With the position it really had, nothing is missing.
	p, err := acts.Promote(ctx, PromoteInput{Site: "us", MaxLag: 200 * time.Millisecond, PrimaryGTID: last})
	require.NoError(t, err)
	require.Equal(t, LagCaughtUp, p.LagSource)
	require.Zero(t, p.LagSeconds)
	require.Zero(t, p.MissingTransactions)
	require.Equal(t, []string{"uk"}, p.UncheckedPeers)
	require.Equal(t, last, p.GTID)
	require.Equal(t, 3, countVisits(t, replicaAddr))
	id := insertVisit(t, replicaAddr, "web-us-after-disaster")

	// uk comes back fenced (every instance starts read_only) and follows us.
	uk, err := startServer(ctx, pr.ukDir, primaryAddr, 1)
	require.NoError(t, err)
	pr.uk = uk
	st := status(t, acts, "uk")
	require.Equal(t, RoleNone, st.Role, "a restarted old primary is fenced")
	r, err := acts.Repoint(ctx, RepointInput{Site: "uk", PrimarySite: "us"})
	require.NoError(t, err)
	require.True(t, r.Changed)
	_, err = acts.WaitForGTID(ctx, WaitForGTIDInput{Site: "uk", GTID: status(t, acts, "us").GTIDBinlogPos, Timeout: 10 * time.Second})
	require.NoError(t, err)
	require.True(t, hasVisit(t, primaryAddr, id))
}
