package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/microdc/mdc/apperrors"
	"github.com/microdc/mdc/pdnsapi"
)

// Server is one PowerDNS Authoritative server of a site.
type Server struct {
	// APIURL is the base URL of the pdns webserver, e.g. http://127.1.0.1:8081.
	APIURL string
	// APIKey is the resolved API key. It is never logged, returned or
	// serialised (json:"-").
	APIKey string `json:"-"`
	// ServerID is the API's server_id; empty means "localhost".
	ServerID string
	// Address is the host:port the server answers DNS on.
	Address string
}

// SiteConfig is one site's authoritative DNS servers.
type SiteConfig struct {
	Servers []Server
}

// Activities changes and checks DNS records on each site's pdns servers.
type Activities struct {
	sites map[string][]server
	names string // "uk, us": for unknown-site errors
}

// server is a configured pdns with its API client.
type server struct {
	api  *pdnsapi.Client
	url  string // API URL: the server's name in results and errors
	addr string // DNS address
}

// apiTimeout bounds one server's part of an operation (a GET and a
// PATCH): pdns answers in milliseconds, so a server that takes longer is
// reported unreachable well within any activity's timeout.
const apiTimeout = 5 * time.Second

// New checks the sites' configuration and returns the activities.
func New(sites map[string]SiteConfig) (*Activities, error) {
	if len(sites) == 0 {
		return nil, errors.New("dns activities: no sites configured")
	}
	a := &Activities{sites: map[string][]server{}}
	var names []string
	var errs []error
	for name, sc := range sites {
		names = append(names, name)
		if strings.TrimSpace(name) == "" {
			errs = append(errs, errors.New("a site has an empty name"))
		}
		if len(sc.Servers) == 0 {
			errs = append(errs, fmt.Errorf("site %q has no DNS servers", name))
		}
		for i, s := range sc.Servers {
			where := fmt.Sprintf("site %q server %d", name, i+1)
			u, err := url.Parse(s.APIURL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				errs = append(errs, fmt.Errorf("%s: APIURL %q must be like http://192.0.2.1:8081", where, s.APIURL))
			}
			if s.APIKey == "" {
				errs = append(errs, fmt.Errorf("%s (%s): APIKey is empty", where, s.APIURL))
			}
			if err := checkHostPort(s.Address); err != nil {
				errs = append(errs, fmt.Errorf("%s (%s): Address: %w", where, s.APIURL, err))
			}
			a.sites[name] = append(a.sites[name], server{
				api: pdnsapi.NewClient(s.APIURL, s.APIKey, pdnsapi.WithServerID(s.ServerID), pdnsapi.WithTimeout(apiTimeout)),
				url: strings.TrimRight(s.APIURL, "/"), addr: s.Address,
			})
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("dns activities configuration: %w", err)
	}
	sort.Strings(names)
	a.names = strings.Join(names, ", ")
	return a, nil
}

// checkHostPort checks a DNS server address like 192.0.2.1:53.
func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "" {
		return fmt.Errorf("%q is not host:port like 192.0.2.1:53", addr)
	}
	if _, err := net.LookupPort("udp", port); err != nil {
		return fmt.Errorf("%q has a bad port: %v", addr, err)
	}
	return nil
}

// site returns the servers of the named site.
func (a *Activities) site(name string) ([]server, error) {
	s, ok := a.sites[name]
	if !ok {
		return nil, apperrors.BadInput("unknown site %q: configured sites are %s", name, a.names)
	}
	return s, nil
}

// Outcomes of a change on one server.
const (
	OutcomeChanged     = "changed"
	OutcomeUnchanged   = "unchanged"
	OutcomeUnreachable = "unreachable" // no answer, or a 5xx: the server may come back
)

// ServerOutcome is what a change did on one server.
type ServerOutcome struct {
	Server  string // the server's API URL
	Outcome string // OutcomeChanged, OutcomeUnchanged or OutcomeUnreachable
	// PreviousTTL is the record's TTL before the change (0: it had none).
	PreviousTTL int `json:",omitempty"`
	// Error says why the server is unreachable.
	Error string `json:",omitempty"`
}

