package db

import (
	"context"
	"database/sql"
	"time"

	"github.com/microdc/mdc/apperrors"
)

// DefaultGTIDWait is WaitForGTID's timeout when the input gives none.
const DefaultGTIDWait = 30 * time.Second

// maxWaitSlice is the longest single MASTER_GTID_WAIT: it stays well under
// the read timeout and lets the activity heartbeat between slices.
const maxWaitSlice = time.Second

// WaitForGTIDInput names the replica and the position it must reach.
type WaitForGTIDInput struct {
	Site string
	// GTID is a MariaDB GTID position, e.g. the old primary's
	// GTIDBinlogPos: "0-1-42" or "0-1-42,1-3-7".
	GTID string
	// Timeout bounds the wait; 0 means DefaultGTIDWait.
	Timeout time.Duration
}

// WaitForGTIDResult says how long the wait took and where the replica is.
type WaitForGTIDResult struct {
	AlreadyApplied bool // nothing to wait for
	Waited         time.Duration
	GTIDSlavePos   string
}

// WaitForGTIDProgress is the heartbeat detail while waiting.
type WaitForGTIDProgress struct {
	GTIDSlavePos string
	Waited       time.Duration
}

// WaitForGTID waits (MASTER_GTID_WAIT) until the site's replica has applied
// GTID. Past the timeout it fails with a retryable Timeout giving the
// replica's position and replication state. It changes nothing.
func (a *Activities) WaitForGTID(ctx context.Context, in WaitForGTIDInput) (WaitForGTIDResult, error) {
	s, err := a.site(in.Site)
	if err != nil {
		return WaitForGTIDResult{}, err
	}
	want, err := parseGTIDPos(in.GTID)
	switch {
	case err != nil:
		return WaitForGTIDResult{}, apperrors.BadInput("wait for GTID at %s: %v", s.where(), err)
	case len(want) == 0:
		return WaitForGTIDResult{}, apperrors.BadInput("wait for GTID at %s: the GTID position is empty: pass the primary's GTIDBinlogPos", s.where())
	case in.Timeout < 0:
		return WaitForGTIDResult{}, apperrors.BadInput("wait for GTID at %s: timeout %v is negative", s.where(), in.Timeout)
	}
	timeout := in.Timeout
	if timeout == 0 {
		timeout = DefaultGTIDWait
	}
	ctx, cancel := withTimeout(ctx, timeout+defaultOpTimeout)
	defer cancel()
	start := time.Now()
	reached, first, pos, err := s.waitGTID(ctx, want, start.Add(timeout), func(pos string) {
		heartbeat(ctx, WaitForGTIDProgress{GTIDSlavePos: pos, Waited: time.Since(start)})
	})
	switch {
	case err != nil:
		return WaitForGTIDResult{}, err
	case !reached:
		return WaitForGTIDResult{}, s.gtidTimeout(ctx, want.String(), time.Since(start))
	}
	return WaitForGTIDResult{AlreadyApplied: first, Waited: time.Since(start), GTIDSlavePos: pos}, nil
}

// waitGTID polls MASTER_GTID_WAIT in slices until the server has applied
// want or deadline (or ctx's deadline, less time to report) passes,
// calling progress between slices. It returns whether want was reached,
// whether it already was at the first look, and @@gtid_slave_pos.
func (s *site) waitGTID(ctx context.Context, want gtidPos, deadline time.Time, progress func(pos string)) (reached, first bool, pos string, err error) {
	slice := min(maxWaitSlice, s.read/2)
	canon := want.String()
	for first = true; ; first = false {
		left := time.Until(deadline)
		if d, ok := ctx.Deadline(); ok {
			left = min(left, time.Until(d)-probeTimeout)
		}
		// The first call does not wait (timeout 0 only checks), so a
		// position already applied is reported as such.
		wait := time.Duration(0)
		if !first {
			wait = max(0, min(slice, left))
		}
		var rc sql.NullInt64
		if err := s.pool.QueryRowContext(ctx, "SELECT MASTER_GTID_WAIT(?, ?)", canon, wait.Seconds()).Scan(&rc); err != nil {
			return false, first, "", s.fail(err, "MASTER_GTID_WAIT('"+canon+"')")
		}
		if err := s.pool.QueryRowContext(ctx, "SELECT @@global.gtid_slave_pos").Scan(&pos); err != nil {
			return false, first, "", s.fail(err, "read gtid_slave_pos")
		}
		if rc.Valid && rc.Int64 == 0 {
			return true, first, pos, nil
		}
		if left <= 0 {
			return false, first, pos, nil
		}
		progress(pos)
	}
}

// gtidTimeout explains a wait that ran out: where the replica is and what
// its replication threads say.
func (s *site) gtidTimeout(ctx context.Context, want string, waited time.Duration) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), probeTimeout)
	defer cancel()
	st, err := s.state(sctx)
	if err != nil {
		return apperrors.Timeout("%s has not applied GTID %s after %v, and its state cannot be read: %v",
			s.where(), want, waited.Round(time.Millisecond), err)
	}
	repl := "replication is not configured: Repoint it to the primary"
	if st.replica != nil {
		repl = st.replica.String()
	}
	return apperrors.Timeout("%s has not applied GTID %s after %v: its gtid_slave_pos is %q (missing %d transactions); %s",
		s.where(), want, waited.Round(time.Millisecond), st.gtidSlave,
		mustGTIDPos(st.gtidSlave).missing(mustGTIDPos(want)), repl)
}
