package health

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/miekg/dns"
)

// validName reports whether s is a non-root DNS name.
func validName(s string) bool {
	_, ok := dns.IsDomainName(s)
	return ok && strings.Trim(s, ".") != ""
}

// probeDNS asks server for record's A record over UDP. Any answer means
// the server is reachable; only an answer with records means healthy.
func probeDNS(ctx context.Context, server, record string) ComponentResult {
	c := ComponentResult{Kind: KindDNS, Address: server}
	name := dns.Fqdn(record)
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	// Authoritative servers answer the question; no recursion is wanted.
	m.RecursionDesired = false
	client := &dns.Client{Net: "udp"}
	if d, ok := ctx.Deadline(); ok {
		client.Timeout = time.Until(d)
	}
	resp, _, err := client.ExchangeContext(ctx, m, server)
	if err != nil {
		c.Error = fmt.Sprintf("DNS query for %s A at %s: %v", name, server, dialReason(err))
		return c
	}
	c.Reachable = true
	var answers []string
	for _, rr := range resp.Answer {
		switch v := rr.(type) {
		case *dns.A:
			answers = append(answers, v.A.String())
		case *dns.CNAME:
			answers = append(answers, "CNAME "+v.Target)
		}
	}
	switch {
	case resp.Rcode != dns.RcodeSuccess:
		c.Detail = dns.RcodeToString[resp.Rcode]
		c.Error = fmt.Sprintf("DNS server %s answered %s for %s A: is the record (and its zone) on this server?", server, c.Detail, name)
	case len(answers) == 0:
		c.Detail = "NOERROR, no records"
		c.Error = fmt.Sprintf("DNS server %s has no A record for %s", server, name)
	default:
		c.Healthy = true
		c.Detail = "A " + strings.Join(answers, ", ")
	}
	return c
}

// parseDSN parses a DSN without echoing it: the driver's errors quote parts
// of it, which may be the password.
func parseDSN(dsn string) (*mysql.Config, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, errors.New("DBDSN is not a valid go-sql-driver/mysql DSN (user:password@tcp(host:port)/database); not shown because it holds a password")
	}
	return cfg, nil
}

// probeDB connects to addr over TCP and, with a DSN, logs in there and runs
// SELECT 1, on a fresh connection each time: a probe must see what a new
// client sees, not a pooled connection.
func probeDB(ctx context.Context, addr, dsn string) ComponentResult {
	c := probeTCP(ctx, KindDB, addr)
	if !c.Reachable || dsn == "" {
		if c.Reachable {
			c.Detail = "TCP connect (no DSN configured, so no login)"
		}
		return c
	}
	cfg, err := parseDSN(dsn)
	if err != nil {
		c.Healthy, c.Error = false, err.Error()
		return c
	}
	cfg.Net, cfg.Addr = "tcp", addr
	// The driver would also print each failure to stderr; the probe
	// reports it in the result instead.
	cfg.Logger = &mysql.NopLogger{}
	if d, ok := ctx.Deadline(); ok {
		left := time.Until(d)
		cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = left, left, left
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		c.Healthy, c.Error = false, fmt.Sprintf("database %s: %v", addr, redact(err, cfg.Passwd, dsn))
		return c
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	var one int
	if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		c.Healthy = false
		c.Error = fmt.Sprintf("database %s accepts TCP but SELECT 1 as %q failed: %s", addr, cfg.User, dbReason(err, cfg.Passwd, dsn))
		return c
	}
	c.Detail = "SELECT 1"
	return c
}

// dbReason explains a failed login or query without secrets.
func dbReason(err error, secrets ...string) string {
	var me *mysql.MySQLError
	switch {
	case errors.As(err, &me) && (me.Number == 1045 || me.Number == 1044 || me.Number == 1698):
		return fmt.Sprintf("credentials rejected (error %d): fix the DSN's user, password or database grants", me.Number)
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err) || errors.Is(err, mysql.ErrInvalidConn):
		return "no answer in time (server hung or overloaded?): " + redact(err, secrets...)
	default:
		return redact(err, secrets...)
	}
}

// redact returns err's text with every non-empty secret replaced.
func redact(err error, secrets ...string) string {
	msg := err.Error()
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "<redacted>")
		}
	}
	return msg
}
