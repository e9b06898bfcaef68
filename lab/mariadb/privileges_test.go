package mariadb

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// changeMaster is the statement mdc uses to (re)point a replica.
func changeMaster(host string, port int) string {
	return fmt.Sprintf("CHANGE MASTER TO MASTER_HOST=%s, MASTER_PORT=%d, MASTER_USER=%s, MASTER_PASSWORD=%s, MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1",
		quoteString(host), port, quoteString(testUsers.ReplUser), quoteString(testUsers.ReplPassword))
}

// appSession opens one app connection to m and returns it with its thread ID.
func appSession(t *testing.T, ctx context.Context, m *MariaDB) (*sql.Conn, int64) {
	t.Helper()
	conn, err := userDB(t, m, testUsers.AppUser, appDB).Conn(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	var id int64
	require.NoError(t, conn.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id))
	return conn, id
}

// appSessionIDs is what an operator sees of the app's sessions.
func appSessionIDs(t *testing.T, db *sql.DB) []int64 {
	t.Helper()
	rows, err := db.Query("SELECT ID FROM information_schema.PROCESSLIST WHERE USER=?", testUsers.AppUser)
	require.NoError(t, err)
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())
	return ids
}

// testAdminUser runs, as the admin user, every statement mdc's activities
// need for monitoring, fencing, promotion and repointing.
func testAdminUser(t *testing.T, ctx context.Context, pr *pair) {
	adminP := userDB(t, pr.primary, testUsers.AdminUser, "")
	adminR := userDB(t, pr.replica, testUsers.AdminUser, "")

	rows, err := adminP.Query("SHOW GRANTS")
	require.NoError(t, err)
	var grants []string
	for rows.Next() {
		var g string
		require.NoError(t, rows.Scan(&g))
		grants = append(grants, g)
	}
	require.NoError(t, rows.Err())
	joined := strings.Join(grants, "\n")
	require.NotContains(t, joined, "SUPER")
	require.NotContains(t, joined, "ALL PRIVILEGES")
	require.NotContains(t, joined, appDB, "no grant on the app database")

	// Monitoring.
	st, err := adminR.Query("SHOW SLAVE STATUS")
	require.NoError(t, err)
	require.True(t, st.Next(), "SHOW SLAVE STATUS has a row at the replica")
	st.Close()
	for _, db := range []*sql.DB{adminP, adminR} {
		var file, pos, doDB, ignoreDB string
		require.NoError(t, db.QueryRow("SHOW MASTER STATUS").Scan(&file, &pos, &doDB, &ignoreDB))
		require.Contains(t, file, "binlog.")
	}
	pos := queryString(t, adminP, "SELECT @@gtid_current_pos")
	require.NotEmpty(t, pos)
	require.Equal(t, "0", queryString(t, adminR, "SELECT MASTER_GTID_WAIT(?, 3)", pos))

	// Fence the primary: read_only ON, then kill the app's sessions.
	appConn, appID := appSession(t, ctx, pr.primary)
	_, err = adminP.Exec("SET GLOBAL read_only=ON")
	require.NoError(t, err)
	ids := appSessionIDs(t, adminP)
	require.Contains(t, ids, appID, "the admin sees the app's sessions")
	for _, id := range ids {
		_, err := adminP.Exec(fmt.Sprintf("KILL CONNECTION %d", id))
		require.NoError(t, err)
	}
	// A killed thread lingers in the processlist until it has unwound.
	eventually(t, 5*time.Second, "the killed app sessions to go", func() bool {
		return appConn.PingContext(ctx) != nil && len(appSessionIDs(t, adminP)) == 0
	})
	_, err = userDB(t, pr.primary, testUsers.AppUser, appDB).Exec("INSERT INTO visits (node, site) VALUES ('web-fenced', 'uk')")
	requireMySQLError(t, err, errReadOnly, "a fenced primary refuses the app")
	// KILL ... USER needs no PROCESS, but is as final.
	_, err = adminP.Exec("KILL CONNECTION USER " + quoteString(testUsers.AppUser))
	require.NoError(t, err)
	_, err = adminP.Exec("SET GLOBAL read_only=OFF")
	require.NoError(t, err)
	insertAndAwait(t, pr, "web-unfenced")

	// Promote-and-repoint at the replica: stop, forget the primary, keep the
	// GTID position, point it back, start.
	for _, s := range []string{"STOP SLAVE", "RESET SLAVE ALL"} {
		_, err = adminR.Exec(s)
		require.NoError(t, err, s)
	}
	slavePos := queryString(t, adminR, "SELECT @@gtid_slave_pos")
	st, err = adminR.Query("SHOW SLAVE STATUS")
	require.NoError(t, err)
	require.False(t, st.Next(), "RESET SLAVE ALL forgot the primary")
	st.Close()
	for _, s := range []string{
		"SET GLOBAL gtid_slave_pos=" + quoteString(slavePos),
		changeMaster("127.41.0.1", 3306),
		"START SLAVE",
	} {
		_, err = adminR.Exec(s)
		require.NoError(t, err, s)
	}
	require.NoError(t, pr.replica.waitReplicating(ctx))
	for _, s := range []string{"STOP SLAVE", "RESET SLAVE", "START SLAVE"} {
		_, err = adminR.Exec(s)
		require.NoError(t, err, s)
	}
	require.NoError(t, pr.replica.waitReplicating(ctx))
	insertAndAwait(t, pr, "web-after-repoint")
	requireGTIDsMatch(t, pr)

	// No access to the app's data.
	for _, db := range []*sql.DB{adminP, adminR} {
		requireMySQLError(t, queryErr(db, "SELECT * FROM mdc_app.visits"), errTableAccessDenied)
		_, err = db.Exec("INSERT INTO mdc_app.visits (node, site) VALUES ('x', 'y')")
		requireMySQLError(t, err, errTableAccessDenied)
	}
}

