package mariadb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/go-sql-driver/mysql"
)

// replicationTimeout caps how long MakeReplicaOf waits for both replication
// threads when ctx has no earlier deadline; the IO thread retries the
// connection every second (MASTER_CONNECT_RETRY=1).
const replicationTimeout = 30 * time.Second

// errAccessDenied is ER_ACCESS_DENIED_ERROR, which the IO thread reports
// when the replication user or password is wrong.
const errAccessDenied = 1045

// MakePrimary makes the instance writable for the app (read_only OFF) and
// creates the app table. Idempotent. It refuses an instance that is still
// replicating, since two writable servers in one topology split the data.
func (m *MariaDB) MakePrimary(ctx context.Context) error {
	st, err := m.replicaStatus(ctx)
	if err != nil {
		return err
	}
	if st != nil && (st.ioRunning != "No" || st.sqlRunning != "No") {
		return fmt.Errorf("mariadb %s: MakePrimary: still replicating from %s:%d (IO %s, SQL %s); stop replication first (STOP SLAVE; RESET SLAVE ALL)",
			m.opts.Addr, st.host, st.port, st.ioRunning, st.sqlRunning)
	}
	if _, err := m.root.ExecContext(ctx, "SET GLOBAL read_only=OFF"); err != nil {
		return fmt.Errorf("mariadb %s: MakePrimary: SET GLOBAL read_only=OFF: %w", m.opts.Addr, err)
	}
	return m.EnsureAppSchema(ctx)
}

// EnsureAppSchema creates the app table on this instance (call it on the
// primary: the CREATE is binlogged and replicates). It writes nothing when
// the table exists, so repeated calls add no GTIDs.
func (m *MariaDB) EnsureAppSchema(ctx context.Context) error {
	var n int
	err := m.root.QueryRowContext(ctx,
		"SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA=? AND TABLE_NAME=?",
		m.opts.Database, AppTable).Scan(&n)
	if err != nil {
		return fmt.Errorf("mariadb %s: look up table %s.%s: %w", m.opts.Addr, m.opts.Database, AppTable, err)
	}
	if n > 0 {
		return nil
	}
	ddl := "CREATE TABLE IF NOT EXISTS " + quoteIdent(m.opts.Database) + "." + quoteIdent(AppTable) + ` (
		id   BIGINT AUTO_INCREMENT PRIMARY KEY,
		node VARCHAR(64) NOT NULL,
		site VARCHAR(32) NOT NULL,
		at   TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
	) ENGINE=InnoDB`
	if _, err := m.root.ExecContext(ctx, ddl); err != nil {
		return fmt.Errorf("mariadb %s: create table %s.%s: %w", m.opts.Addr, m.opts.Database, AppTable, err)
	}
	return nil
}

