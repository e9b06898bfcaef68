package db

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// gtid is one MariaDB GTID, domain-server-sequence.
type gtid struct {
	domain, server uint32
	seq            uint64
}

// gtidPos is a MariaDB GTID position (@@gtid_slave_pos and friends): the
// last GTID of each replication domain.
type gtidPos map[uint32]gtid

// parseGTIDPos parses "0-1-42,1-2-7" (spaces and newlines, as SHOW SLAVE
// STATUS prints long positions, are ignored). "" is the empty position.
func parseGTIDPos(s string) (gtidPos, error) {
	p := gtidPos{}
	s = strings.Join(strings.Fields(s), "")
	if s == "" {
		return p, nil
	}
	for _, part := range strings.Split(s, ",") {
		f := strings.Split(part, "-")
		if len(f) != 3 {
			return nil, fmt.Errorf("%q is not a MariaDB GTID (domain-server-sequence, e.g. 0-1-42)", part)
		}
		d, err1 := strconv.ParseUint(f[0], 10, 32)
		sv, err2 := strconv.ParseUint(f[1], 10, 32)
		seq, err3 := strconv.ParseUint(f[2], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, fmt.Errorf("%q is not a MariaDB GTID (domain-server-sequence of unsigned numbers, e.g. 0-1-42)", part)
		}
		if _, dup := p[uint32(d)]; dup {
			return nil, fmt.Errorf("GTID position %q names domain %d twice", s, d)
		}
		p[uint32(d)] = gtid{domain: uint32(d), server: uint32(sv), seq: seq}
	}
	return p, nil
}

// mustGTIDPos parses a position the server itself printed; a malformed one
// (never seen) counts as empty rather than failing the operation.
func mustGTIDPos(s string) gtidPos {
	p, err := parseGTIDPos(s)
	if err != nil {
		return gtidPos{}
	}
	return p
}

// String prints the position the way MariaDB does, domains in order.
func (p gtidPos) String() string {
	parts := make([]string, 0, len(p))
	for _, d := range slices.Sorted(maps.Keys(p)) {
		g := p[d]
		parts = append(parts, fmt.Sprintf("%d-%d-%d", g.domain, g.server, g.seq))
	}
	return strings.Join(parts, ",")
}

// missing counts the transactions of want that p lacks: per domain, how far
// p's sequence number is behind. Under gtid_strict_mode sequence numbers
// grow by one per transaction in a domain, so the difference is a count.
func (p gtidPos) missing(want gtidPos) int64 {
	var n int64
	for d, w := range want {
		if have, ok := p[d]; !ok {
			n += int64(w.seq) //nolint:gosec // sequence numbers stay far below 2^63
		} else if have.seq < w.seq {
			n += int64(w.seq - have.seq) //nolint:gosec // as above
		}
	}
	return n
}

// merge returns the union of p and q, keeping the higher sequence number
// of each domain.
func (p gtidPos) merge(q gtidPos) gtidPos {
	out := maps.Clone(p)
	for d, g := range q {
		if have, ok := out[d]; !ok || have.seq < g.seq {
			out[d] = g
		}
	}
	return out
}
