package db

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/microdc/mdc/lab/mariadb"
)

// The tests use lab address-plan Base 43/44: site "uk" (the first primary)
// on 127.43.0.1, site "us" (its replica) on 127.44.0.1, MariaDB on 3306.
// Nothing listens on 127.43.0.9, and 127.43.0.8 accepts but never answers.
const (
	primaryAddr = "127.43.0.1:3306"
	replicaAddr = "127.44.0.1:3306"
	deadAddr    = "127.43.0.9:3306"
	muteAddr    = "127.43.0.8:3306"
	appDBName   = "mdc_app"
)

// users' passwords hold quotes and backslashes (SQL quoting) and "Secret",
// so tests can check no message leaks one.
var users = mariadb.Users{
	AdminUser: "mdc_admin", AdminPassword: `admin-Secret-'1\`,
	AppUser: "mdc_app", AppPassword: `app-Secret-"2'`,
	ReplUser: "mdc_repl", ReplPassword: `repl-Secret-\3'`,
}

// siteConfig is the configuration of the site whose server is at addr.
func siteConfig(addr string) SiteConfig {
	return SiteConfig{
		Address:         addr,
		DSN:             mariadb.DSN(users.AdminUser, users.AdminPassword, addr, ""),
		ReplicationUser: users.ReplUser, ReplicationPassword: users.ReplPassword,
	}
}

// pair is a real primary ("uk") and replica ("us") and the activities over them.
type pair struct {
	uk, us       *mariadb.MariaDB
	ukDir, usDir string
	acts         *Activities
}

func startServer(ctx context.Context, dir, addr string, id uint32) (*mariadb.MariaDB, error) {
	return mariadb.Start(ctx, mariadb.Options{Dir: dir, Addr: addr, ServerID: id, Database: appDBName, Users: users})
}

// startPair starts uk as the primary and us as its replica, both fresh,
// and stops them when the test ends.
func startPair(t *testing.T) *pair {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := t.TempDir()
	pr := &pair{ukDir: filepath.Join(base, "uk"), usDir: filepath.Join(base, "us")}
	start := time.Now()
	var wg sync.WaitGroup
	var errUK, errUS error
	wg.Add(2)
	go func() { defer wg.Done(); pr.uk, errUK = startServer(ctx, pr.ukDir, primaryAddr, 1) }()
	go func() { defer wg.Done(); pr.us, errUS = startServer(ctx, pr.usDir, replicaAddr, 2) }()
	wg.Wait()
	t.Cleanup(func() {
		for _, m := range []*mariadb.MariaDB{pr.uk, pr.us} {
			if m != nil {
				m.Kill()
			}
		}
	})
	require.NoError(t, errUK)
	require.NoError(t, errUS)
	require.NoError(t, pr.uk.MakePrimary(ctx))
	require.NoError(t, pr.us.MakeReplicaOf(ctx, primaryAddr, users.ReplUser, users.ReplPassword))
	t.Logf("TIMING pair start (two fresh datadirs, in parallel, replication running): %v", time.Since(start).Round(time.Millisecond))
	pr.acts = New(map[string]SiteConfig{"uk": siteConfig(primaryAddr), "us": siteConfig(replicaAddr)})
	t.Cleanup(func() { Close(pr.acts) })
	// Tests start from a replica that has applied the app table's CREATE.
	_, err := pr.acts.WaitForGTID(ctx, WaitForGTIDInput{Site: "us", GTID: status(t, pr.acts, "uk").GTIDBinlogPos, Timeout: 10 * time.Second})
	require.NoError(t, err)
	return pr
}

// openDB opens a pool that the test closes.
func openDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// appDB is the app user's pool at addr, as a web node has it.
func appDB(t *testing.T, addr string) *sql.DB {
	t.Helper()
	return openDB(t, mariadb.DSN(users.AppUser, users.AppPassword, addr, appDBName))
}

