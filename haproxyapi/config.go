package haproxyapi

import (
	"fmt"
	"regexp"
	"strings"
)

// NameRE is the character set HAProxy accepts in proxy and server names.
var NameRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]+$`)

// CheckArgs are the health-check settings of every server, configured or
// added at run time: `add server` ignores default-server, so each server
// line carries them itself. A dead node is DOWN after two failed checks, ~1s.
const CheckArgs = "check inter 500ms fall 2 rise 1"

// Server is a web node behind the load balancer.
type Server struct {
	Name string // HAProxy server name, e.g. "n1"
	Addr string // ip:port of the node's HTTP server
}

// AddServerCommand is the runtime API command that adds s to backend with the
// same health-check settings as the configured servers. The new server starts
// in maintenance with checks off: follow it with `enable server` and
// `enable health`.
func AddServerCommand(backend string, s Server) string {
	return fmt.Sprintf("add server %s/%s %s %s", backend, s.Name, s.Addr, CheckArgs)
}

// BackendFileName is the file in HAProxy's configuration directory that
// holds backend's section: loaded after 00-global.cfg and 10-frontend.cfg.
func BackendFileName(backend string) string { return "20-backend-" + backend + ".cfg" }

// BackendFile is a backend section as mdc persists it: the section's own
// lines (header, options, comments), kept as written, and its server lines,
// which mdc rewrites. Rendering puts the server lines last.
type BackendFile struct {
	Lines   []string // every line that is not a server line, in order
	Servers []ServerLine
}

// ServerLine is one `server <name> <addr> <args>` line.
type ServerLine struct {
	Name string
	Addr string
	Args string // keywords after the address, e.g. CheckArgs
}

// NewBackendFile is the backend section mdc writes for a new HAProxy:
// roundrobin (one of the algorithms that allow `add server`) and an HTTP
// health check of healthPath; checks and their timing are per server because
// `add server` ignores default-server.
func NewBackendFile(backend, healthPath string, servers []Server) BackendFile {
	f := BackendFile{Lines: []string{
		"backend " + backend,
		"    balance roundrobin",
		"    option httpchk GET " + healthPath,
		"    http-check expect status 200",
	}}
	for _, s := range servers {
		f.Servers = append(f.Servers, ServerLine{Name: s.Name, Addr: s.Addr, Args: CheckArgs})
	}
	return f
}

// ParseBackendFile splits a backend file into its server lines and the rest.
// It fails if the file does not define exactly the section of backend, so a
// rewrite can never clobber an unrelated file.
func ParseBackendFile(backend, content string) (BackendFile, error) {
	var f BackendFile
	sections := 0
	for n, line := range strings.Split(strings.TrimRight(content, "\n"), "\n") {
		fields := strings.Fields(line)
		if len(fields) > 0 && fields[0] == "server" {
			if len(fields) < 3 {
				return BackendFile{}, fmt.Errorf("line %d: server line %q needs a name and an address", n+1, line)
			}
			f.Servers = append(f.Servers, ServerLine{Name: fields[1], Addr: fields[2], Args: strings.Join(fields[3:], " ")})
			continue
		}
		if len(fields) > 0 && isSectionKeyword(fields[0]) {
			sections++
			if fields[0] != "backend" || len(fields) < 2 || fields[1] != backend {
				return BackendFile{}, fmt.Errorf("line %d: %q: the file must hold only the section `backend %s`", n+1, strings.TrimSpace(line), backend)
			}
		}
		f.Lines = append(f.Lines, line)
	}
	if sections != 1 {
		return BackendFile{}, fmt.Errorf("no `backend %s` section in the file", backend)
	}
	return f, nil
}

func isSectionKeyword(w string) bool {
	switch w {
	case "global", "defaults", "frontend", "backend", "listen", "resolvers", "peers", "userlist", "program", "http-errors", "ring", "cache", "mailers":
		return true
	}
	return false
}

// Render is the file's content: its lines, then one server line per server.
func (f BackendFile) Render() string {
	var b strings.Builder
	for _, l := range f.Lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	for _, s := range f.Servers {
		fmt.Fprintf(&b, "    server %s %s", s.Name, s.Addr)
		if s.Args != "" {
			b.WriteString(" " + s.Args)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// Find returns the server line named name.
func (f BackendFile) Find(name string) (ServerLine, bool) {
	for _, s := range f.Servers {
		if s.Name == name {
			return s, true
		}
	}
	return ServerLine{}, false
}

// Set adds a server line for s (with CheckArgs) or updates the address of
// the existing one, keeping its other keywords; it reports whether anything
// changed.
func (f *BackendFile) Set(s Server) bool {
	for i := range f.Servers {
		if f.Servers[i].Name == s.Name {
			if f.Servers[i].Addr == s.Addr {
				return false
			}
			f.Servers[i].Addr = s.Addr
			return true
		}
	}
	f.Servers = append(f.Servers, ServerLine{Name: s.Name, Addr: s.Addr, Args: CheckArgs})
	return true
}

// Delete removes the server line named name and reports whether there was one.
func (f *BackendFile) Delete(name string) bool {
	for i := range f.Servers {
		if f.Servers[i].Name == name {
			f.Servers = append(f.Servers[:i], f.Servers[i+1:]...)
			return true
		}
	}
	return false
}
