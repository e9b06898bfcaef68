package db

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/go-sql-driver/mysql"

	"github.com/microdc/mdc/apperrors"
)

// MariaDB error numbers the activities act on.
const (
	errDBAccessDenied       = 1044 // access denied for user to database
	errAccessDenied         = 1045 // wrong user or password
	errTooManyConnections   = 1040
	errServerShutdown       = 1053
	errUnknownThread        = 1094 // KILL of a session that already ended
	errKillDenied           = 1095 // not the owner of the thread (no CONNECTION ADMIN)
	errTableAccessDenied    = 1142
	errSpecificAccessDenied = 1227 // needs (one of) the X privilege(s)
	errLockWaitTimeout      = 1205
	errConnectionKilled     = 1927
	errMasterFatalReading   = 1236 // the primary cannot serve the replica's GTID position
)

// scrub replaces every non-empty secret in msg.
func scrub(msg string, secrets []string) string {
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "<redacted>")
		}
	}
	return msg
}

// redact returns err with the site's secrets removed from its text; a
// *mysql.MySQLError keeps its number so errors.As still works.
func (s *site) redact(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := scrub(msg, s.secrets)
	if clean == msg {
		return err
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return &mysql.MySQLError{Number: me.Number, SQLState: me.SQLState, Message: scrub(me.Message, s.secrets)}
	}
	return errors.New(clean)
}

// fail turns an error from the site's server into the typed error the
// workflow acts on: rejected credentials and missing privileges are Auth
// (no retry helps), a server that does not answer is Unavailable
// (retryable); anything else is returned as a plain, retryable error with
// context. what says what the activity was doing.
func (s *site) fail(err error, what string) error {
	err = s.redact(err)
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case errAccessDenied:
			return apperrors.Auth("%s: %s: the server rejected the admin user %q: check the password in the site's database DSN (%s)",
				s.where(), what, s.user, me.Message)
		case errDBAccessDenied, errTableAccessDenied, errSpecificAccessDenied, errKillDenied:
			return apperrors.Auth("%s: %s: the admin user %q lacks a privilege (%s); grant it exactly: REPLICA MONITOR, BINLOG MONITOR, REPLICATION SLAVE ADMIN, RELOAD, READ_ONLY ADMIN, CONNECTION ADMIN, PROCESS, and use a DSN without a database",
				s.where(), what, s.user, me.Message)
		case errTooManyConnections, errServerShutdown, errConnectionKilled, errLockWaitTimeout:
			return apperrors.Unavailable(err, "%s: %s: the server is busy or shutting down: %s; retry", s.where(), what, me.Message)
		}
		return fmt.Errorf("%s: %s: %w", s.where(), what, err)
	}
	if unreachable(err) {
		return apperrors.Unavailable(err, "%s: %s: the database did not answer (%v); it may be down or unreachable from this worker", s.where(), what, err)
	}
	return fmt.Errorf("%s: %s: %w", s.where(), what, err)
}

// unreachable reports whether err means the server could not be reached or
// dropped the connection, as opposed to answering with an error.
func unreachable(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE)
}