// testAdminPrivilegesNeeded shows no admin privilege is superfluous: a probe
// user with all but one of them fails the operation that one is for.
func testAdminPrivilegesNeeded(t *testing.T, pr *pair) {
	ctx := context.Background()
	m := pr.replica
	_, appID := appSession(t, ctx, m)
	checks := map[string]func(t *testing.T, db *sql.DB){
		"REPLICA MONITOR": func(t *testing.T, db *sql.DB) {
			err := queryErr(db, "SHOW SLAVE STATUS")
			requireMySQLError(t, err, errSpecificAccessDenied)
			require.ErrorContains(t, err, "SLAVE MONITOR") // REPLICA MONITOR's canonical name
		},
		"BINLOG MONITOR": func(t *testing.T, db *sql.DB) {
			err := queryErr(db, "SHOW MASTER STATUS")
			requireMySQLError(t, err, errSpecificAccessDenied)
			require.ErrorContains(t, err, "BINLOG MONITOR")
		},
		"REPLICATION SLAVE ADMIN": func(t *testing.T, db *sql.DB) {
			_, err := db.Exec("START SLAVE") // already running: a no-op if it were allowed
			requireMySQLError(t, err, errSpecificAccessDenied)
			require.ErrorContains(t, err, "REPLICATION SLAVE ADMIN")
		},
		"RELOAD": func(t *testing.T, db *sql.DB) {
			_, err := db.Exec("RESET SLAVE") // refused while running even if allowed
			requireMySQLError(t, err, errSpecificAccessDenied)
			require.ErrorContains(t, err, "RELOAD")
		},
		"READ_ONLY ADMIN": func(t *testing.T, db *sql.DB) {
			_, err := db.Exec("SET GLOBAL read_only=ON") // already ON
			requireMySQLError(t, err, errSpecificAccessDenied)
			require.ErrorContains(t, err, "READ_ONLY ADMIN")
		},
		"CONNECTION ADMIN": func(t *testing.T, db *sql.DB) {
			_, err := db.Exec(fmt.Sprintf("KILL CONNECTION %d", appID))
			requireMySQLError(t, err, errKillDenied)
		},
		"PROCESS": func(t *testing.T, db *sql.DB) {
			require.Empty(t, appSessionIDs(t, db), "without PROCESS the app's sessions are invisible")
		},
	}
	require.Len(t, checks, len(AdminPrivileges), "one check per granted privilege")
	for _, priv := range AdminPrivileges {
		t.Run(priv, func(t *testing.T) {
			check, ok := checks[priv]
			require.True(t, ok, "no check for %s", priv)
			probe := "probe_" + strings.NewReplacer(" ", "_").Replace(strings.ToLower(priv))
			rest := slices.DeleteFunc(slices.Clone(AdminPrivileges), func(p string) bool { return p == priv })
			noBinlogExec(t, m,
				"CREATE OR REPLACE USER "+account(probe)+" IDENTIFIED BY 'probe-pw'",
				"GRANT "+strings.Join(rest, ", ")+" ON *.* TO "+account(probe))
			t.Cleanup(func() { noBinlogExec(t, m, "DROP USER IF EXISTS "+account(probe)) })
			check(t, openDB(t, DSN(probe, "probe-pw", m.Addr(), "")))
		})
	}
	// The things that need no privilege at all.
	noBinlogExec(t, m, "CREATE OR REPLACE USER "+account("probe_none")+" IDENTIFIED BY 'probe-pw'")
	t.Cleanup(func() { noBinlogExec(t, m, "DROP USER IF EXISTS "+account("probe_none")) })
	none := openDB(t, DSN("probe_none", "probe-pw", m.Addr(), ""))
	pos := queryString(t, none, "SELECT @@gtid_current_pos")
	require.NotEmpty(t, pos)
	require.Equal(t, "0", queryString(t, none, "SELECT MASTER_GTID_WAIT(?, 1)", pos))
	// And the sessions mdc kills are the app's, which the admin sees.
	require.Contains(t, appSessionIDs(t, userDB(t, m, testUsers.AdminUser, "")), appID)
	requireGTIDsMatch(t, pr) // the probes added no GTIDs
}
