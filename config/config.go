// Package config is the process configuration of every mdc binary: where
// Temporal and NATS are, where state lives, which site a worker serves and
// how to log. It is read once, in main, from MDC_* environment variables;
// nothing else in mdc reads the environment.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/kelseyhightower/envconfig"
)

// Config is the process configuration. Each field's envconfig tag is the
// full variable name: with a prefix, envconfig would also fall back to the
// unprefixed name (LOG_LEVEL, SITE), letting unrelated variables of the
// environment configure mdc.
type Config struct {
	TemporalAddress       string `envconfig:"MDC_TEMPORAL_ADDRESS" default:"127.0.0.1:7233" desc:"Temporal frontend, host:port"`
	TemporalNamespace     string `envconfig:"MDC_TEMPORAL_NAMESPACE" default:"default" desc:"Temporal namespace the workflows run in"`
	TemporalTLSCert       string `envconfig:"MDC_TEMPORAL_TLS_CERT" desc:"PEM client certificate file for mTLS to Temporal (with MDC_TEMPORAL_TLS_KEY)"`
	TemporalTLSKey        string `envconfig:"MDC_TEMPORAL_TLS_KEY" desc:"PEM private key file of MDC_TEMPORAL_TLS_CERT"`
	TemporalTLSCA         string `envconfig:"MDC_TEMPORAL_TLS_CA" desc:"PEM CA bundle that signs Temporal's certificate; empty trusts the system roots"`
	TemporalTLSServerName string `envconfig:"MDC_TEMPORAL_TLS_SERVER_NAME" desc:"name to verify in Temporal's certificate when it differs from the address host"`
	TemporalAPIKey        string `envconfig:"MDC_TEMPORAL_API_KEY" secret:"true" desc:"Temporal API key (Temporal Cloud); turns TLS on"`
	NATSURL               string `envconfig:"MDC_NATS_URL" default:"nats://127.0.0.1:4222" desc:"NATS server URLs, comma-separated"`
	NATSCredsFile         string `envconfig:"MDC_NATS_CREDS_FILE" desc:"NATS credentials file (user JWT and NKey seed)"`
	NATSUser              string `envconfig:"MDC_NATS_USER" desc:"NATS user name (with MDC_NATS_PASSWORD)"`
	NATSPassword          string `envconfig:"MDC_NATS_PASSWORD" secret:"true" desc:"NATS password"`
	NATSToken             string `envconfig:"MDC_NATS_TOKEN" secret:"true" desc:"NATS authentication token"`
	StateDir              string `envconfig:"MDC_STATE_DIR" desc:"directory for mdc's state (lab, embedded servers); default /var/lib/mdc as root, else $XDG_STATE_HOME/mdc or ~/.local/state/mdc"`
	PlatformFile          string `envconfig:"MDC_PLATFORM_FILE" desc:"platform file describing sites and services; default <state dir>/lab/platform.yaml"`
	Site                  string `envconfig:"MDC_SITE" desc:"site this worker or monitor serves; empty runs the shared workflows only"`
	TaskQueue             string `envconfig:"MDC_TASK_QUEUE" default:"mdc" desc:"task queue of the shared workflows"`
	LogLevel              string `envconfig:"MDC_LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`
	LogFormat             string `envconfig:"MDC_LOG_FORMAT" default:"text" desc:"text or json"`
}

// Load reads the MDC_* environment, fills the computed defaults (state dir,
// platform file) and validates. Errors name the variable and never contain
// a secret's value.
func Load() (*Config, error) {
	var c Config
	if err := envconfig.Process("", &c); err != nil {
		return nil, fmt.Errorf("read MDC_* environment: %w", err)
	}
	if c.StateDir == "" {
		dir, err := DefaultStateDir()
		if err != nil {
			return nil, err
		}
		c.StateDir = dir
	}
	if c.PlatformFile == "" {
		c.PlatformFile = DefaultPlatformFile(c.StateDir)
	}
	c.LogLevel = strings.ToLower(c.LogLevel)
	c.LogFormat = strings.ToLower(c.LogFormat)
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// DefaultStateDir is where mdc keeps state when MDC_STATE_DIR is unset:
// /var/lib/mdc for root, else $XDG_STATE_HOME/mdc or ~/.local/state/mdc.
func DefaultStateDir() (string, error) {
	home, _ := os.UserHomeDir()
	dir := stateDirFor(os.Geteuid(), os.Getenv("XDG_STATE_HOME"), home)
	if dir == "" {
		return "", errors.New("MDC_STATE_DIR: not set, and neither XDG_STATE_HOME nor HOME says where a state directory could go; set MDC_STATE_DIR to an absolute path")
	}
	return dir, nil
}

// stateDirFor is DefaultStateDir's rule; an XDG_STATE_HOME that is not
// absolute is ignored, as the XDG spec says.
func stateDirFor(euid int, xdgStateHome, home string) string {
	switch {
	case euid == 0:
		return "/var/lib/mdc"
	case filepath.IsAbs(xdgStateHome):
		return filepath.Join(xdgStateHome, "mdc")
	case home != "":
		return filepath.Join(home, ".local", "state", "mdc")
	}
	return ""
}

// DefaultPlatformFile is the platform file `mdc dev` writes for its lab.
func DefaultPlatformFile(stateDir string) string {
	return filepath.Join(stateDir, "lab", "platform.yaml")
}

var (
	siteRE  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	hostRE  = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)
	levels  = []string{"debug", "info", "warn", "error"}
	formats = []string{"text", "json"}
)

