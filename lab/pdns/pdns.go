// Package pdns runs one site's real PowerDNS Authoritative server (Debian's
// pdns_server 4.7 with the gsqlite3 backend) for the lab. Its API client
// (zones, RRsets, geo LUA records) is package pdnsapi's, shared with the
// DNS activities.
package pdns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/microdc/mdc/lab/proc"
)

// Options configures one site's PowerDNS.
type Options struct {
	Dir     string // state dir: pdns.conf, pdns.sqlite3, control socket, pdns.log
	DNSAddr string // ip:port for DNS over UDP and TCP
	APIAddr string // ip:port for the HTTP API (webserver)
	APIKey  string // API key; written only to pdns.conf (mode 0600), never logged
}

// PDNS is a running pdns_server and a client for its API.
type PDNS struct {
	*Client
	opts Options
	p    *proc.Process
}

// Timeouts used when the caller's context has no deadline, and the grace a
// stopping pdns_server gets before SIGKILL.
const (
	defaultStartTimeout = 20 * time.Second
	stopGrace           = 5 * time.Second
)

// Start creates the sqlite3 database from Debian's schema if Dir has none,
// (re)writes Dir/pdns.conf from o, runs pdns_server in the foreground and
// returns once DNS accepts TCP connections and the API answers with o.APIKey.
func Start(ctx context.Context, o Options) (*PDNS, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("pdns: state dir %q: %w", o.Dir, err)
	}
	o.Dir = dir
	// Unix socket paths are limited to 107 bytes by the kernel.
	if len(filepath.Join(dir, "pdns.controlsocket")) > 100 {
		return nil, fmt.Errorf("pdns: state dir %q is too long for its control socket (keep it under ~80 characters)", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("pdns: create state dir: %w", err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultStartTimeout)
		defer cancel()
	}
	if err := ensureDB(ctx, filepath.Join(dir, dbFile)); err != nil {
		return nil, err
	}
	if err := writeConfig(o); err != nil {
		return nil, err
	}
	if err := checkFree(o); err != nil {
		return nil, err
	}
	p, err := proc.Start("pdns_server", filepath.Join(dir, "pdns.log"), nil,
		"pdns_server", "--config-dir="+dir, "--daemon=no", "--guardian=no", "--disable-syslog")
	if err != nil {
		return nil, err
	}
	s := &PDNS{Client: NewClient("http://"+o.APIAddr, o.APIKey), opts: o, p: p}
	if err := s.waitReady(ctx); err != nil {
		p.Kill()
		return nil, err
	}
	return s, nil
}

// validate reports every problem with o, naming the field to fix.
func (o Options) validate() error {
	var errs []error
	if o.Dir == "" {
		errs = append(errs, errors.New("Dir is empty"))
	}
	for _, a := range []struct{ field, addr string }{{"DNSAddr", o.DNSAddr}, {"APIAddr", o.APIAddr}} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q is not ip:port: %w", a.field, a.addr, err))
		}
	}
	// The key goes into a key=value config line: whitespace or '#' would
	// silently change it.
	if o.APIKey == "" || strings.ContainsAny(o.APIKey, " \t\r\n#") {
		errs = append(errs, errors.New("APIKey must be non-empty and contain no whitespace or '#'"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("pdns options: %w", err)
	}
	return nil
}

// configTemplate is pdns.conf; %s are filled by writeConfig.
const configTemplate = `# Written by mdc's lab on every start from its options.
launch=gsqlite3
gsqlite3-database=%s
local-address=%s
socket-dir=%s
api=yes
api-key=%s
webserver=yes
webserver-address=%s
webserver-port=%s
webserver-allow-from=127.0.0.0/8
# "detailed" would log request headers, and with them the API key.
webserver-loglevel=normal
# LUA view() records answer by client subnet: the EDNS Client Subnet
# address when a query carries one (edns-subnet-processing), else the source.
enable-lua-records=yes
edns-subnet-processing=yes
# Health checks behind ifurlup() every second (default 5s): the lab's
# failover drills measure RTO, and DNS should not dominate it.
lua-health-checks-interval=1
# The lab has no Internet: no security-status queries.
security-poll-suffix=
# Small: the lab runs one of these per site on 2 cores.
receiver-threads=1
distributor-threads=1
`

// writeConfig writes Dir/pdns.conf readable by its owner only: it holds the key.
func writeConfig(o Options) error {
	host, port, _ := net.SplitHostPort(o.APIAddr)
	body := fmt.Sprintf(configTemplate, filepath.Join(o.Dir, dbFile), o.DNSAddr, o.Dir, o.APIKey, host, port)
	path := filepath.Join(o.Dir, "pdns.conf")
	tmp := path + ".tmp"
	_ = os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("pdns: write config: %w", err)
	}
	_, err = f.WriteString(body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("pdns: write config %s: %w", path, err)
	}
	return nil
}

// checkFree fails when something already listens on one of o's addresses:
// pdns_server would fail to bind, but a readiness probe could mistake the
// squatter for it.
func checkFree(o Options) error {
	if c, err := net.ListenPacket("udp", o.DNSAddr); err != nil {
		return fmt.Errorf("pdns: DNS address %s (UDP) is not free (is another pdns or lab still running there?): %w", o.DNSAddr, err)
	} else {
		c.Close()
	}
	for _, a := range []struct{ what, addr string }{{"DNS address", o.DNSAddr}, {"API address", o.APIAddr}} {
		l, err := net.Listen("tcp", a.addr)
		if err != nil {
			return fmt.Errorf("pdns: %s %s (TCP) is not free (is another pdns or lab still running there?): %w", a.what, a.addr, err)
		}
		l.Close()
	}
	return nil
}

// waitReady waits for DNS over TCP and for the API to accept our key.
func (s *PDNS) waitReady(ctx context.Context) error {
	for _, addr := range []string{s.opts.DNSAddr, s.opts.APIAddr} {
		if err := s.p.WaitTCP(ctx, addr); err != nil {
			return fmt.Errorf("pdns: %w", err)
		}
	}
	for {
		err := s.Ping(ctx)
		if err == nil || errors.Is(err, ErrKeyRejected) {
			return err
		}
		select {
		case <-s.p.Exited():
			return fmt.Errorf("pdns_server exited before its API answered; log %s ends:\n%s", s.p.LogPath, s.p.Tail(2000))
		case <-ctx.Done():
			return fmt.Errorf("pdns API %s not answering: %v (%w); log %s ends:\n%s", s.opts.APIAddr, err, ctx.Err(), s.p.LogPath, s.p.Tail(2000))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop stops pdns_server: SIGTERM, and SIGKILL after a grace period.
func (s *PDNS) Stop() error {
	if err := s.p.Stop(stopGrace); err != nil {
		return fmt.Errorf("pdns: stop PID %d: %w", s.p.PID(), err)
	}
	return nil
}

// Kill stops pdns_server at once with SIGKILL, as a crashed site would.
func (s *PDNS) Kill() { s.p.Kill() }

// PID is pdns_server's process ID.
func (s *PDNS) PID() int { return s.p.PID() }

// DNSAddr is the ip:port pdns_server answers DNS on.
func (s *PDNS) DNSAddr() string { return s.opts.DNSAddr }

// LogPath is the file pdns_server's output goes to.
func (s *PDNS) LogPath() string { return s.p.LogPath }

// Exited is closed when pdns_server has exited.
func (s *PDNS) Exited() <-chan struct{} { return s.p.Exited() }
