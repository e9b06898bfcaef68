package platform

import (
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

var (
	labelRE   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	envNameRE = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)
	hostRE    = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)
	dnsNameRE = regexp.MustCompile(`^([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)+$`)
)

// required reports an empty value and says what belongs there.
func (p *parser) required(path, val, what string) bool {
	if val == "" {
		p.fail(path, "required: %s", what)
		return false
	}
	return true
}

// label checks a name used in task queues, workflow IDs and VM names.
func (p *parser) label(path, val string) bool {
	if !labelRE.MatchString(val) {
		p.fail(path, "expected a name of lowercase letters, digits and '-' (at most 63, not starting or ending with '-'), got %q", val)
		return false
	}
	return true
}

// envName checks the name of an environment variable that holds a secret.
// An invalid value is not echoed: it may be the secret itself, pasted into
// the wrong field.
func (p *parser) envName(path, val string, required bool, what string) {
	if val == "" {
		if required {
			p.fail(path, "required: the name of the environment variable holding %s", what)
		}
		return
	}
	if !envNameRE.MatchString(val) {
		p.fail(path, "expected the name of an environment variable holding %s ([A-Z_][A-Z0-9_]*, such as MDC_UK_VC_PASSWORD); the value is not shown in case it is the secret itself", what)
	}
}

// httpURL checks an http or https URL without credentials in it.
func (p *parser) httpURL(path, val, example string) {
	u, err := url.Parse(val)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		if strings.Contains(val, "@") {
			p.fail(path, "expected an http or https URL such as %s (the value is not shown because it may hold credentials)", example)
			return
		}
		p.fail(path, "expected an http or https URL such as %s, got %q", example, val)
		return
	}
	if u.User != nil {
		p.fail(path, "the URL must not carry credentials; name the environment variables that hold them in the *_env fields (URL shown without them: %s)", u.Redacted())
		return
	}
	if u.Port() != "" && !validPort(u.Port()) {
		p.fail(path, "expected an http or https URL such as %s, got %q: the port must be a number from 1 to 65535", example, val)
	}
}

// validHostPort reports whether val is host:port with a port from 1 to 65535.
func validHostPort(val string) bool {
	host, port, err := net.SplitHostPort(val)
	if err != nil || host == "" {
		return false
	}
	if !validPort(port) {
		return false
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	return hostRE.MatchString(host)
}

// validPort reports whether s is a port number from 1 to 65535.
func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 1 && n <= 65535
}

// hostPort checks a host:port address.
func (p *parser) hostPort(path, val, example string) {
	if !validHostPort(val) {
		p.fail(path, "expected host:port with a port from 1 to 65535, such as %s, got %q", example, val)
	}
}

// fqdn checks a fully qualified domain name (with its trailing dot).
func (p *parser) fqdn(path, val, example string) bool {
	if len(val) > 254 || !dnsNameRE.MatchString(val) {
		p.fail(path, "expected a fully qualified domain name ending in a dot, such as %q, got %q", example, val)
		return false
	}
	return true
}

// port checks a TCP or UDP port number.
func (p *parser) port(path string, val int) {
	if val < 1 || val > 65535 {
		p.fail(path, "expected a port from 1 to 65535, got %d", val)
	}
}

// atLeast checks an integer lower bound.
func (p *parser) atLeast(path string, val, least int) bool {
	if val < least {
		p.fail(path, "expected at least %d, got %d", least, val)
		return false
	}
	return true
}

// nonNegative checks a duration that may be zero (no wait).
func (p *parser) nonNegative(path string, d Duration) {
	if d.Duration < 0 {
		p.fail(path, "expected 0s or more, got %s", d)
	}
}

// positive checks a duration that must be above zero.
func (p *parser) positive(path string, d Duration) {
	if d.Duration <= 0 {
		p.fail(path, "expected a duration above 0s, got %s", d)
	}
}

// oneOf checks an enumerated string.
func (p *parser) oneOf(path, val string, allowed ...string) bool {
	for _, a := range allowed {
		if val == a {
			return true
		}
	}
	p.fail(path, "expected %s, got %q", orList(allowed), val)
	return false
}

// orList writes "a or b" / "a, b or c".
func orList(items []string) string {
	if len(items) == 1 {
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

// inZone reports whether record is zone itself or a name below it.
func inZone(record, zone string) bool {
	r, z := strings.ToLower(record), strings.ToLower(zone)
	return r == z || strings.HasSuffix(r, "."+z)
}
