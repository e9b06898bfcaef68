// Package mariadb runs real MariaDB 10.11 servers (Debian's mariadbd) for the
// lab: one per site, the first a GTID primary and the second a GTID replica
// of it. It only provisions; mdc's activities promote, fence and repoint the
// servers themselves over SQL with the admin user created here.
package mariadb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/microdc/mdc/lab/proc"
)

// Users are the accounts every instance gets on first initialisation.
type Users struct {
	// AdminUser is what mdc's activities use to manage replication, fence
	// and promote: granular privileges only, no SUPER, no table access.
	AdminUser, AdminPassword string
	// AppUser is what the web nodes use: DML on the app database only, so
	// read_only stops it.
	AppUser, AppPassword string
	// ReplUser is what a replica uses to pull the primary's binlog.
	ReplUser, ReplPassword string
}

// Options describe one instance.
type Options struct {
	Dir      string // holds datadir, socket, logs and my.cnf of this instance
	Addr     string // ip:port to bind; the IP must be literal
	ServerID uint32 // unique per instance, > 0
	Database string // the app database, e.g. "mdc_app"
	Users    Users
}

// MariaDB is a running mariadbd.
type MariaDB struct {
	opts  Options
	paths paths
	proc  *proc.Process
	root  *sql.DB
}

const (
	// startTimeout caps Start when ctx has no earlier deadline: a fresh
	// datadir takes ~3s and a restart ~0.5s here, crash recovery longer.
	startTimeout = 2 * time.Minute
	// stopGrace is how long a clean InnoDB shutdown may take before SIGKILL;
	// with a 32M buffer pool it takes well under a second.
	stopGrace = 30 * time.Second
	// maxSocketPath is the limit of sun_path (108 bytes with the NUL).
	maxSocketPath = 107
)

var identRE = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)

// Start initialises the datadir when absent (mariadb-install-db, root via
// unix socket only), writes Dir/my.cnf, starts mariadbd and waits until it
// accepts connections. On first initialisation it creates the users and the
// app database without binary-logging them, so every instance's GTID set
// stays compatible. Later starts reuse the datadir as it is. Every instance
// starts read_only: MakePrimary or mdc's promotion turns that off.
func Start(ctx context.Context, o Options) (*MariaDB, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("mariadb %s: resolve Dir %q: %w", o.Addr, o.Dir, err)
	}
	o.Dir = dir
	ps := layout(dir)
	if len(ps.socket) > maxSocketPath {
		return nil, fmt.Errorf("mariadb %s: socket path %s is %d bytes, the limit is %d: use a shorter Dir",
			o.Addr, ps.socket, len(ps.socket), maxSocketPath)
	}
	if err := os.MkdirAll(ps.tmp, 0o700); err != nil {
		return nil, fmt.Errorf("mariadb %s: create Dir: %w", o.Addr, err)
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()

	if _, err := os.Stat(filepath.Join(ps.data, "mysql")); errors.Is(err, os.ErrNotExist) {
		if err := installDatadir(ctx, o, ps); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("mariadb %s: inspect datadir %s: %w", o.Addr, ps.data, err)
	}
	if err := os.WriteFile(ps.cnf, []byte(renderConfig(o, ps)), 0o600); err != nil {
		return nil, fmt.Errorf("mariadb %s: write %s: %w", o.Addr, ps.cnf, err)
	}
	// Stale socket or pid files from a killed server would not stop
	// mariadbd, but a stale socket would let us "connect" to nothing.
	_ = os.Remove(ps.socket)

	// --defaults-file must come first; --user=root because mariadbd refuses
	// to run as root without it.
	argv := []string{"mariadbd", "--defaults-file=" + ps.cnf}
	if os.Geteuid() == 0 {
		argv = append(argv, "--user=root")
	}
	p, err := proc.Start("mariadbd "+o.Addr, ps.log, nil, argv...)
	if err != nil {
		return nil, err
	}
	m := &MariaDB{opts: o, paths: ps, proc: p}
	if err := m.waitReady(ctx); err != nil {
		m.Kill()
		return nil, err
	}
	if _, err := os.Stat(ps.marker); errors.Is(err, os.ErrNotExist) {
		if err := m.bootstrap(ctx); err != nil {
			m.Kill()
			return nil, err
		}
		if err := os.WriteFile(ps.marker, []byte("users and database created\n"), 0o600); err != nil {
			m.Kill()
			return nil, fmt.Errorf("mariadb %s: write %s: %w", o.Addr, ps.marker, err)
		}
	}
	return m, nil
}

