package mariadb

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// pair is a primary and its replica, replaced when a subtest restarts one.
type pair struct {
	primary, replica       *MariaDB
	primaryDir, replicaDir string
}

func startInstance(t *testing.T, ctx context.Context, dir, addr string, id uint32) (*MariaDB, time.Duration) {
	t.Helper()
	start := time.Now()
	m, err := Start(ctx, testOptions(dir, addr, id))
	require.NoError(t, err)
	return m, time.Since(start)
}

// TestPrimaryReplica runs a real primary on 127.41.0.1 and a real replica on
// 127.42.0.1, then checks replication, accounts, idempotency and restarts.
// The subtests share the pair, in order.
func TestPrimaryReplica(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two real mariadbd")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	base := t.TempDir()
	pr := &pair{primaryDir: filepath.Join(base, "p"), replicaDir: filepath.Join(base, "r")}
	t.Cleanup(func() {
		for _, m := range []*MariaDB{pr.primary, pr.replica} {
			if m != nil {
				m.Kill()
			}
		}
	})
	var initP, initR time.Duration
	pr.primary, initP = startInstance(t, ctx, pr.primaryDir, primaryAddr, 1)
	pr.replica, initR = startInstance(t, ctx, pr.replicaDir, replicaAddr, 2)
	t.Logf("TIMING fresh datadir init+start: primary %v, replica %v", initP, initR)

	require.NoError(t, pr.primary.MakePrimary(ctx))
	require.NoError(t, pr.replica.MakeReplicaOf(ctx, primaryAddr, testUsers.ReplUser, testUsers.ReplPassword))

	t.Run("app writes and GTIDs replicate", func(t *testing.T) { testReplicates(t, pr) })
	t.Run("app user", func(t *testing.T) { testAppUser(t, pr) })
	t.Run("repl user", func(t *testing.T) { testReplUser(t, pr) })
	t.Run("admin user runs every operation", func(t *testing.T) { testAdminUser(t, ctx, pr) })
	t.Run("each admin privilege is needed", func(t *testing.T) { testAdminPrivilegesNeeded(t, pr) })
	t.Run("idempotent", func(t *testing.T) { testIdempotent(t, ctx, pr) })
	t.Run("wrong passwords", func(t *testing.T) { testWrongPasswords(t, ctx, pr) })
	t.Run("primary down", func(t *testing.T) { testPrimaryDown(t, ctx, pr) })
	t.Run("restart keeps data and replication resumes", func(t *testing.T) { testRestart(t, ctx, pr) })
	t.Run("the old primary becomes a replica of the promoted one", func(t *testing.T) { testSwitchover(t, ctx, pr) })
}

// insertAndAwait inserts a visit at the primary as the app user and waits
// until the replica has it; it returns the replication latency.
func insertAndAwait(t *testing.T, pr *pair, node string) time.Duration {
	t.Helper()
	app := userDB(t, pr.primary, testUsers.AppUser, appDB)
	res, err := app.Exec("INSERT INTO visits (node, site) VALUES (?, 'uk')", node)
	require.NoError(t, err)
	id, err := res.LastInsertId()
	require.NoError(t, err)
	replicaApp := userDB(t, pr.replica, testUsers.AppUser, appDB)
	return eventually(t, 10*time.Second, fmt.Sprintf("row %d (%s) at the replica", id, node), func() bool {
		var got string
		err := replicaApp.QueryRow("SELECT node FROM visits WHERE id=?", id).Scan(&got)
		return err == nil && got == node
	})
}