// rootDB logs in as root over m's socket, for what mdc itself never does
// (stopping one replication thread, writing past read_only).
func rootDB(t *testing.T, m *mariadb.MariaDB) *sql.DB {
	t.Helper()
	c := mysql.NewConfig()
	c.User, c.Net, c.Addr = "root", "unix", m.SocketPath()
	c.Timeout, c.ReadTimeout, c.WriteTimeout = 2*time.Second, 30*time.Second, 30*time.Second
	return openDB(t, c.FormatDSN())
}

func mustExec(t *testing.T, db *sql.DB, query string, args ...any) {
	t.Helper()
	_, err := db.Exec(query, args...)
	require.NoError(t, err, query)
}

// insertVisit writes a row as the app user at addr and returns its id.
func insertVisit(t *testing.T, addr, node string) int64 {
	t.Helper()
	res, err := appDB(t, addr).Exec("INSERT INTO visits (node, site) VALUES (?, 'test')", node)
	require.NoError(t, err, "app write at %s", addr)
	id, err := res.LastInsertId()
	require.NoError(t, err)
	return id
}

// hasVisit reports whether the row is at addr, read as the app user.
func hasVisit(t *testing.T, addr string, id int64) bool {
	t.Helper()
	var n int
	require.NoError(t, appDB(t, addr).QueryRow("SELECT COUNT(*) FROM visits WHERE id=?", id).Scan(&n))
	return n == 1
}

func countVisits(t *testing.T, addr string) int {
	t.Helper()
	var n int
	require.NoError(t, appDB(t, addr).QueryRow("SELECT COUNT(*) FROM visits").Scan(&n))
	return n
}

// status is ReplicationStatus that must succeed.
func status(t *testing.T, acts *Activities, site string) ReplicationStatusResult {
	t.Helper()
	st, err := acts.ReplicationStatus(context.Background(), ReplicationStatusInput{Site: site})
	require.NoError(t, err)
	return st
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			require.FailNow(t, "timed out after "+timeout.String()+" waiting for "+what)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// requireAppErr asserts err is an application error of type typ and that
// no password shows in it or its causes.
func requireAppErr(t *testing.T, err error, typ string, msgAndArgs ...any) *temporal.ApplicationError {
	t.Helper()
	require.Error(t, err, msgAndArgs...)
	var ae *temporal.ApplicationError
	require.True(t, errors.As(err, &ae), "want %s, got %T: %v", typ, err, err)
	require.Equal(t, typ, ae.Type(), "error: %v", err)
	requireNoSecrets(t, err)
	return ae
}

// requireNoSecrets checks err's whole chain for the test passwords.
func requireNoSecrets(t *testing.T, err error) {
	t.Helper()
	for e := err; e != nil; e = errors.Unwrap(e) {
		for _, pw := range []string{users.AdminPassword, users.AppPassword, users.ReplPassword, "Secret"} {
			require.NotContains(t, e.Error(), pw)
		}
	}
}

// lagDetail is the lag in seconds a ReplicaLagTooHigh error carries.
func lagDetail(t *testing.T, ae *temporal.ApplicationError) float64 {
	t.Helper()
	var lag float64
	require.NoError(t, ae.Details(&lag))
	return lag
}

// median of durations.
func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// requireUnchangedReplica asserts site is still a fenced replica of master.
func requireUnchangedReplica(t *testing.T, acts *Activities, site, masterSite string) ReplicationStatusResult {
	t.Helper()
	st := status(t, acts, site)
	require.Equal(t, RoleReplica, st.Role, "%s must still be a replica", site)
	require.True(t, st.ReadOnly, "%s must still be read_only", site)
	require.Equal(t, masterSite, st.MasterSite)
	return st
}

// bumpGTID returns pos with the sequence number of its only domain raised
// by n: a primary position the replica has not seen.
func bumpGTID(t *testing.T, pos string, n uint64) string {
	t.Helper()
	p, err := parseGTIDPos(pos)
	require.NoError(t, err)
	require.Len(t, p, 1, "one domain expected in %q", pos)
	for d, g := range p {
		g.seq += n
		p[d] = g
	}
	return p.String()
}
