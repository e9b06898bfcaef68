package db

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Replication roles, as ReplicationStatus reports them.
const (
	RolePrimary = "primary" // writable and not replicating
	RoleReplica = "replica" // replication configured (threads running or not)
	RoleNone    = "none"    // neither: fenced, restarted or never set up
)

// sqlIdleState is the Slave_SQL thread's state once it has applied all it
// received; its processlist TIME_MS then counts from the last applied event.
const sqlIdleState = "Slave has read all relay log; waiting for more updates"

// serverState is what one look at a server shows.
type serverState struct {
	readOnly                           bool
	gtidCurrent, gtidSlave, gtidBinlog string
	replica                            *slaveStatus // nil: no replication configured
}

// slaveStatus is the part of SHOW SLAVE STATUS the activities use.
type slaveStatus struct {
	host                  string
	port                  int
	user, usingGTID       string
	ioRunning, sqlRunning string // Yes, No, Connecting, Preparing
	secondsBehind         *int64
	ioErrno, sqlErrno     int
	ioError, sqlError     string
	gtidIOPos             string
	sqlState              string
	sqlIdle               time.Duration // Slave_SQL thread's time in its state; -1 if none
}

func (r *slaveStatus) String() string {
	return fmt.Sprintf("replicating from %s:%d: Slave_IO_Running=%s Slave_SQL_Running=%s Last_IO_Error=%q Last_SQL_Error=%q",
		r.host, r.port, r.ioRunning, r.sqlRunning, r.ioError, r.sqlError)
}

// state reads the server's read_only, GTID positions and replication.
func (s *site) state(ctx context.Context) (*serverState, error) {
	st := &serverState{}
	err := s.pool.QueryRowContext(ctx,
		"SELECT @@global.read_only, @@global.gtid_current_pos, @@global.gtid_slave_pos, @@global.gtid_binlog_pos").
		Scan(&st.readOnly, &st.gtidCurrent, &st.gtidSlave, &st.gtidBinlog)
	if err != nil {
		return nil, s.fail(err, "read read_only and GTID positions")
	}
	if st.replica, err = s.slaveStatus(ctx); err != nil {
		return nil, err
	}
	return st, nil
}

// slaveStatus reads SHOW SLAVE STATUS by column name (the columns vary
// between versions) and the SQL thread's processlist entry; nil means no
// replication is configured (never, or RESET SLAVE ALL).
func (s *site) slaveStatus(ctx context.Context) (*slaveStatus, error) {
	rows, err := s.pool.QueryContext(ctx, "SHOW SLAVE STATUS")
	if err != nil {
		return nil, s.fail(err, "SHOW SLAVE STATUS")
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, s.fail(err, "SHOW SLAVE STATUS")
	}
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, s.fail(err, "SHOW SLAVE STATUS")
		}
		return nil, nil
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, s.fail(err, "SHOW SLAVE STATUS")
	}
	rows.Close()
	get := func(name string) sql.NullString {
		for i, c := range cols {
			if c == name {
				return vals[i]
			}
		}
		return sql.NullString{}
	}
	r := &slaveStatus{
		host: get("Master_Host").String, user: get("Master_User").String,
		usingGTID: get("Using_Gtid").String,
		ioRunning: get("Slave_IO_Running").String, sqlRunning: get("Slave_SQL_Running").String,
		ioError: scrub(get("Last_IO_Error").String, s.secrets), sqlError: scrub(get("Last_SQL_Error").String, s.secrets),
		gtidIOPos: strings.Join(strings.Fields(get("Gtid_IO_Pos").String), ""),
		sqlState:  get("Slave_SQL_Running_State").String,
		sqlIdle:   -1,
	}
	r.port, _ = strconv.Atoi(get("Master_Port").String)
	r.ioErrno, _ = strconv.Atoi(get("Last_IO_Errno").String)
	r.sqlErrno, _ = strconv.Atoi(get("Last_SQL_Errno").String)
	if v := get("Seconds_Behind_Master"); v.Valid {
		if n, err := strconv.ParseInt(v.String, 10, 64); err == nil {
			r.secondsBehind = &n
		}
	}
	if r.host == "" {
		return nil, nil // RESET SLAVE without ALL leaves an empty row
	}
	// The SQL thread's time in its current state: with PROCESS the admin
	// sees system threads. No row: the thread is stopped.
	var ms float64
	err = s.pool.QueryRowContext(ctx,
		"SELECT TIME_MS FROM information_schema.PROCESSLIST WHERE COMMAND='Slave_SQL' ORDER BY ID LIMIT 1").Scan(&ms)
	switch {
	case err == sql.ErrNoRows:
	case err != nil:
		return nil, s.fail(err, "read the replication SQL thread from information_schema.PROCESSLIST")
	default:
		r.sqlIdle = time.Duration(ms * float64(time.Millisecond))
	}
	return r, nil
}

