package db

import (
	"context"
	"fmt"
	"time"
)

// Lag sources: how Promote measured the lag (see the package doc).
const (
	LagCaughtUp       = "caught-up"
	LagSecondsBehind  = "seconds-behind-master"
	LagIdleTime       = "idle-time"
	LagUnknown        = "unknown"
	LagNotReplicating = "not-replicating"
)

// lagInfo is Promote's measurement of what a promotion now would lose.
type lagInfo struct {
	seconds float64 // -1 when source is LagUnknown
	source  string
	missing int64  // transactions; -1 when they cannot be counted
	target  string // the primary position compared against, "" if none
	against string // where target came from, for messages
	drain   bool   // the SQL thread runs: apply the relay log before promoting
}

// String describes the measurement for messages.
func (l lagInfo) String() string {
	lag := fmt.Sprintf("%.3fs", l.seconds)
	if l.source == LagUnknown {
		lag = "unknown"
	}
	missing := fmt.Sprint(l.missing)
	if l.missing < 0 {
		missing = "an unknown number of"
	}
	if l.target == "" {
		return fmt.Sprintf("lag %s (%s), %s missing transactions", lag, l.source, missing)
	}
	return fmt.Sprintf("lag %s (%s), %s transactions missing against %s %s", lag, l.source, missing, l.against, l.target)
}

// measureLag decides what promoting s now would lose; see the package doc
// for the reasoning. primaryGTID is the caller's last known primary
// position (may be empty).
func (a *Activities) measureLag(ctx context.Context, s *site, st *serverState, primaryGTID gtidPos) lagInfo {
	r := st.replica
	applied := mustGTIDPos(st.gtidSlave)
	if r == nil {
		// Nothing replicates here: compare the server's own position.
		l := lagInfo{source: LagNotReplicating, missing: -1}
		if len(primaryGTID) > 0 {
			l.target, l.against = primaryGTID.String(), "PrimaryGTID"
			if l.missing = mustGTIDPos(st.gtidCurrent).missing(primaryGTID); l.missing > 0 {
				l.source, l.seconds = LagUnknown, -1
			}
		}
		return l
	}
	received := mustGTIDPos(r.gtidIOPos)
	sqlRuns := r.sqlRunning == "Yes"
	l := lagInfo{drain: sqlRuns, missing: -1}
	willHave := applied
	if sqlRuns {
		willHave = applied.merge(received) // the relay log is applied first
	}

	// What the primary has: live when it answers, else the caller's.
	var target gtidPos
	if p := a.siteAt(r.host, r.port); p != nil && p.pool != nil {
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		var pos string
		err := p.pool.QueryRowContext(pctx, "SELECT @@global.gtid_binlog_pos").Scan(&pos)
		cancel()
		if err == nil {
			target, l.against = mustGTIDPos(pos), "primary "+p.where()+" @@gtid_binlog_pos"
		}
	}
	if target == nil && len(primaryGTID) > 0 {
		target, l.against = primaryGTID.merge(received), "PrimaryGTID (merged with the replica's Gtid_IO_Pos)"
	}
	if target == nil && r.ioRunning == "Yes" {
		// Connected to a primary the worker cannot see: it sends what it has.
		target, l.against = received, "the replica's Gtid_IO_Pos"
	}
	if target != nil {
		l.target = target.String()
		l.missing = willHave.missing(target)
		if l.missing == 0 {
			l.source = LagCaughtUp
			return l
		}
	}
	// Transactions are missing (or cannot be counted): how old are they?
	switch {
	case !sqlRuns:
		l.source, l.seconds = LagUnknown, -1
	case r.secondsBehind != nil && *r.secondsBehind > 0 && r.sqlState != sqlIdleState:
		l.source, l.seconds = LagSecondsBehind, float64(*r.secondsBehind)
	case r.sqlIdle >= 0:
		// Idle: the time since it last applied an event. Busy without a
		// Seconds_Behind_Master (IO thread down): the time on this event.
		l.source, l.seconds = LagIdleTime, r.sqlIdle.Seconds()
	default:
		l.source, l.seconds = LagUnknown, -1
	}
	return l
}

// exceeds reports whether the measured lag is over maxLag (0: unbounded).
// An unknown lag exceeds every bound.
func (l lagInfo) exceeds(maxLag time.Duration) bool {
	if maxLag <= 0 {
		return false
	}
	return l.source == LagUnknown || l.seconds > maxLag.Seconds()
}
