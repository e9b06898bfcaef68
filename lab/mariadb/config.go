package mariadb

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// paths is where an instance keeps its files inside Options.Dir.
type paths struct {
	dir, data, cnf, socket, pid, log, installLog, marker, tmp string
}

func layout(dir string) paths {
	return paths{
		dir:        dir,
		data:       filepath.Join(dir, "data"),
		cnf:        filepath.Join(dir, "my.cnf"),
		socket:     filepath.Join(dir, "mariadbd.sock"),
		pid:        filepath.Join(dir, "mariadbd.pid"),
		log:        filepath.Join(dir, "mariadbd.log"),
		installLog: filepath.Join(dir, "install.log"),
		// A private tmpdir: instances installed or running side by side in
		// the shared /tmp collide on internal temporary table names.
		tmp: filepath.Join(dir, "tmp"),
		// marker records that bootstrap (users, database) finished, so a
		// crash between install and bootstrap is repaired on the next Start.
		marker: filepath.Join(dir, "bootstrapped"),
	}
}

// memoryOptions keep an instance small (the lab runs several on 2 cores)
// and portable: native AIO (io_uring/libaio) fails in some containers, and
// the lab's load does not need it.
var memoryOptions = []string{
	"innodb-buffer-pool-size=32M",
	"innodb-log-file-size=16M",
	"innodb-log-buffer-size=4M",
	"innodb-use-native-aio=0",
	"key-buffer-size=1M",
	"aria-pagecache-buffer-size=8M",
	"performance-schema=OFF",
	"skip-name-resolve",
}

// renderConfig is the instance's own my.cnf; the system one is never read
// (mariadbd gets --defaults-file).
func renderConfig(o Options, p paths) string {
	host, port, _ := net.SplitHostPort(o.Addr)
	lines := []string{
		"# Written by mdc's lab (lab/mariadb) on every start; edits are overwritten.",
		"[mariadbd]",
		"datadir=" + p.data,
		"socket=" + p.socket,
		"tmpdir=" + p.tmp,
		"pid-file=" + p.pid,
		"bind-address=" + host,
		"port=" + port,
		fmt.Sprintf("server-id=%d", o.ServerID),
		// No log-error: errors go to stderr, which proc appends to
		// mariadbd.log, so start-up failures show in the returned error.
		"log-bin=binlog",
		"relay-log=relay-bin", // not hostname-derived, so a copied datadir still works
		"log-slave-updates=ON",
		"binlog-format=ROW",
		"gtid-strict-mode=ON",
		// Fail safe: an instance that restarts (or a fenced primary that
		// comes back) must not take app writes until promoted again.
		"read-only=ON",
		// Replicas notice a dead primary within seconds (heartbeat every 5s).
		"slave-net-timeout=10",
		"character-set-server=utf8mb4",
		"collation-server=utf8mb4_general_ci",
		"max-connections=200",
	}
	lines = append(lines, memoryOptions...)
	return strings.Join(lines, "\n") + "\n"
}

// installDatadir runs mariadb-install-db into a scratch directory and
// renames it into place, so a half-written datadir is never mistaken for a
// finished one.
func installDatadir(ctx context.Context, o Options, p paths) error {
	tmp := p.data + ".init"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("mariadb %s: remove leftover %s: %w", o.Addr, tmp, err)
	}
	// A new datadir has no users yet, whatever an old marker says.
	if err := os.Remove(p.marker); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("mariadb %s: remove stale %s: %w", o.Addr, p.marker, err)
	}
	// --no-defaults must come first. No log-bin here: the bootstrap must
	// not create GTIDs, which would differ between instances.
	args := []string{"--no-defaults", "--datadir=" + tmp,
		"--auth-root-authentication-method=socket", "--skip-test-db", "--tmpdir=" + p.tmp}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	for _, opt := range memoryOptions {
		args = append(args, "--"+opt)
	}
	logf, err := os.OpenFile(p.installLog, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("mariadb %s: create %s: %w", o.Addr, p.installLog, err)
	}
	defer logf.Close()
	cmd := exec.CommandContext(ctx, "mariadb-install-db", args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// The script starts mariadbd --bootstrap as a child: kill the group.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("mariadb %s: mariadb-install-db into %s failed: %w; %s ends:\n%s",
			o.Addr, tmp, err, p.installLog, tail(p.installLog, 2000))
	}
	if err := os.Rename(tmp, p.data); err != nil {
		return fmt.Errorf("mariadb %s: move new datadir into place: %w", o.Addr, err)
	}
	return nil
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}