// waitReady waits until the server listens on Addr and answers root over
// its socket, or fails with the log's tail when it exits first.
func (m *MariaDB) waitReady(ctx context.Context) error {
	if err := m.proc.WaitTCP(ctx, m.opts.Addr); err != nil {
		return fmt.Errorf("mariadb: %w", err)
	}
	db, err := sql.Open("mysql", rootDSN(m.paths.socket))
	if err != nil {
		return fmt.Errorf("mariadb %s: open root connection: %w", m.opts.Addr, err)
	}
	db.SetMaxOpenConns(4)
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err = db.PingContext(pctx)
		cancel()
		if err == nil {
			m.root = db
			return nil
		}
		select {
		case <-m.proc.Exited():
			db.Close()
			return fmt.Errorf("mariadb %s exited while starting; log %s ends:\n%s", m.opts.Addr, m.paths.log, m.proc.Tail(2000))
		case <-ctx.Done():
			db.Close()
			return fmt.Errorf("mariadb %s: root cannot connect over %s: %v (%w); log %s ends:\n%s",
				m.opts.Addr, m.paths.socket, err, ctx.Err(), m.paths.log, m.proc.Tail(2000))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop shuts the server down cleanly (SIGTERM), killing it after a grace period.
func (m *MariaDB) Stop() error {
	if m.root != nil {
		m.root.Close()
	}
	if err := m.proc.Stop(stopGrace); err != nil {
		return fmt.Errorf("mariadb %s: stop pid %d: %w", m.opts.Addr, m.PID(), err)
	}
	return nil
}

// Kill stops the server with SIGKILL, as a crash would; the next Start runs
// InnoDB crash recovery.
func (m *MariaDB) Kill() {
	if m.root != nil {
		m.root.Close()
	}
	m.proc.Kill()
}

// PID is mariadbd's process ID.
func (m *MariaDB) PID() int { return m.proc.PID() }

// Addr is the ip:port the server listens on.
func (m *MariaDB) Addr() string { return m.opts.Addr }

// SocketPath is the server's unix socket, where root logs in without a
// password (unix_socket authentication) when the caller runs as root.
func (m *MariaDB) SocketPath() string { return m.paths.socket }

// LogPath is the file receiving mariadbd's error log.
func (m *MariaDB) LogPath() string { return m.paths.log }

func (o Options) validate() error {
	var errs []error
	if o.Dir == "" {
		errs = append(errs, errors.New("Dir is empty"))
	}
	host, port, err := net.SplitHostPort(o.Addr)
	if err != nil {
		errs = append(errs, fmt.Errorf("Addr %q is not ip:port: %w", o.Addr, err))
	} else {
		if net.ParseIP(host) == nil {
			errs = append(errs, fmt.Errorf("Addr %q: host must be a literal IP", o.Addr))
		}
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			errs = append(errs, fmt.Errorf("Addr %q: bad port", o.Addr))
		}
	}
	if o.ServerID == 0 {
		errs = append(errs, errors.New("ServerID must be > 0 and unique per instance"))
	}
	if !identRE.MatchString(o.Database) {
		errs = append(errs, fmt.Errorf("Database %q must match %s", o.Database, identRE))
	}
	u := o.Users
	seen := map[string]bool{}
	for _, c := range []struct{ role, name, pw string }{
		{"AdminUser", u.AdminUser, u.AdminPassword},
		{"AppUser", u.AppUser, u.AppPassword},
		{"ReplUser", u.ReplUser, u.ReplPassword},
	} {
		if !identRE.MatchString(c.name) || c.name == "root" {
			errs = append(errs, fmt.Errorf("%s %q must match %s and not be root", c.role, c.name, identRE))
		}
		if seen[c.name] {
			errs = append(errs, fmt.Errorf("%s %q is also another role's user: give each role its own", c.role, c.name))
		}
		seen[c.name] = true
		if err := checkPassword(c.pw); err != nil {
			errs = append(errs, fmt.Errorf("%s's password: %w", c.role, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("mariadb: invalid options: %w", err)
	}
	return nil
}

func checkPassword(pw string) error {
	if pw == "" {
		return errors.New("is empty")
	}
	for _, r := range pw {
		if r == 0 {
			return errors.New("contains a NUL byte")
		}
	}
	return nil
}
