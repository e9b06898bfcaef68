package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/microdc/mdc/apperrors"
)

// DefaultReplicationWait bounds how long Repoint waits for both replication
// threads to run, when ctx allows that long.
const DefaultReplicationWait = 30 * time.Second

// connectRetry is MASTER_CONNECT_RETRY: a replica whose primary restarts
// (or is promoted a moment later) reconnects within seconds, not the
// default minute.
const connectRetry = 1

// RepointInput names the site to make a replica and the site to follow.
type RepointInput struct {
	Site        string
	PrimarySite string
}

// RepointResult says whether replication had to be (re)configured.
type RepointResult struct {
	Changed        bool
	PrimaryAddress string
	// GTIDSlavePos is the position replication continues from.
	GTIDSlavePos string
}

// Repoint makes the site's server a read-only GTID replica of PrimarySite's
// server (its Address), logging in as the site's ReplicationUser, and waits
// until both replication threads run. It demotes a former primary too: it
// sets gtid_slave_pos from gtid_current_pos first, so replication resumes
// after the server's own last transaction, and a server holding
// transactions the new primary lacks fails with Rejected (rebuild it)
// instead of silently diverging. Idempotent: a server already replicating
// from that address reports Changed=false. It changes nothing when the
// primary refuses the replication login (Auth), does not answer
// (Unavailable) or itself replicates from this site (Conflict).
func (a *Activities) Repoint(ctx context.Context, in RepointInput) (RepointResult, error) {
	s, err := a.site(in.Site)
	if err != nil {
		return RepointResult{}, err
	}
	p, err := a.site(in.PrimarySite)
	if err != nil {
		return RepointResult{}, err
	}
	if s == p {
		return RepointResult{}, apperrors.BadInput("repoint %s: PrimarySite is the site itself: name the site whose server is the primary", s.where())
	}
	if !identRE.MatchString(s.cfg.ReplicationUser) || s.cfg.ReplicationPassword == "" {
		return RepointResult{}, apperrors.BadInput("repoint %s: the site's ReplicationUser %q or ReplicationPassword is missing or malformed: set them in the platform file",
			s.where(), s.cfg.ReplicationUser)
	}
	ctx, cancel := withTimeout(ctx, defaultOpTimeout)
	defer cancel()
	res := RepointResult{PrimaryAddress: p.cfg.Address}
	st, err := s.state(ctx)
	if err != nil {
		return res, err
	}
	if r := st.replica; r != nil && r.port == p.port && sameHost(r.host, p.host) &&
		r.user == s.cfg.ReplicationUser && r.usingGTID == "Slave_Pos" && r.ioRunning == "Yes" && r.sqlRunning == "Yes" {
		res.GTIDSlavePos = st.gtidSlave
		if st.readOnly {
			return res, nil
		}
		res.Changed = true
		if _, err := s.pool.ExecContext(ctx, "SET GLOBAL read_only=ON"); err != nil {
			return res, s.fail(err, "repoint: SET GLOBAL read_only=ON")
		}
		return res, nil
	}
	if err := a.checkPrimary(ctx, s, p); err != nil {
		return res, err
	}

	// Fence first, so the app can never write here while it replicates.
	res.Changed = true
	if _, err := s.pool.ExecContext(ctx, "SET GLOBAL read_only=ON"); err != nil {
		return res, s.fail(err, "repoint: SET GLOBAL read_only=ON")
	}
	if st.replica != nil {
		if _, err := s.pool.ExecContext(ctx, "STOP SLAVE"); err != nil {
			return res, s.fail(err, "repoint: STOP SLAVE")
		}
	}
	// A former primary's own transactions are in gtid_current_pos, not
	// gtid_slave_pos: start after them (MASTER_USE_GTID=current_pos is
	// deprecated). For a plain replica the two are equal.
	var cur, slave string
	if err := s.pool.QueryRowContext(ctx, "SELECT @@global.gtid_current_pos, @@global.gtid_slave_pos").Scan(&cur, &slave); err != nil {
		return res, s.fail(err, "repoint: read GTID positions")
	}
	curPos, err := parseGTIDPos(cur)
	if err != nil {
		return res, fmt.Errorf("%s: repoint: the server's gtid_current_pos %q does not parse: %w", s.where(), cur, err)
	}
	stmts := []struct{ what, sql string }{}
	if curPos.String() != mustGTIDPos(slave).String() {
		stmts = append(stmts, struct{ what, sql string }{"SET GLOBAL gtid_slave_pos='" + curPos.String() + "'",
			"SET GLOBAL gtid_slave_pos='" + curPos.String() + "'"})
	}
	stmts = append(stmts,
		struct{ what, sql string }{"CHANGE MASTER TO " + p.cfg.Address, fmt.Sprintf(
			"CHANGE MASTER TO MASTER_HOST=%s, MASTER_PORT=%d, MASTER_USER=%s, MASTER_PASSWORD=%s, MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=%d",
			quoteString(p.host), p.port, quoteString(s.cfg.ReplicationUser), quoteString(s.cfg.ReplicationPassword), connectRetry)},
		struct{ what, sql string }{"START SLAVE", "START SLAVE"},
	)
	for _, stmt := range stmts {
		if _, err := s.pool.ExecContext(ctx, stmt.sql); err != nil {
			return res, s.fail(err, "repoint: "+stmt.what)
		}
	}
	res.GTIDSlavePos = curPos.String()
	return res, s.waitReplicating(ctx, p)
}