// Validate checks the configuration and returns every problem, one per line,
// each naming its variable.
func (c *Config) Validate() error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if !validHostPort(c.TemporalAddress) {
		fail("MDC_TEMPORAL_ADDRESS: expected host:port such as 127.0.0.1:7233, got %q", c.TemporalAddress)
	}
	if c.TemporalNamespace == "" {
		fail("MDC_TEMPORAL_NAMESPACE: is set but empty; unset it to use \"default\" or name a namespace")
	}
	if (c.TemporalTLSCert == "") != (c.TemporalTLSKey == "") {
		fail("MDC_TEMPORAL_TLS_CERT and MDC_TEMPORAL_TLS_KEY go together (a client certificate and its key); %s", onlyOneSet("MDC_TEMPORAL_TLS_CERT", c.TemporalTLSCert, "MDC_TEMPORAL_TLS_KEY"))
	}
	for _, u := range strings.Split(c.NATSURL, ",") {
		if err := checkNATSURL(strings.TrimSpace(u)); err != nil {
			fail("MDC_NATS_URL: %v", err)
		}
	}
	if (c.NATSUser == "") != (c.NATSPassword == "") {
		fail("MDC_NATS_USER and MDC_NATS_PASSWORD go together; %s", onlyOneSet("MDC_NATS_USER", c.NATSUser, "MDC_NATS_PASSWORD"))
	}
	methods := 0
	for _, set := range []bool{c.NATSCredsFile != "", c.NATSUser != "" || c.NATSPassword != "", c.NATSToken != ""} {
		if set {
			methods++
		}
	}
	if methods > 1 {
		fail("MDC_NATS_CREDS_FILE, MDC_NATS_USER/MDC_NATS_PASSWORD and MDC_NATS_TOKEN are alternative ways to authenticate to NATS; set only one")
	}
	if !filepath.IsAbs(c.StateDir) {
		fail("MDC_STATE_DIR: expected an absolute path, got %q", c.StateDir)
	}
	if c.PlatformFile == "" {
		fail("MDC_PLATFORM_FILE: is set but empty; unset it to use %s", DefaultPlatformFile(c.StateDir))
	}
	if c.Site != "" && !siteRE.MatchString(c.Site) {
		fail("MDC_SITE: expected a site name from the platform file (lowercase letters, digits and '-'), got %q", c.Site)
	}
	if c.TaskQueue == "" {
		fail("MDC_TASK_QUEUE: is set but empty; unset it to use \"mdc\"")
	}
	if !contains(levels, c.LogLevel) {
		fail("MDC_LOG_LEVEL: expected one of %s, got %q", strings.Join(levels, ", "), c.LogLevel)
	}
	if !contains(formats, c.LogFormat) {
		fail("MDC_LOG_FORMAT: expected one of %s, got %q", strings.Join(formats, ", "), c.LogFormat)
	}
	return errors.Join(errs...)
}

// onlyOneSet says which of a pair of variables is missing.
func onlyOneSet(first, firstValue, second string) string {
	if firstValue != "" {
		return first + " is set but " + second + " is not"
	}
	return second + " is set but " + first + " is not"
}

// checkNATSURL checks one NATS server URL; the error shows the URL with any
// password replaced.
func checkNATSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("expected URLs such as nats://127.0.0.1:4222, separated by commas; one does not parse (not shown, as it may hold a password)")
	}
	switch u.Scheme {
	case "nats", "tls", "ws", "wss":
	default:
		return fmt.Errorf("expected URLs such as nats://127.0.0.1:4222 (scheme nats, tls, ws or wss), separated by commas, got %q", redactURL(u))
	}
	if u.Hostname() == "" || (u.Port() != "" && !validPort(u.Port())) {
		return fmt.Errorf("expected URLs such as nats://127.0.0.1:4222 with a host and a port from 1 to 65535, got %q", redactURL(u))
	}
	return nil
}

// redactURL hides a URL's user information entirely: NATS takes a token
// in the user part (nats://token@host), which url.URL.Redacted would show.
func redactURL(u *url.URL) string {
	if u.User == nil {
		return u.String()
	}
	c := *u
	c.User = url.User("xxxxx")
	return c.String()
}

// validHostPort reports whether s is host:port with a port from 1 to 65535.
func validHostPort(s string) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" || !validPort(port) {
		return false
	}
	return net.ParseIP(host) != nil || hostRE.MatchString(host)
}

func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 1 && n <= 65535
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
