package mariadb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// AppTable is the table the web nodes write to, in Options.Database.
const AppTable = "visits"

// AdminPrivileges are the admin user's global privileges, each needed by an
// operation of mdc's activities (the tests prove each one is needed):
//
//	REPLICA MONITOR          SHOW SLAVE STATUS
//	BINLOG MONITOR           SHOW MASTER STATUS
//	REPLICATION SLAVE ADMIN  STOP/START SLAVE, CHANGE MASTER TO, SET GLOBAL gtid_slave_pos
//	RELOAD                   RESET SLAVE [ALL]: MariaDB 10.11 checks RELOAD, not
//	                         REPLICATION SLAVE ADMIN; promotion needs RESET SLAVE ALL
//	                         so a restarted new primary does not resume replicating
//	READ_ONLY ADMIN          SET GLOBAL read_only (fence/promote)
//	CONNECTION ADMIN         KILL another user's (the app's) sessions
//	PROCESS                  see the app's sessions in SHOW PROCESSLIST /
//	                         information_schema.PROCESSLIST, to kill them by ID
//	                         and to verify a fence left none
//
// @@gtid_current_pos and MASTER_GTID_WAIT need no privilege. BINLOG ADMIN
// (PURGE BINARY LOGS) and SUPER are not granted.
var AdminPrivileges = []string{
	"REPLICA MONITOR", "BINLOG MONITOR", "REPLICATION SLAVE ADMIN",
	"RELOAD", "READ_ONLY ADMIN", "CONNECTION ADMIN", "PROCESS",
}

// userHost is the host part of every account: the bind address (loopback
// in the lab) is the network boundary, so the accounts do not repeat it.
const userHost = "%"

// DSN is a go-sql-driver/mysql DSN for user at addr (TCP) with short
// timeouts, so a dead site fails fast instead of hanging a caller, and
// parseTime, so TIMESTAMP columns scan into time.Time. It contains the
// password: never log it.
func DSN(user, password, addr, database string) string {
	c := mysql.NewConfig()
	c.User, c.Passwd = user, password
	c.Net, c.Addr, c.DBName = "tcp", addr, database
	c.Timeout = 2 * time.Second
	c.ReadTimeout = 5 * time.Second
	c.WriteTimeout = 5 * time.Second
	c.ParseTime = true
	return c.FormatDSN()
}

// rootDSN logs in as root over the unix socket (unix_socket authentication:
// no password exists). The read timeout covers slow DDL on a busy machine.
func rootDSN(socket string) string {
	c := mysql.NewConfig()
	c.User, c.Net, c.Addr = "root", "unix", socket
	c.Timeout = 2 * time.Second
	c.ReadTimeout = 30 * time.Second
	c.WriteTimeout = 30 * time.Second
	return c.FormatDSN()
}

// quoteString is a SQL string literal for the default sql_mode (backslash
// escapes on). Account and CHANGE MASTER statements take no placeholders.
func quoteString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// quoteIdent quotes an identifier already checked against identRE.
func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// account is 'user'@'%'.
func account(user string) string { return quoteString(user) + "@" + quoteString(userHost) }

// redact removes secrets from err's text (a syntax error echoes the
// statement) while keeping a *mysql.MySQLError's number for errors.As.
func redact(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	leaked := false
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			leaked = true
		}
	}
	if !leaked {
		return err
	}
	scrub := func(m string) string {
		for _, s := range secrets {
			if s != "" {
				m = strings.ReplaceAll(m, s, "<redacted>")
			}
		}
		return m
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return &mysql.MySQLError{Number: me.Number, SQLState: me.SQLState, Message: scrub(me.Message)}
	}
	return errors.New(scrub(msg))
}

// bootstrap creates the app database and the three users without writing
// them to the binlog (sql_log_bin=0): each instance does it itself, so
// neither has GTIDs the other lacks. Idempotent.
func (m *MariaDB) bootstrap(ctx context.Context) error {
	u := m.opts.Users
	// A pool of its own, closed afterwards: sql_log_bin=0 is session state,
	// and a pooled connection would carry it into later statements (the
	// app table's CREATE must be binlogged to replicate).
	pool, err := sql.Open("mysql", rootDSN(m.paths.socket))
	if err != nil {
		return fmt.Errorf("mariadb %s: bootstrap: open root connection: %w", m.opts.Addr, err)
	}
	defer pool.Close()
	// One pinned connection: a reconnect would silently binlog again.
	conn, err := pool.Conn(ctx)
	if err != nil {
		return fmt.Errorf("mariadb %s: bootstrap: root connection over %s: %w", m.opts.Addr, m.paths.socket, err)
	}
	defer conn.Close()
	db := quoteIdent(m.opts.Database)
	stmts := []struct{ what, sql string }{
		{"disable binlog for this session", "SET SESSION sql_log_bin=0"},
		{"create database " + m.opts.Database, "CREATE DATABASE IF NOT EXISTS " + db},
		{"create admin user " + u.AdminUser, "CREATE OR REPLACE USER " + account(u.AdminUser) + " IDENTIFIED BY " + quoteString(u.AdminPassword)},
		{"grant admin privileges", "GRANT " + strings.Join(AdminPrivileges, ", ") + " ON *.* TO " + account(u.AdminUser)},
		{"create app user " + u.AppUser, "CREATE OR REPLACE USER " + account(u.AppUser) + " IDENTIFIED BY " + quoteString(u.AppPassword)},
		{"grant app privileges", "GRANT SELECT, INSERT, UPDATE, DELETE ON " + db + ".* TO " + account(u.AppUser)},
		{"create replication user " + u.ReplUser, "CREATE OR REPLACE USER " + account(u.ReplUser) + " IDENTIFIED BY " + quoteString(u.ReplPassword)},
		{"grant replication privileges", "GRANT REPLICATION SLAVE ON *.* TO " + account(u.ReplUser)},
	}
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s.sql); err != nil {
			return fmt.Errorf("mariadb %s: bootstrap: %s: %w", m.opts.Addr, s.what,
				redact(err, u.AdminPassword, u.AppPassword, u.ReplPassword))
		}
	}
	return nil
}
