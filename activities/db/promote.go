package db

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/microdc/mdc/apperrors"
)

// DefaultDrainTimeout bounds how long Promote lets the replica apply the
// relay log it already received, when ctx allows that long.
const DefaultDrainTimeout = 30 * time.Second

// PromoteInput names the replica to promote and the data loss allowed.
type PromoteInput struct {
	Site string
	// MaxLag is the RPO bound: Promote refuses (ReplicaLagTooHigh, nothing
	// changed) when the measured lag is larger. 0 means unbounded.
	MaxLag time.Duration
	// Force promotes whatever the lag, which is still measured and returned.
	Force bool
	// PrimaryGTID is the last known position of the primary (its
	// GTIDBinlogPos from ReplicationStatus), used when the primary is dead.
	PrimaryGTID string
}

// PromoteResult says what the promotion did and what it cost.
type PromoteResult struct {
	AlreadyPrimary bool // writable and not replicating: nothing done
	// LagSeconds is the measured lag, the promotion's RPO; -1 when
	// LagSource is "unknown".
	LagSeconds float64
	LagSource  string // caught-up, seconds-behind-master, idle-time, unknown, not-replicating
	// MissingTransactions the new primary lacks; -1 when not countable.
	MissingTransactions int64
	// DrainedRelayLog is true when the replica applied its received relay
	// log before promotion.
	DrainedRelayLog bool
	// GTID is the new primary's @@gtid_current_pos.
	GTID string
	// UncheckedPeers are the other sites whose servers did not answer, so
	// Promote could not confirm they are fenced (expected in a disaster).
	UncheckedPeers []string
}

// Promote makes the site's replica the primary: it measures the lag (see
// the package doc), refuses with ReplicaLagTooHigh when it exceeds MaxLag
// and Force is not set (changing nothing), refuses with a retryable
// Conflict while another site's server is writable (fence it first),
// applies the relay log already received, then STOP SLAVE, RESET SLAVE ALL
// and SET GLOBAL read_only=OFF. Idempotent: a writable server that does not
// replicate reports AlreadyPrimary and nothing is done.
func (a *Activities) Promote(ctx context.Context, in PromoteInput) (PromoteResult, error) {
	s, err := a.site(in.Site)
	if err != nil {
		return PromoteResult{}, err
	}
	primaryGTID, err := parseGTIDPos(in.PrimaryGTID)
	if err != nil {
		return PromoteResult{}, apperrors.BadInput("promote %s: PrimaryGTID: %v", s.where(), err)
	}
	if in.MaxLag < 0 {
		return PromoteResult{}, apperrors.BadInput("promote %s: MaxLag %v is negative (0 means unbounded)", s.where(), in.MaxLag)
	}
	ctx, cancel := withTimeout(ctx, defaultOpTimeout)
	defer cancel()
	st, err := s.state(ctx)
	if err != nil {
		return PromoteResult{}, err
	}
	if st.replica == nil && !st.readOnly {
		return PromoteResult{AlreadyPrimary: true, LagSource: LagNotReplicating, MissingTransactions: -1, GTID: st.gtidCurrent}, nil
	}
	res := PromoteResult{}
	// Each peer probe may take probeTimeout; a heartbeat around them keeps
	// the workflow's heartbeat timeout short, so a worker lost mid-promote
	// is retried in seconds rather than at the StartToClose timeout.
	heartbeat(ctx, "checking that the peers are fenced")
	if res.UncheckedPeers, err = a.checkPeersFenced(ctx, s); err != nil {
		return PromoteResult{}, err
	}
	heartbeat(ctx, "measuring the lag")
	lag := a.measureLag(ctx, s, st, primaryGTID)
	res.LagSeconds, res.LagSource, res.MissingTransactions = lag.seconds, lag.source, lag.missing
	if lag.exceeds(in.MaxLag) && !in.Force {
		if lag.source == LagUnknown {
			return PromoteResult{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("promote %s: refused, nothing changed: %s, and the age of the missing data cannot be measured (the SQL thread is stopped), so it may exceed the allowed RPO of %.3fs; start the SQL thread to catch up, or promote with force to accept the data loss",
					s.where(), lag, in.MaxLag.Seconds()),
				apperrors.TypeReplicaLag, nil, lag.seconds)
		}
		return PromoteResult{}, apperrors.ReplicaLag(lag.seconds, in.MaxLag.Seconds())
	}
	heartbeat(ctx, lag.String())

	if st.replica != nil {
		if lag.drain {
			if res.DrainedRelayLog, err = s.drainRelayLog(ctx, st.replica); err != nil {
				return PromoteResult{}, err
			}
		}
		for _, stmt := range []string{"STOP SLAVE", "RESET SLAVE ALL"} {
			if _, err := s.pool.ExecContext(ctx, stmt); err != nil {
				return PromoteResult{}, s.fail(err, "promote: "+stmt)
			}
		}
	}
	if _, err := s.pool.ExecContext(ctx, "SET GLOBAL read_only=OFF"); err != nil {
		return PromoteResult{}, s.fail(err, "promote: SET GLOBAL read_only=OFF")
	}
	if err := s.pool.QueryRowContext(ctx, "SELECT @@global.gtid_current_pos").Scan(&res.GTID); err != nil {
		return PromoteResult{}, s.fail(err, "read gtid_current_pos after promotion")
	}
	return res, nil
}

