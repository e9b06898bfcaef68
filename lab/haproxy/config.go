package haproxy

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/microdc/mdc/haproxyapi"
)

// nameRE is the character set HAProxy accepts in proxy and server names.
var nameRE = haproxyapi.NameRE

// validate reports the first problem with o, naming the field to fix.
func (o Options) validate() error {
	var errs []error
	if o.Dir == "" {
		errs = append(errs, errors.New("Dir is empty"))
	}
	for _, a := range []struct{ field, addr string }{{"RuntimeAPI", o.RuntimeAPI}, {"Frontend", o.Frontend}} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q is not ip:port: %w", a.field, a.addr, err))
		}
	}
	if !nameRE.MatchString(o.Backend) {
		errs = append(errs, fmt.Errorf("Backend %q must be non-empty and use only letters, digits, _ . : -", o.Backend))
	}
	if !strings.HasPrefix(o.HealthPath, "/") || strings.ContainsAny(o.HealthPath, " \t\r\n") {
		errs = append(errs, fmt.Errorf("HealthPath %q must start with / and contain no spaces", o.HealthPath))
	}
	seen := map[string]bool{}
	for _, s := range o.Servers {
		if !nameRE.MatchString(s.Name) {
			errs = append(errs, fmt.Errorf("server name %q must be non-empty and use only letters, digits, _ . : -", s.Name))
		}
		if seen[s.Name] {
			errs = append(errs, fmt.Errorf("server name %q is used twice", s.Name))
		}
		seen[s.Name] = true
		if _, _, err := net.SplitHostPort(s.Addr); err != nil {
			errs = append(errs, fmt.Errorf("server %s address %q is not ip:port: %w", s.Name, s.Addr, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("haproxy options: %w", err)
	}
	return nil
}

// hasConfig reports whether dir already holds a configuration (*.cfg), which
// Start then keeps: it may carry servers the mdc activities persisted.
func hasConfig(dir string) (bool, error) {
	m, err := filepath.Glob(filepath.Join(dir, "*.cfg"))
	if err != nil {
		return false, err
	}
	return len(m) > 0, nil
}

// configFiles renders the initial configuration, file name to content.
func (o Options) configFiles() map[string]string {
	global := fmt.Sprintf(`# Written by mdc's lab on first start; edits here survive restarts.
global
    # Runtime API for mdc (TCP) and for people on this machine (unix socket).
    stats socket ipv4@%s level admin expose-fd listeners
    stats socket %s mode 600 level admin
    # Saved before every reload and stop, so maint/drain states and weights
    # survive them (servers added at run time do not unless put in a file here).
    server-state-file %s
    # Small and single-threaded: the lab runs several of these on 2 cores.
    maxconn 1000
    nbthread 1
    # A reload must not leave old workers behind for long.
    hard-stop-after 5s

defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    timeout check 1s
    # A request that meets a node dying before its checks notice goes to another.
    retries 2
    option redispatch
    load-server-state-from-file global
`, o.RuntimeAPI, filepath.Join(o.Dir, "admin.sock"), filepath.Join(o.Dir, "server-state"))

	frontend := fmt.Sprintf(`frontend fe_web
    bind %s
    default_backend %s
`, o.Frontend, o.Backend)

	// The backend file is the one mdc's load-balancer activities rewrite
	// to persist servers, so both render it through haproxyapi.
	return map[string]string{
		"00-global.cfg":                       global,
		"10-frontend.cfg":                     frontend,
		haproxyapi.BackendFileName(o.Backend): haproxyapi.NewBackendFile(o.Backend, o.HealthPath, o.Servers).Render(),
	}
}

// writeConfig writes the initial configuration into dir.
func (o Options) writeConfig(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("haproxy: create config dir: %w", err)
	}
	for name, body := range o.configFiles() {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			return fmt.Errorf("haproxy: write config: %w", err)
		}
	}
	return nil
}
