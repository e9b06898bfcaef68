package node

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
)

// VisitsSchema creates the table GET /db writes to. A node runs it itself
// when the table is missing, so the lab's database setup may run it too (it
// is idempotent) or leave it to the first node.
const VisitsSchema = `CREATE TABLE IF NOT EXISTS visits (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  node VARCHAR(64) NOT NULL,
  site VARCHAR(32) NOT NULL,
  created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB`

// Database status values, reported in Info.DB, the X-MDC-DB header and /db replies.
const (
	DBOK           = "ok"
	DBReadOnly     = "read-only"
	DBDown         = "down"  // unreachable or not answering
	DBError        = "error" // reachable, but the statement failed
	DBUnknown      = "unknown"
	DBUnconfigured = "unconfigured"
)

const (
	// dbTimeout bounds connecting and every statement: a web request must
	// fail fast when the site's database is gone, not hang the LB's check.
	dbTimeout = 2 * time.Second
	// probeEvery is how stale the status may get before a health check
	// refreshes it in the background.
	probeEvery = 2 * time.Second
)

// MariaDB errors that mean "this server does not take writes":
// ER_OPTION_PREVENTS_STATEMENT (read_only), ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION,
// ER_READ_ONLY_MODE.
var readOnlyErrors = map[uint16]bool{1290: true, 1792: true, 1836: true}

const errNoSuchTable = 1146

// database is a node's lazily connected handle on the site's MariaDB with
// the last status it observed.
type database struct {
	db   *sql.DB // nil when no DSN was given
	addr string
	log  *slog.Logger

	ctx    context.Context // cancelled by close, ends background probes
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	st      string
	checked time.Time
	probing bool
}

// dbError is a failed database operation with the status it implies and a
// message fit for an HTTP reply (it never contains the DSN or password).
type dbError struct {
	status string
	msg    string
	err    error
}

func (e *dbError) Error() string { return e.msg }
func (e *dbError) Unwrap() error { return e.err }

func openDatabase(dsn string, log *slog.Logger) (*database, error) {
	ctx, cancel := context.WithCancel(context.Background())
	d := &database{log: log, ctx: ctx, cancel: cancel, st: DBUnconfigured}
	if dsn == "" {
		return d, nil
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		cancel()
		// The driver's parse errors name the problem, never the password.
		return nil, fmt.Errorf("DSN is not in go-sql-driver format (user:password@tcp(host:port)/db): %w", err)
	}
	if cfg.Timeout == 0 || cfg.Timeout > dbTimeout {
		cfg.Timeout = dbTimeout // dial
	}
	// Socket deadlines are only a backstop behind each statement's context
	// (dbTimeout); were they equal, a hung server would race the two and
	// be reported as "invalid connection" instead of "did not answer".
	for _, t := range []*time.Duration{&cfg.ReadTimeout, &cfg.WriteTimeout} {
		if *t == 0 || *t > dbTimeout+time.Second {
			*t = dbTimeout + time.Second
		}
	}
	cfg.InterpolateParams = true // one round trip per statement instead of prepare/exec/close
	cfg.Logger = driverLogger{log}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("database at %s: %w", cfg.Addr, err)
	}
	d.db = sql.OpenDB(conn)
	// A web VM has a small pool; hundreds of lab nodes share one mariadbd.
	d.db.SetMaxOpenConns(4)
	d.db.SetMaxIdleConns(2)
	d.db.SetConnMaxIdleTime(30 * time.Second)
	d.addr, d.st = cfg.Addr, DBUnknown
	return d, nil
}

// driverLogger sends go-sql-driver's own messages (e.g. "unexpected EOF"
// when a failed-over server drops a connection) to the node's log.
type driverLogger struct{ log *slog.Logger }

func (l driverLogger) Print(v ...any) { l.log.Debug("mysql driver", "msg", fmt.Sprint(v...)) }

func (d *database) addrOrNone() string {
	if d.db == nil {
		return "none"
	}
	return d.addr
}

func (d *database) close() {
	d.cancel()
	d.wg.Wait()
	if d.db != nil {
		_ = d.db.Close()
	}
}

func (d *database) status() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st
}

func (d *database) setStatus(st string) {
	d.mu.Lock()
	prev := d.st
	d.st, d.checked = st, time.Now()
	d.mu.Unlock()
	if prev != st {
		d.log.Info("database status changed", "db", d.addr, "from", prev, "to", st)
	}
}

// refresh starts a background probe when the status is stale and returns at
// once: health checks report the last known status and never wait on the
// database.
func (d *database) refresh() {
	if d.db == nil {
		return
	}
	d.mu.Lock()
	if d.probing || time.Since(d.checked) < probeEvery || d.ctx.Err() != nil {
		d.mu.Unlock()
		return
	}
	d.probing = true
	d.wg.Add(1)
	d.mu.Unlock()
	go func() {
		defer d.wg.Done()
		ctx, cancel := context.WithTimeout(d.ctx, dbTimeout)
		defer cancel()
		var ro int
		err := d.db.QueryRowContext(ctx, "SELECT @@global.read_only").Scan(&ro)
		if d.ctx.Err() == nil { // a probe cut short by Stop says nothing about the database
			switch {
			case err != nil:
				d.setStatus(d.classify(ctx, err).status)
			case ro != 0:
				d.setStatus(DBReadOnly)
			default:
				d.setStatus(DBOK)
			}
		}
		d.mu.Lock()
		d.probing = false
		d.mu.Unlock()
	}()
}

// visit records one visit by node and returns its row id and the table's row count.
func (d *database) visit(ctx context.Context, node, site string) (id, count int64, err error) {
	if d.db == nil {
		return 0, 0, &dbError{status: DBUnconfigured, msg: "no database is configured for this node"}
	}
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	const insert = "INSERT INTO visits (node, site) VALUES (?, ?)"
	res, err := d.db.ExecContext(ctx, insert, node, site)
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == errNoSuchTable {
		if _, err = d.db.ExecContext(ctx, VisitsSchema); err == nil {
			res, err = d.db.ExecContext(ctx, insert, node, site)
		}
	}
	if err == nil {
		id, err = res.LastInsertId()
	}
	if err == nil {
		err = d.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM visits").Scan(&count)
	}
	if err != nil && errors.Is(ctx.Err(), context.Canceled) {
		// The HTTP client hung up; that says nothing about the database.
		return 0, 0, &dbError{status: d.status(), msg: "request cancelled by the client", err: err}
	}
	if err != nil {
		de := d.classify(ctx, err)
		d.setStatus(de.status)
		return 0, 0, de
	}
	d.setStatus(DBOK)
	return id, count, nil
}

// classify turns a driver error into a status and a message that says what
// is wrong with the database at which address, without credentials.
func (d *database) classify(ctx context.Context, err error) *dbError {
	var me *mysql.MySQLError
	switch {
	case errors.As(err, &me) && readOnlyErrors[me.Number]:
		return &dbError{DBReadOnly, fmt.Sprintf("database at %s is read-only (a replica, or fenced during failover); writes go to the primary", d.addr), err}
	case errors.As(err, &me):
		return &dbError{DBError, fmt.Sprintf("database at %s refused the statement: error %d: %s", d.addr, me.Number, me.Message), err}
	case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded):
		return &dbError{DBDown, fmt.Sprintf("database at %s did not answer within %v", d.addr, dbTimeout), err}
	default:
		return &dbError{DBDown, fmt.Sprintf("database at %s is unreachable: %v", d.addr, err), err}
	}
}
