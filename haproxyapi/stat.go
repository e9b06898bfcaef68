package haproxyapi

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// StatRow is one server's line of `show stat`: the live counters that
// `show servers state` does not carry.
type StatRow struct {
	Proxy  string // pxname: the backend
	Server string // svname
	QCur   int    // requests queued for this server now
	SCur   int    // sessions on this server now
	STot   int    // sessions since start
	Status string // UP, DOWN, MAINT, DRAIN, "no check", ...
}

// Sessions is what still ties the server to clients: current sessions plus
// requests queued for it.
func (r StatRow) Sessions() int { return r.SCur + r.QCur }

// ShowStat runs `show stat <backend> 4 -1` (servers only) on the runtime
// API at addr and parses the CSV answer.
func ShowStat(ctx context.Context, addr, backend string) ([]StatRow, error) {
	if backend == "" || strings.ContainsAny(backend, " \t;") {
		return nil, fmt.Errorf("haproxy runtime API %s: show stat: backend name %q is empty or has spaces", addr, backend)
	}
	cmd := "show stat " + backend + " 4 -1"
	out, err := RuntimeCommand(ctx, addr, cmd)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(out, "No such proxy") || strings.HasPrefix(out, "Can't find") {
		return nil, fmt.Errorf("haproxy runtime API %s: backend %q: %w", addr, backend, ErrUnknownBackend)
	}
	rows, err := ParseStat(out)
	if err != nil {
		return nil, fmt.Errorf("haproxy runtime API %s: %s: %w", addr, cmd, err)
	}
	return rows, nil
}

// ParseStat parses the CSV output of `show stat`: a "# pxname,svname,..."
// header, then one line per proxy or server. Columns are found by name.
// Frontend and BACKEND summary lines are skipped.
func ParseStat(out string) ([]StatRow, error) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "# ") {
		return nil, fmt.Errorf("answer has no CSV header: %q", firstLine(out))
	}
	col := map[string]int{}
	for i, name := range strings.Split(lines[0][2:], ",") {
		col[name] = i
	}
	// Lines need the columns read here; HAProxy versions differ in the rest.
	width := 0
	for _, need := range []string{"pxname", "svname", "qcur", "scur", "stot", "status"} {
		i, ok := col[need]
		if !ok {
			return nil, fmt.Errorf("column %s missing from header %q", need, firstLine(out))
		}
		width = max(width, i+1)
	}
	var rows []StatRow
	for n, line := range lines[1:] {
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Split(line, ",")
		if len(f) < width {
			return nil, fmt.Errorf("line %d has %d fields, the header's columns need %d: %q", n+2, len(f), width, line)
		}
		sv := f[col["svname"]]
		if sv == "FRONTEND" || sv == "BACKEND" {
			continue
		}
		var perr error
		num := func(name string) int {
			s := f[col[name]]
			if s == "" {
				return 0
			}
			v, err := strconv.Atoi(s)
			if err != nil && perr == nil {
				perr = fmt.Errorf("line %d: %s %q is not a number", n+2, name, s)
			}
			return v
		}
		r := StatRow{Proxy: f[col["pxname"]], Server: sv, QCur: num("qcur"), SCur: num("scur"), STot: num("stot"), Status: f[col["status"]]}
		if perr != nil {
			return nil, perr
		}
		rows = append(rows, r)
	}
	return rows, nil
}