// requireGTIDsMatch waits until the replica has applied everything the
// primary binlogged, and checks the two GTID states agree.
func requireGTIDsMatch(t *testing.T, pr *pair) {
	t.Helper()
	p, r := rootDB(t, pr.primary), rootDB(t, pr.replica)
	want := queryString(t, p, "SELECT @@gtid_current_pos")
	require.NotEmpty(t, want)
	eventually(t, 10*time.Second, "replica gtid_slave_pos = primary gtid_current_pos "+want, func() bool {
		return queryString(t, r, "SELECT @@gtid_slave_pos") == want
	})
	require.Equal(t, want, queryString(t, r, "SELECT @@gtid_current_pos"))
	require.Equal(t, want, queryString(t, p, "SELECT @@gtid_binlog_pos"))
}

func testReplicates(t *testing.T, pr *pair) {
	latency := insertAndAwait(t, pr, "web-1")
	t.Logf("TIMING replication latency of one row (insert returned -> visible at replica): %v", latency)
	requireGTIDsMatch(t, pr)
	// The users and database were not binlogged, so the only GTIDs are the
	// CREATE TABLE and the insert, all from server 1.
	require.Equal(t, "0-1-2", queryString(t, rootDB(t, pr.primary), "SELECT @@gtid_current_pos"))
	require.Equal(t, "1", queryString(t, rootDB(t, pr.replica), "SELECT @@read_only"))
	require.Equal(t, "0", queryString(t, rootDB(t, pr.primary), "SELECT @@read_only"))
	for _, other := range []string{"127.41.0.2:3306", "127.42.0.2:3306"} {
		c, err := net.DialTimeout("tcp", other, time.Second)
		if err == nil {
			c.Close()
		}
		require.Error(t, err, "mariadbd binds its Addr only, not %s", other)
	}
}

func testAppUser(t *testing.T, pr *pair) {
	app := userDB(t, pr.primary, testUsers.AppUser, appDB)
	onReplica := userDB(t, pr.replica, testUsers.AppUser, appDB)

	_, err := onReplica.Exec("INSERT INTO visits (node, site) VALUES ('web-x', 'us')")
	requireMySQLError(t, err, errReadOnly, "the replica is read_only")
	_, err = onReplica.Exec("SET GLOBAL read_only=OFF")
	requireMySQLError(t, err, errSpecificAccessDenied, "the app cannot unfence")
	require.NotEmpty(t, queryString(t, onReplica, "SELECT COUNT(*) FROM visits"), "reads at the replica work")

	_, err = app.Exec("UPDATE visits SET site='uk' WHERE id=1")
	require.NoError(t, err)
	_, err = app.Exec("DELETE FROM visits WHERE id=-1")
	require.NoError(t, err)
	requireMySQLError(t, queryErr(app, "SELECT user FROM mysql.user"), errTableAccessDenied)
	_, err = app.Exec("CREATE TABLE mdc_app.other (id int)")
	requireMySQLError(t, err, errTableAccessDenied, "no DDL in its database")
	_, err = app.Exec("DROP TABLE visits")
	requireMySQLError(t, err, errTableAccessDenied)
	_, err = app.Exec("CREATE DATABASE other")
	requireMySQLError(t, err, errDBAccessDenied)
	_, err = app.Exec("USE mysql")
	requireMySQLError(t, err, errDBAccessDenied)
	requireMySQLError(t, queryErr(app, "SHOW MASTER STATUS"), errSpecificAccessDenied)
}

func testReplUser(t *testing.T, pr *pair) {
	repl := userDB(t, pr.primary, testUsers.ReplUser, "")
	requireMySQLError(t, queryErr(repl, "SELECT * FROM mdc_app.visits"), errTableAccessDenied)
	_, err := repl.Exec("INSERT INTO mdc_app.visits (node, site) VALUES ('x', 'y')")
	requireMySQLError(t, err, errTableAccessDenied)
	requireMySQLError(t, queryErr(repl, "SHOW SLAVE STATUS"), errSpecificAccessDenied)
}

