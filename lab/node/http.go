package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Response headers every reply carries, so a client behind the load
// balancer can tell which node answered.
const (
	HeaderNode = "X-MDC-Node"
	HeaderSite = "X-MDC-Site"
	// HeaderDB carries the node's last known database status on health checks.
	HeaderDB = "X-MDC-DB"
)

func (n *Node) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", n.page)
	mux.HandleFunc("GET "+n.opts.HealthPath, n.health)
	mux.HandleFunc("GET /db", n.visit)
	mux.HandleFunc("GET /load", n.loadPage)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(HeaderNode, n.opts.Name)
		w.Header().Set(HeaderSite, n.opts.Site)
		if r.URL.Path != n.opts.HealthPath {
			n.requests.Add(1)
		}
		mux.ServeHTTP(w, r)
	})
}

func (n *Node) page(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "service %s, node %s, site %s\n", n.opts.Service, n.opts.Name, n.opts.Site)
}

// health answers 200 while the node itself is up, whatever the database
// does: the load balancer must keep sending static traffic to a node whose
// site database is down. The database status rides along in a header.
func (n *Node) health(w http.ResponseWriter, _ *http.Request) {
	n.healthChecks.Add(1)
	n.db.refresh()
	w.Header().Set(HeaderDB, n.db.status())
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprint(w, "ok\n")
}

// visitReply is GET /db's JSON body.
type visitReply struct {
	ID    int64  `json:"id,omitempty"`
	Count int64  `json:"count,omitempty"`
	DB    string `json:"db"`
	Error string `json:"error,omitempty"`
}

func (n *Node) visit(w http.ResponseWriter, r *http.Request) {
	id, count, err := n.db.visit(r.Context(), n.opts.Name, n.opts.Site)
	if err != nil {
		rep := visitReply{DB: DBDown, Error: err.Error()}
		var de *dbError
		if errors.As(err, &de) {
			rep.DB = de.status
		}
		n.log.Warn("database write failed", "err", err.Error())
		writeJSON(w, http.StatusServiceUnavailable, rep)
		return
	}
	writeJSON(w, http.StatusOK, visitReply{ID: id, Count: count, DB: DBOK})
}

// LoadReply is GET /load's JSON body.
type LoadReply struct {
	Load1  float64 `json:"load1"`
	Load5  float64 `json:"load5"`
	Load15 float64 `json:"load15"`
}

func (n *Node) loadPage(w http.ResponseWriter, _ *http.Request) {
	i := n.Info()
	writeJSON(w, http.StatusOK, LoadReply{Load1: i.Load1, Load5: i.Load5, Load15: i.Load15})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
