package lb

import (
	"fmt"
	"strings"
)

// nginx server states kept in the include's comments: nginx itself only
// knows `down`, so the comment says why a server is down.
const (
	ngUp    = "up"
	ngMaint = "maint"
	ngDrain = "drain"
)

// ngServer is one `server` line of the generated upstream include.
type ngServer struct {
	Name   string
	Addr   string
	Params []string // server parameters other than `down`, e.g. max_fails=1
	State  string   // ngUp, ngMaint, ngDrain
}

// ngInclude is the generated include: the upstream's server lines.
type ngInclude struct {
	Servers []ngServer
}

// renderInclude writes the include. Names and states live in a trailing
// comment because nginx OSS servers have neither.
func renderInclude(upstream string, inc ngInclude) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by mdc: the servers of upstream %s. mdc rewrites this file;\n", upstream)
	fmt.Fprintf(&b, "# change servers with mdc, not here. Include it inside the upstream block.\n")
	for _, s := range inc.Servers {
		b.WriteString("server " + s.Addr)
		for _, p := range s.Params {
			b.WriteString(" " + p)
		}
		if s.State != ngUp {
			b.WriteString(" down")
		}
		fmt.Fprintf(&b, "; # mdc name=%s state=%s\n", s.Name, s.State)
	}
	return b.String()
}

// parseInclude reads a generated include. Server lines written by hand
// (without the mdc comment) are kept, named by their address.
func parseInclude(content string) (ngInclude, error) {
	var inc ngInclude
	for n, line := range strings.Split(content, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		directive, comment, _ := strings.Cut(line, "#")
		directive = strings.TrimSpace(directive)
		f := strings.Fields(strings.TrimSuffix(directive, ";"))
		if !strings.HasSuffix(directive, ";") || len(f) < 2 || f[0] != "server" {
			return ngInclude{}, fmt.Errorf("line %d: %q is not a `server <addr> [params];` line", n+1, line)
		}
		s := ngServer{Name: f[1], Addr: f[1], State: ngUp}
		down := false
		for _, p := range f[2:] {
			if p == "down" {
				down = true
				continue
			}
			s.Params = append(s.Params, p)
		}
		for _, kv := range strings.Fields(comment) {
			switch k, v, _ := strings.Cut(kv, "="); k {
			case "name":
				s.Name = v
			case "state":
				s.State = v
			}
		}
		switch {
		case !down:
			s.State = ngUp
		case s.State != ngDrain:
			s.State = ngMaint
		}
		inc.Servers = append(inc.Servers, s)
	}
	return inc, nil
}

// find returns the index of the server named name, or -1.
func (inc ngInclude) find(name string) int {
	for i, s := range inc.Servers {
		if s.Name == name {
			return i
		}
	}
	return -1
}

// clone copies inc so that an edit leaves the original intact.
func (inc ngInclude) clone() ngInclude {
	out := ngInclude{Servers: make([]ngServer, len(inc.Servers))}
	copy(out.Servers, inc.Servers)
	return out
}