// checkPeersFenced refuses a promotion while another configured site's
// server is writable: two writable primaries split the data. Sites that do
// not answer cannot be checked and are returned (a dead site is why one
// promotes); the workflow fences their traffic.
func (a *Activities) checkPeersFenced(ctx context.Context, self *site) ([]string, error) {
	var unchecked []string
	for _, name := range slices.Sorted(maps.Keys(a.sites)) {
		p := a.sites[name]
		if p == self || p.pool == nil {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		var ro bool
		err := p.pool.QueryRowContext(pctx, "SELECT @@global.read_only").Scan(&ro)
		cancel()
		switch {
		case err != nil:
			unchecked = append(unchecked, name)
		case !ro:
			return nil, apperrors.Conflict("promote %s: refused, nothing changed: %s is writable (read_only=OFF); fence it first (Fence) so two primaries never take writes",
				self.where(), p.where())
		}
	}
	return unchecked, nil
}

// drainRelayLog stops the IO thread and waits until the SQL thread has
// applied everything received, so promotion throws none of it away. On
// failure it restarts the IO thread, leaving the replica as it was.
func (s *site) drainRelayLog(ctx context.Context, r *slaveStatus) (bool, error) {
	stoppedIO := false
	if r.ioRunning != "No" {
		if _, err := s.pool.ExecContext(ctx, "STOP SLAVE IO_THREAD"); err != nil {
			return false, s.fail(err, "promote: STOP SLAVE IO_THREAD")
		}
		stoppedIO = true
	}
	restore := func() {
		if stoppedIO {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), probeTimeout)
			defer cancel()
			_, _ = s.pool.ExecContext(rctx, "START SLAVE IO_THREAD")
		}
	}
	now, err := s.slaveStatus(ctx)
	if err != nil || now == nil {
		restore()
		if err == nil {
			err = fmt.Errorf("%s: replication vanished while promoting: another process changed it", s.where())
		}
		return false, err
	}
	want := mustGTIDPos(now.gtidIOPos)
	if len(want) == 0 {
		return false, nil
	}
	timeout := DefaultDrainTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d)-probeTimeout)
	}
	reached, _, pos, err := s.waitGTID(ctx, want, time.Now().Add(timeout), func(pos string) {
		heartbeat(ctx, "applying relay log up to "+want.String()+", at "+pos)
	})
	if err != nil {
		restore()
		return false, err
	}
	if !reached {
		restore()
		return false, apperrors.Timeout("promote %s: the replica did not apply its relay log (up to %s) within %v; it is at %s; replication was left running: retry",
			s.where(), want, timeout.Round(time.Millisecond), pos)
	}
	return true, nil
}