func testIdempotent(t *testing.T, ctx context.Context, pr *pair) {
	r := rootDB(t, pr.replica)
	threadsBefore := queryString(t, r, "SELECT GROUP_CONCAT(ID ORDER BY ID) FROM information_schema.PROCESSLIST WHERE COMMAND='Slave_IO'")
	require.NotEmpty(t, threadsBefore)
	for range 2 {
		require.NoError(t, pr.replica.MakeReplicaOf(ctx, primaryAddr, testUsers.ReplUser, testUsers.ReplPassword))
	}
	require.Equal(t, threadsBefore, queryString(t, r, "SELECT GROUP_CONCAT(ID ORDER BY ID) FROM information_schema.PROCESSLIST WHERE COMMAND='Slave_IO'"),
		"a repeated MakeReplicaOf must not restart replication")

	gtidBefore := queryString(t, rootDB(t, pr.primary), "SELECT @@gtid_current_pos")
	for range 2 {
		require.NoError(t, pr.primary.MakePrimary(ctx))
		require.NoError(t, pr.primary.EnsureAppSchema(ctx))
	}
	require.Equal(t, gtidBefore, queryString(t, rootDB(t, pr.primary), "SELECT @@gtid_current_pos"),
		"a repeated MakePrimary must not binlog anything")

	err := pr.replica.MakePrimary(ctx)
	require.ErrorContains(t, err, "still replicating from 127.41.0.1:3306")
	require.Equal(t, "1", queryString(t, r, "SELECT @@read_only"), "a refused MakePrimary leaves the replica fenced")
	insertAndAwait(t, pr, "web-idempotent")
}

func testWrongPasswords(t *testing.T, ctx context.Context, pr *pair) {
	const wrong = "wrong-Secret-Zq9"
	db := openDB(t, DSN(testUsers.AppUser, wrong, primaryAddr, appDB))
	err := db.Ping()
	requireMySQLError(t, err, errAccessDenied)
	require.ErrorContains(t, err, "Access denied for user 'mdc_web'")
	require.NotContains(t, err.Error(), wrong)

	ioThread := func() string {
		return queryString(t, rootDB(t, pr.replica), "SELECT GROUP_CONCAT(ID) FROM information_schema.PROCESSLIST WHERE COMMAND='Slave_IO'")
	}
	before := ioThread()
	err = pr.replica.MakeReplicaOf(ctx, primaryAddr, testUsers.ReplUser, wrong)
	require.ErrorContains(t, err, "refused replication user \"mdc_repl\"")
	require.ErrorContains(t, err, "Access denied for user 'mdc_repl'")
	require.NotContains(t, err.Error(), wrong)
	require.NotContains(t, err.Error(), testUsers.ReplPassword)
	require.Equal(t, before, ioThread(), "refused credentials leave running replication alone")
	insertAndAwait(t, pr, "web-after-bad-password")
}

func testPrimaryDown(t *testing.T, ctx context.Context, pr *pair) {
	// Nothing listens there: the threads keep connecting until the deadline.
	short, cancel := context.WithTimeout(ctx, 4*time.Second)
	defer cancel()
	err := pr.replica.MakeReplicaOf(short, "127.41.0.99:3306", testUsers.ReplUser, testUsers.ReplPassword)
	require.ErrorContains(t, err, "replication from 127.41.0.99:3306 not running after waiting")
	require.ErrorContains(t, err, "Slave_IO_Running=Connecting")
	require.ErrorContains(t, err, "error connecting to master 'mdc_repl@127.41.0.99:3306'")
	require.NotContains(t, err.Error(), testUsers.ReplPassword)

	// Pointing it back at the real primary resumes from its GTID position.
	require.NoError(t, pr.replica.MakeReplicaOf(ctx, primaryAddr, testUsers.ReplUser, testUsers.ReplPassword))
	insertAndAwait(t, pr, "web-after-repoint")
	requireGTIDsMatch(t, pr)
}

