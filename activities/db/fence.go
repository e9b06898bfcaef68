package db

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/go-sql-driver/mysql"

	"github.com/microdc/mdc/apperrors"
)

// identRE is what MariaDB account names mdc manages look like; it keeps
// quoting trivial and rejects typos such as a trailing space.
var identRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,80}$`)

// fenceLockWait is how long SET GLOBAL read_only=ON may wait for running
// writes (it takes the global read lock); the server default is a year.
const fenceLockWait = 2

// FenceInput names the site to fence and whose sessions to end.
type FenceInput struct {
	Site string
	// KillSessions ends AppUser's sessions after read_only is ON, so no
	// client keeps a connection (and an open transaction) to the old primary.
	KillSessions bool
	AppUser      string
}

// FenceResult says what the fence had to do.
type FenceResult struct {
	AlreadyFenced bool // read_only was already ON
	Killed        int  // app sessions ended
}

// Fence makes the site's server refuse the app's writes (SET GLOBAL
// read_only=ON: the app account has no SUPER, so it is stopped) and, with
// KillSessions, ends the app user's sessions. Idempotent: a fenced server
// reports AlreadyFenced, and Killed counts only sessions that were still
// there. A server that does not answer is Unavailable: the workflow then
// records the site as unfenced and fences its traffic instead.
func (a *Activities) Fence(ctx context.Context, in FenceInput) (FenceResult, error) {
	s, err := a.site(in.Site)
	if err != nil {
		return FenceResult{}, err
	}
	if in.KillSessions {
		if !identRE.MatchString(in.AppUser) {
			return FenceResult{}, apperrors.BadInput("fence %s: AppUser %q is not an account name (letters, digits, _ . -): name the app's database user whose sessions to kill", s.where(), in.AppUser)
		}
		if in.AppUser == s.user || in.AppUser == "root" {
			return FenceResult{}, apperrors.BadInput("fence %s: AppUser %q is the admin or root account: name the app's database user", s.where(), in.AppUser)
		}
	}
	ctx, cancel := withTimeout(ctx, defaultOpTimeout)
	defer cancel()
	// One connection: lock_wait_timeout is session state.
	conn, err := s.pool.Conn(ctx)
	if err != nil {
		return FenceResult{}, s.fail(err, "connect to fence")
	}
	defer conn.Close()

	var res FenceResult
	if err := conn.QueryRowContext(ctx, "SELECT @@global.read_only").Scan(&res.AlreadyFenced); err != nil {
		return FenceResult{}, s.fail(err, "read read_only")
	}
	if !res.AlreadyFenced {
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("SET SESSION lock_wait_timeout=%d", fenceLockWait)); err != nil {
			return FenceResult{}, s.fail(err, "set lock_wait_timeout")
		}
		if _, err := conn.ExecContext(ctx, "SET GLOBAL read_only=ON"); err != nil {
			// A long app write holds the global read lock off: end the
			// app's sessions (its write rolls back) and try once more.
			var me *mysql.MySQLError
			if !in.KillSessions || !errors.As(err, &me) || me.Number != errLockWaitTimeout {
				return FenceResult{}, s.fail(err, "SET GLOBAL read_only=ON")
			}
			n, kerr := s.killSessions(ctx, in.AppUser)
			res.Killed += n
			if kerr != nil {
				return res, kerr
			}
			if _, err := conn.ExecContext(ctx, "SET GLOBAL read_only=ON"); err != nil {
				return res, s.fail(err, "SET GLOBAL read_only=ON after ending the app's sessions")
			}
		}
	}
	if in.KillSessions {
		n, err := s.killSessions(ctx, in.AppUser)
		res.Killed += n
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// killSessions ends every session of user, one KILL CONNECTION per
// processlist ID so the count is exact. Sessions that end on their own
// meanwhile are not errors.
func (s *site) killSessions(ctx context.Context, user string) (int, error) {
	rows, err := s.pool.QueryContext(ctx,
		"SELECT ID FROM information_schema.PROCESSLIST WHERE USER=? AND COMMAND<>'Killed'", user)
	if err != nil {
		return 0, s.fail(err, "list "+user+"'s sessions")
	}
	var ids []uint64
	for rows.Next() {
		var id uint64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, s.fail(err, "list "+user+"'s sessions")
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, s.fail(err, "list "+user+"'s sessions")
	}
	killed := 0
	for _, id := range ids {
		_, err := s.pool.ExecContext(ctx, fmt.Sprintf("KILL CONNECTION %d", id))
		var me *mysql.MySQLError
		switch {
		case err == nil:
			killed++
		case errors.As(err, &me) && me.Number == errUnknownThread:
		default:
			return killed, s.fail(err, fmt.Sprintf("KILL CONNECTION %d (a session of %s)", id, user))
		}
	}
	return killed, nil
}