// MakeReplicaOf makes the instance a read-only GTID replica of primaryAddr
// (MASTER_USE_GTID=slave_pos) and waits until both replication threads run.
// Idempotent: when it already replicates from primaryAddr as replUser it
// changes nothing. It also demotes a former primary: its own transactions
// come back from the new primary under its server_id and are skipped. It
// first logs in to the primary as replUser, so wrong credentials fail at
// once and leave running replication alone; a primary that is down is
// waited for. Errors carry the server's Last_IO_Error and Last_SQL_Error,
// never the password.
func (m *MariaDB) MakeReplicaOf(ctx context.Context, primaryAddr, replUser, replPass string) error {
	host, portStr, err := net.SplitHostPort(primaryAddr)
	if err != nil {
		return fmt.Errorf("mariadb %s: MakeReplicaOf: primary address %q is not host:port: %w", m.opts.Addr, primaryAddr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 {
		return fmt.Errorf("mariadb %s: MakeReplicaOf: primary address %q has a bad port", m.opts.Addr, primaryAddr)
	}
	if primaryAddr == m.opts.Addr {
		return fmt.Errorf("mariadb %s: MakeReplicaOf: an instance cannot replicate from itself", m.opts.Addr)
	}
	if !identRE.MatchString(replUser) {
		return fmt.Errorf("mariadb %s: MakeReplicaOf: replication user %q must match %s", m.opts.Addr, replUser, identRE)
	}
	if err := checkPassword(replPass); err != nil {
		return fmt.Errorf("mariadb %s: MakeReplicaOf: replication password %w", m.opts.Addr, err)
	}
	ctx, cancel := context.WithTimeout(ctx, replicationTimeout)
	defer cancel()
	if err := checkReplLogin(ctx, primaryAddr, replUser, replPass); err != nil {
		return fmt.Errorf("mariadb %s: MakeReplicaOf: %w", m.opts.Addr, err)
	}

	// Fence first, so the app can never write here while it replicates.
	if _, err := m.root.ExecContext(ctx, "SET GLOBAL read_only=ON"); err != nil {
		return fmt.Errorf("mariadb %s: MakeReplicaOf: SET GLOBAL read_only=ON: %w", m.opts.Addr, err)
	}
	st, err := m.replicaStatus(ctx)
	if err != nil {
		return err
	}
	if st != nil && st.host == host && st.port == port && st.user == replUser &&
		st.usingGTID == "Slave_Pos" && st.ioRunning == "Yes" && st.sqlRunning == "Yes" {
		return nil
	}
	stmts := []struct{ what, sql string }{
		{"STOP SLAVE", "STOP SLAVE"},
		{"CHANGE MASTER TO " + primaryAddr, fmt.Sprintf(
			"CHANGE MASTER TO MASTER_HOST=%s, MASTER_PORT=%d, MASTER_USER=%s, MASTER_PASSWORD=%s, MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1",
			quoteString(host), port, quoteString(replUser), quoteString(replPass))},
		{"START SLAVE", "START SLAVE"},
	}
	for _, s := range stmts {
		if _, err := m.root.ExecContext(ctx, s.sql); err != nil {
			return fmt.Errorf("mariadb %s: MakeReplicaOf: %s: %w", m.opts.Addr, s.what, redact(err, replPass))
		}
	}
	if err := m.waitReplicating(ctx); err != nil {
		return redact(err, replPass)
	}
	return nil
}

// waitReplicating polls SHOW SLAVE STATUS until both threads run. It gives
// up at once when a thread has stopped or the primary denied the login,
// since neither heals by waiting.
func (m *MariaDB) waitReplicating(ctx context.Context) error {
	for {
		st, err := m.replicaStatus(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return m.explainTimeout(ctx)
			}
			return err
		}
		if st == nil {
			return fmt.Errorf("mariadb %s: replication is not configured (SHOW SLAVE STATUS is empty)", m.opts.Addr)
		}
		if st.ioRunning == "Yes" && st.sqlRunning == "Yes" {
			return nil
		}
		if st.ioRunning == "No" || st.sqlRunning == "No" || st.ioErrno == errAccessDenied {
			return fmt.Errorf("mariadb %s: replication from %s:%d failed: %s", m.opts.Addr, st.host, st.port, st)
		}
		select {
		case <-ctx.Done():
			return m.explainTimeout(ctx)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// explainTimeout explains a wait that ran out of time with a last look
// at SHOW SLAVE STATUS, taken outside the expired ctx.
func (m *MariaDB) explainTimeout(ctx context.Context) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	st, err := m.replicaStatus(sctx)
	switch {
	case err != nil:
		return fmt.Errorf("mariadb %s: replication not running after waiting (%w), and SHOW SLAVE STATUS failed: %v", m.opts.Addr, ctx.Err(), err)
	case st == nil:
		return fmt.Errorf("mariadb %s: replication not configured after waiting (%w)", m.opts.Addr, ctx.Err())
	}
	return fmt.Errorf("mariadb %s: replication from %s:%d not running after waiting (%w): %s; is the primary up?",
		m.opts.Addr, st.host, st.port, ctx.Err(), st)
}

// replicaStatus is the part of SHOW SLAVE STATUS that provisioning needs.
type replicaStatus struct {
	host                  string
	port                  int
	user, usingGTID       string
	ioRunning, sqlRunning string // Yes, No, Connecting, Preparing
	ioErrno               int
	ioError, sqlError     string
}

func (s *replicaStatus) String() string {
	return fmt.Sprintf("Slave_IO_Running=%s Slave_SQL_Running=%s Last_IO_Error=%q Last_SQL_Error=%q",
		s.ioRunning, s.sqlRunning, s.ioError, s.sqlError)
}

// replicaStatus reads SHOW SLAVE STATUS by column name (its columns vary
// between versions); nil means replication was never configured.
func (m *MariaDB) replicaStatus(ctx context.Context) (*replicaStatus, error) {
	rows, err := m.root.QueryContext(ctx, "SHOW SLAVE STATUS")
	if err != nil {
		return nil, fmt.Errorf("mariadb %s: SHOW SLAVE STATUS: %w", m.opts.Addr, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, fmt.Errorf("mariadb %s: SHOW SLAVE STATUS columns: %w", m.opts.Addr, err)
	}
	if !rows.Next() {
		return nil, rows.Err()
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, fmt.Errorf("mariadb %s: SHOW SLAVE STATUS scan: %w", m.opts.Addr, err)
	}
	get := func(name string) string {
		for i, c := range cols {
			if c == name {
				return vals[i].String
			}
		}
		return ""
	}
	port, _ := strconv.Atoi(get("Master_Port"))
	errno, _ := strconv.Atoi(get("Last_IO_Errno"))
	return &replicaStatus{
		host: get("Master_Host"), port: port, user: get("Master_User"),
		usingGTID: get("Using_Gtid"),
		ioRunning: get("Slave_IO_Running"), sqlRunning: get("Slave_SQL_Running"),
		ioErrno: errno, ioError: get("Last_IO_Error"), sqlError: get("Last_SQL_Error"),
	}, rows.Err()
}

// checkReplLogin fails when primaryAddr refuses user's credentials. Any
// other failure (primary not up yet) is left to the replication threads,
// which retry every second.
func checkReplLogin(ctx context.Context, primaryAddr, user, password string) error {
	db, err := sql.Open("mysql", DSN(user, password, primaryAddr, ""))
	if err != nil {
		return fmt.Errorf("replication login to %s: %w", primaryAddr, redact(err, password))
	}
	defer db.Close()
	err = db.PingContext(ctx)
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == errAccessDenied {
		return fmt.Errorf("primary %s refused replication user %q (check ReplUser/ReplPassword): %w", primaryAddr, user, redact(err, password))
	}
	return nil
}

// ReadOnly reports whether the instance refuses the app's writes. The lab
// records it before a site goes down, because every instance starts
// read-only and the lab restores what was writable when the site returns.
func (m *MariaDB) ReadOnly(ctx context.Context) (bool, error) {
	var ro bool
	if err := m.root.QueryRowContext(ctx, "SELECT @@global.read_only").Scan(&ro); err != nil {
		return false, fmt.Errorf("mariadb %s: read @@read_only: %w", m.opts.Addr, err)
	}
	return ro, nil
}
