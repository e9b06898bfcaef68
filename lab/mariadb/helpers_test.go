package mariadb

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"
)

// The tests use lab address-plan Base 41/42: site 0's infrastructure IP is
// 127.41.0.1, site 1's 127.42.0.1, MariaDB on DBPort 3306.
const (
	primaryAddr = "127.41.0.1:3306"
	replicaAddr = "127.42.0.1:3306"
	appDB       = "mdc_app"
)

// testUsers' passwords contain quotes and backslashes to prove the SQL
// quoting, and "Secret" so tests can check no message leaks one.
var testUsers = Users{
	AdminUser: "mdc_admin", AdminPassword: `admin-Secret-'1\`,
	AppUser: "mdc_web", AppPassword: `app-Secret-"2'`,
	ReplUser: "mdc_repl", ReplPassword: `repl-Secret-\3'`,
}

func testOptions(dir, addr string, id uint32) Options {
	return Options{Dir: dir, Addr: addr, ServerID: id, Database: appDB, Users: testUsers}
}

// openDB opens a pool for dsn that the test closes.
func openDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// userDB opens a pool as user (password from testUsers) to m over TCP.
func userDB(t *testing.T, m *MariaDB, user, database string) *sql.DB {
	t.Helper()
	pw := map[string]string{
		testUsers.AdminUser: testUsers.AdminPassword,
		testUsers.AppUser:   testUsers.AppPassword,
		testUsers.ReplUser:  testUsers.ReplPassword,
	}[user]
	return openDB(t, DSN(user, pw, m.Addr(), database))
}

// rootDB opens a pool as root over m's unix socket.
func rootDB(t *testing.T, m *MariaDB) *sql.DB {
	t.Helper()
	return openDB(t, rootDSN(m.SocketPath()))
}

// requireMySQLError asserts err is the server error number.
func requireMySQLError(t *testing.T, err error, number uint16, msgAndArgs ...any) {
	t.Helper()
	require.Error(t, err, msgAndArgs...)
	var me *mysql.MySQLError
	require.True(t, errors.As(err, &me), "want MySQL error %d, got %v", number, err)
	require.Equal(t, number, me.Number, "want MySQL error %d, got %v", number, err)
}

// Error numbers the privilege tests expect.
const (
	errTableAccessDenied    = 1142 // SELECT/INSERT/CREATE command denied to user for table
	errDBAccessDenied       = 1044 // access denied for user to database
	errSpecificAccessDenied = 1227 // you need (at least one of) the X privilege(s)
	errKillDenied           = 1095 // you are not owner of thread
	errReadOnly             = 1290 // the server is running with --read-only
)

// queryString returns the single value query yields.
func queryString(t *testing.T, db *sql.DB, query string, args ...any) string {
	t.Helper()
	var s sql.NullString
	require.NoError(t, db.QueryRow(query, args...).Scan(&s), query)
	return s.String
}

// eventually polls cond every few milliseconds until it holds or timeout
// passes, and returns how long that took.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			require.FailNow(t, "timed out after "+timeout.String()+" waiting for "+what)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start)
}

// noBinlogExec runs stmts as root on one connection with sql_log_bin=0, so
// test-only accounts add no GTIDs.
func noBinlogExec(t *testing.T, m *MariaDB, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	db, err := sql.Open("mysql", rootDSN(m.SocketPath()))
	require.NoError(t, err)
	defer db.Close() // drops the connection with sql_log_bin=0
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(ctx, "SET SESSION sql_log_bin=0")
	require.NoError(t, err)
	for _, s := range stmts {
		_, err := conn.ExecContext(ctx, s)
		require.NoError(t, err, s)
	}
}

// queryErr runs a statement that may return rows and returns its error.
func queryErr(db *sql.DB, query string, args ...any) error {
	rows, err := db.Query(query, args...)
	if err != nil {
		return err
	}
	for rows.Next() {
	}
	rows.Close()
	return rows.Err()
}