// ReplicationStatusInput names the site to look at.
type ReplicationStatusInput struct {
	Site string
}

// ReplicationStatusResult is one look at a site's database.
type ReplicationStatusResult struct {
	Role           string // RolePrimary, RoleReplica or RoleNone
	ReadOnly       bool
	GTIDCurrentPos string
	GTIDSlavePos   string
	GTIDBinlogPos  string
	// GTIDIOPos is what the IO thread has received (Gtid_IO_Pos); replicas only.
	GTIDIOPos string
	// IORunning and SQLRunning are true when the thread runs (Yes);
	// IOState and SQLState hold the raw value (Yes, No, Connecting, Preparing).
	IORunning, SQLRunning bool
	IOState, SQLState     string
	MasterHost            string
	MasterPort            int
	// MasterSite is the configured site whose Address is MasterHost:MasterPort.
	MasterSite string
	// SecondsBehindMaster is nil when MariaDB reports NULL (a thread stopped).
	SecondsBehindMaster *int64
	LastIOError         string
	LastSQLError        string
}

// ReplicationStatus reports a site's role, read_only, GTID positions and
// replication threads. It changes nothing.
func (a *Activities) ReplicationStatus(ctx context.Context, in ReplicationStatusInput) (ReplicationStatusResult, error) {
	s, err := a.site(in.Site)
	if err != nil {
		return ReplicationStatusResult{}, err
	}
	ctx, cancel := withTimeout(ctx, defaultOpTimeout)
	defer cancel()
	st, err := s.state(ctx)
	if err != nil {
		return ReplicationStatusResult{}, err
	}
	res := ReplicationStatusResult{
		Role: RoleNone, ReadOnly: st.readOnly,
		GTIDCurrentPos: st.gtidCurrent, GTIDSlavePos: st.gtidSlave, GTIDBinlogPos: st.gtidBinlog,
	}
	switch r := st.replica; {
	case r != nil:
		res.Role = RoleReplica
		res.GTIDIOPos = r.gtidIOPos
		res.IORunning, res.SQLRunning = r.ioRunning == "Yes", r.sqlRunning == "Yes"
		res.IOState, res.SQLState = r.ioRunning, r.sqlRunning
		res.MasterHost, res.MasterPort = r.host, r.port
		if m := a.siteAt(r.host, r.port); m != nil {
			res.MasterSite = m.name
		}
		res.SecondsBehindMaster = r.secondsBehind
		res.LastIOError, res.LastSQLError = r.ioError, r.sqlError
	case !st.readOnly:
		res.Role = RolePrimary
	}
	return res, nil
}

// WriteCheckInput names the site whose server should be the primary.
type WriteCheckInput struct {
	Site string
}

// WriteCheckResult says whether the server takes the app's writes, as far
// as the admin account can tell.
type WriteCheckResult struct {
	Writable       bool
	ReadOnly       bool
	Replicating    bool   // a replication thread runs or is connecting
	Reason         string // why it is not writable; "" when it is
	GTIDCurrentPos string
}

// WriteCheck reports whether the site's server is writable for the app:
// read_only is OFF and it does not replicate. The admin account cannot
// write app tables, so this is the database-level half of verification;
// the workflows check an app write end to end through the web nodes. It
// changes nothing; a server that is not writable is a result, not an error.
func (a *Activities) WriteCheck(ctx context.Context, in WriteCheckInput) (WriteCheckResult, error) {
	s, err := a.site(in.Site)
	if err != nil {
		return WriteCheckResult{}, err
	}
	ctx, cancel := withTimeout(ctx, defaultOpTimeout)
	defer cancel()
	st, err := s.state(ctx)
	if err != nil {
		return WriteCheckResult{}, err
	}
	res := WriteCheckResult{ReadOnly: st.readOnly, GTIDCurrentPos: st.gtidCurrent}
	var why []string
	if st.readOnly {
		why = append(why, "read_only is ON (fenced, or never promoted)")
	}
	if r := st.replica; r != nil && (r.ioRunning != "No" || r.sqlRunning != "No") {
		res.Replicating = true
		why = append(why, r.String())
	}
	res.Writable = len(why) == 0
	res.Reason = strings.Join(why, "; ")
	return res, nil
}