// checkPrimary makes sure replication from p can work before anything at s
// changes: p answers, does not replicate from s (a ring), and accepts s's
// replication login.
func (a *Activities) checkPrimary(ctx context.Context, s, p *site) error {
	pctx, cancel := context.WithTimeout(ctx, 2*probeTimeout)
	defer cancel()
	pr, err := p.slaveStatus(pctx)
	if err != nil {
		return err
	}
	if pr != nil && pr.port == s.port && sameHost(pr.host, s.host) {
		return apperrors.Conflict("repoint %s to %s: refused, nothing changed: %s itself replicates from %s; promote it first (Promote)",
			s.where(), p.where(), p.where(), s.where())
	}
	c := mysql.NewConfig()
	c.User, c.Passwd, c.Net, c.Addr = s.cfg.ReplicationUser, s.cfg.ReplicationPassword, "tcp", p.cfg.Address
	c.Timeout, c.ReadTimeout, c.WriteTimeout = DefaultDialTimeout, DefaultReadTimeout, DefaultWriteTimeout
	c.Logger = &mysql.NopLogger{} // failures are in the returned error
	conn, err := mysql.NewConnector(c)
	if err != nil {
		return apperrors.BadInput("repoint %s: replication login settings are unusable: %v", s.where(), s.redact(err))
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	err = s.redact(db.PingContext(pctx))
	var me *mysql.MySQLError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &me) && me.Number == errAccessDenied:
		return apperrors.Auth("repoint %s: the primary %s refused replication user %q: check site %s's ReplicationUser/ReplicationPassword (%s); nothing changed",
			s.where(), p.where(), s.cfg.ReplicationUser, s.name, me.Message)
	default:
		return apperrors.Unavailable(err, "repoint %s: the replication user cannot log in to the primary %s (%v); nothing changed", s.where(), p.where(), err)
	}
}

// waitReplicating polls SHOW SLAVE STATUS until both threads run, failing
// at once on what waiting cannot heal.
func (s *site) waitReplicating(ctx context.Context, p *site) error {
	start := time.Now()
	deadline := start.Add(DefaultReplicationWait)
	if d, ok := ctx.Deadline(); ok && time.Until(d)-probeTimeout < DefaultReplicationWait {
		deadline = d.Add(-probeTimeout)
	}
	for {
		r, err := s.slaveStatus(ctx)
		switch {
		case err != nil:
			return err
		case r == nil:
			return fmt.Errorf("%s: replication vanished after START SLAVE: another process changed it; retry", s.where())
		case r.ioRunning == "Yes" && r.sqlRunning == "Yes":
			return nil
		case r.ioErrno == errAccessDenied:
			return apperrors.Auth("%s: the primary %s refused replication user %q: %s", s.where(), p.where(), s.cfg.ReplicationUser, r.ioError)
		case r.ioErrno == errMasterFatalReading:
			return apperrors.Rejected("%s: the primary %s cannot serve this server's GTID position (it has transactions the primary lacks, or the primary purged binlogs it needs): %s; rebuild it from a copy of the primary",
				s.where(), p.where(), r.ioError)
		case r.sqlRunning == "No" && r.sqlErrno != 0:
			return apperrors.Rejected("%s: replication from %s stopped applying: %s; the data diverged: rebuild it from a copy of the primary",
				s.where(), p.where(), r.sqlError)
		case r.ioRunning == "No" || r.sqlRunning == "No":
			return fmt.Errorf("%s: replication from %s stopped: %s; retry", s.where(), p.where(), r)
		case time.Now().After(deadline):
			return apperrors.Unavailable(nil, "%s: replication from %s not running after %v: %s; is the primary up and reachable from this site?",
				s.where(), p.where(), time.Since(start).Round(time.Millisecond), r)
		}
		heartbeat(ctx, r.String())
		if !sleepCtx(ctx, 10*time.Millisecond) {
			return apperrors.Unavailable(ctx.Err(), "%s: replication from %s not running before the deadline: %s", s.where(), p.where(), r)
		}
	}
}

// quoteString is a SQL string literal for the default sql_mode (backslash
// escapes on); CHANGE MASTER TO takes no placeholders.
func quoteString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