func testRestart(t *testing.T, ctx context.Context, pr *pair) {
	countAt := func(m *MariaDB) string {
		return queryString(t, rootDB(t, m), "SELECT COUNT(*) FROM mdc_app.visits")
	}
	before := countAt(pr.primary)

	// Replica: clean stop; the primary takes a write meanwhile.
	replicaPID := pr.replica.PID()
	require.NoError(t, pr.replica.Stop())
	_, err := userDB(t, pr.primary, testUsers.AppUser, appDB).Exec("INSERT INTO visits (node, site) VALUES ('web-while-down', 'uk')")
	require.NoError(t, err)
	var took time.Duration
	pr.replica, took = startInstance(t, ctx, pr.replicaDir, replicaAddr, 2)
	t.Logf("TIMING start of an existing datadir (replica, after clean stop): %v", took)
	require.NotEqual(t, replicaPID, pr.replica.PID())
	require.Equal(t, "1", queryString(t, rootDB(t, pr.replica), "SELECT @@read_only"))
	// No MakeReplicaOf: the replica resumes by itself from its saved position.
	requireGTIDsMatch(t, pr)
	require.NoError(t, pr.replica.waitReplicating(ctx))

	// Primary: crash (SIGKILL); it comes back fenced until MakePrimary.
	pr.primary.Kill()
	pr.primary, took = startInstance(t, ctx, pr.primaryDir, primaryAddr, 1)
	t.Logf("TIMING start of an existing datadir (primary, after SIGKILL, crash recovery): %v", took)
	require.Equal(t, "1", queryString(t, rootDB(t, pr.primary), "SELECT @@read_only"), "a restarted primary stays fenced")
	_, err = userDB(t, pr.primary, testUsers.AppUser, appDB).Exec("INSERT INTO visits (node, site) VALUES ('web-fenced', 'uk')")
	requireMySQLError(t, err, errReadOnly)
	require.NoError(t, pr.primary.MakePrimary(ctx))
	insertAndAwait(t, pr, "web-after-restart")
	requireGTIDsMatch(t, pr)

	var n int
	require.NoError(t, rootDB(t, pr.replica).QueryRow("SELECT COUNT(*) FROM mdc_app.visits").Scan(&n))
	require.Equal(t, fmt.Sprint(n), countAt(pr.primary))
	require.Equal(t, mustAtoi(t, before)+2, n, "rows from before, while the replica was down, and after the restart")
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	_, err := fmt.Sscan(s, &n)
	require.NoError(t, err)
	return n
}

// testSwitchover promotes the replica the way mdc does (as the admin user)
// and demotes the old primary with MakeReplicaOf, which must not re-apply
// the old primary's own transactions.
func testSwitchover(t *testing.T, ctx context.Context, pr *pair) {
	oldPrimary := userDB(t, pr.primary, testUsers.AdminUser, "")
	_, err := oldPrimary.Exec("SET GLOBAL read_only=ON")
	require.NoError(t, err)
	requireGTIDsMatch(t, pr)
	admin := userDB(t, pr.replica, testUsers.AdminUser, "")
	for _, s := range []string{"STOP SLAVE", "RESET SLAVE ALL", "SET GLOBAL read_only=OFF"} {
		_, err := admin.Exec(s)
		require.NoError(t, err, s)
	}
	require.NoError(t, pr.replica.MakePrimary(ctx), "idempotent on a promoted replica")
	require.NoError(t, pr.primary.MakeReplicaOf(ctx, replicaAddr, testUsers.ReplUser, testUsers.ReplPassword))

	pr.primary, pr.replica = pr.replica, pr.primary
	pr.primaryDir, pr.replicaDir = pr.replicaDir, pr.primaryDir
	insertAndAwait(t, pr, "web-after-switchover")
	requireGTIDsMatch(t, pr)
	require.Contains(t, queryString(t, rootDB(t, pr.primary), "SELECT @@gtid_current_pos"), "0-2-",
		"the new primary's writes carry its server ID")
	require.NoError(t, pr.replica.waitReplicating(ctx))
}