// ChangeResult is the result of SetRecord, SetGeoRecord and SetTTL.
type ChangeResult struct {
	// Changed is true when at least one server was changed; false means
	// there was nothing left to do on any server that answered.
	Changed bool
	Servers []ServerOutcome
	// Unreachable lists the API URLs of servers that did not take the
	// change (only non-empty with AllowUnreachable).
	Unreachable []string `json:",omitempty"`
}

// errKind sorts a server's error into what the workflow can do about it.
type errKind int

const (
	kindNone errKind = iota
	kindUnreachable
	kindRejected
	kindNotFound
	kindAuth
)

// classify sorts err; the order of the kinds is the precedence when
// servers fail differently (a wrong key is worth more than a retry).
func classify(err error) errKind {
	var ae *pdnsapi.APIError
	switch {
	case err == nil:
		return kindNone
	case errors.Is(err, pdnsapi.ErrKeyRejected):
		return kindAuth
	case errors.Is(err, pdnsapi.ErrZoneNotFound), errors.Is(err, errRecordNotFound):
		return kindNotFound
	case errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500:
		return kindRejected
	default: // ErrUnreachable, context ends, 5xx
		return kindUnreachable
	}
}

// errRecordNotFound marks a record that SetTTL cannot find.
var errRecordNotFound = errors.New("record not found")

// fanOut runs fn on every server at once, each with its own timeout, and
// returns the outcomes and errors in server order.
func fanOut(ctx context.Context, servers []server, fn func(ctx context.Context, i int, s server) (ServerOutcome, error)) ([]ServerOutcome, []error) {
	outs := make([]ServerOutcome, len(servers))
	errs := make([]error, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sctx, cancel := context.WithTimeout(ctx, apiTimeout)
			defer cancel()
			outs[i], errs[i] = fn(sctx, i, s)
			outs[i].Server = s.url
			if errs[i] != nil {
				outs[i].Outcome = ""
				if classify(errs[i]) == kindUnreachable {
					outs[i].Outcome, outs[i].Error = OutcomeUnreachable, errs[i].Error()
				}
			}
		}()
	}
	wg.Wait()
	return outs, errs
}

// summarize turns per-server outcomes into the activity's result or typed
// error. what names the change, e.g. "set www.mdc.test. A on site uk".
func summarize(what string, outs []ServerOutcome, errs []error, allowUnreachable bool) (ChangeResult, error) {
	res := ChangeResult{Servers: outs}
	worst, worstAt := kindNone, -1
	for i, err := range errs {
		if k := classify(err); k > worst {
			worst, worstAt = k, i
		}
		switch {
		case outs[i].Outcome == OutcomeChanged:
			res.Changed = true
		case outs[i].Outcome == OutcomeUnreachable:
			res.Unreachable = append(res.Unreachable, outs[i].Server)
		}
	}
	if worst == kindNone {
		return res, nil
	}
	cause, at := errs[worstAt], outs[worstAt].Server
	switch worst {
	case kindAuth:
		return res, apperrors.Auth("%s: pdns API %s rejected the API key; check the key configured for this server (done so far: %s)", what, at, progress(outs))
	case kindNotFound:
		return res, apperrors.NotFound("%s: %v (done so far: %s)", what, cause, progress(outs))
	case kindRejected:
		return res, apperrors.Rejected("%s: pdns API %s refused the change: %v (done so far: %s)", what, at, cause, progress(outs))
	}
	if allowUnreachable && len(res.Unreachable) < len(outs) {
		return res, nil
	}
	var down []string
	for _, o := range outs {
		if o.Outcome == OutcomeUnreachable {
			down = append(down, o.Server+" unreachable: "+o.Error)
		}
	}
	return res, apperrors.Unavailable(cause, "%s: %s; retry when the server is back, or pass AllowUnreachable to accept a partial change (done so far: %s)",
		what, strings.Join(down, "; "), progress(outs))
}

// progress lists each server's outcome, e.g. "http://a changed, http://b unreachable".
func progress(outs []ServerOutcome) string {
	var parts []string
	for _, o := range outs {
		st := o.Outcome
		if st == "" {
			st = "failed"
		}
		parts = append(parts, o.Server+" "+st)
	}
	return strings.Join(parts, ", ")
}
