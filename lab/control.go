package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/microdc/mdc/lab/node"
)

// Status is what `mdc lab status` shows.
type Status struct {
	Dir      string       `json:"dir"`
	Platform string       `json:"platform"`
	Sites    []SiteStatus `json:"sites"`
}

// SiteStatus is one site's addresses and state.
type SiteStatus struct {
	Name     string      `json:"name"`
	Region   string      `json:"region"`
	Alive    bool        `json:"alive"`
	VCenter  string      `json:"vcenter"`
	Frontend string      `json:"frontend"`
	LBAPI    string      `json:"lb_runtime_api"`
	DNS      string      `json:"dns"`
	DNSAPI   string      `json:"dns_api"`
	Database string      `json:"database"`
	Nodes    []node.Info `json:"nodes"`
}

// Status reports every site.
func (l *Lab) Status() Status {
	st := Status{Dir: l.opts.Dir, Platform: l.PlatformPath()}
	for _, s := range l.sites {
		ss := SiteStatus{
			Name: s.Name, Region: s.Region, Alive: s.Alive(), VCenter: "https://" + s.vcAddr() + "/sdk",
			Frontend: "http://" + s.frontend() + "/", LBAPI: s.runtimeAPI(), DNS: s.dnsAddr(),
			DNSAPI: "http://" + s.pdnsAPIAddr(), Database: s.dbAddr(),
		}
		if s.nodes != nil {
			ss.Nodes = s.nodes.Nodes()
		}
		st.Sites = append(st.Sites, ss)
	}
	return st
}

type controlServer struct {
	srv *http.Server
	ln  net.Listener
}

// ServeControl starts the HTTP API through which `mdc lab` drives the running
// lab. It listens on loopback only: it can kill sites.
func (l *Lab) ServeControl() error {
	addr := l.opts.Plan.ControlAddr()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("lab control API cannot listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) { writeJSONResponse(w, http.StatusOK, l.Status()) })
	mux.HandleFunc("POST /sites/{site}/kill", func(w http.ResponseWriter, r *http.Request) {
		l.respond(w, l.KillSite(r.Context(), r.PathValue("site")))
	})
	mux.HandleFunc("POST /sites/{site}/revive", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Minute)
		defer cancel()
		l.respond(w, l.ReviveSite(ctx, r.PathValue("site")))
	})
	mux.HandleFunc("POST /nodes/{node}/load", func(w http.ResponseWriter, r *http.Request) {
		v, err := strconv.ParseFloat(r.URL.Query().Get("value"), 64)
		if err != nil {
			writeJSONResponse(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("load %q is not a number", r.URL.Query().Get("value"))})
			return
		}
		l.respond(w, l.SetLoad(r.PathValue("node"), v))
	})
	c := &controlServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, ln: ln}
	go func() { _ = c.srv.Serve(ln) }()
	l.control = c
	return nil
}

func (l *Lab) respond(w http.ResponseWriter, err error) {
	var unknown *UnknownSiteError
	switch {
	case err == nil:
		writeJSONResponse(w, http.StatusOK, map[string]string{"result": "ok"})
	case errors.As(err, &unknown):
		writeJSONResponse(w, http.StatusNotFound, map[string]string{"error": err.Error()})
	case errors.Is(err, errAlready):
		writeJSONResponse(w, http.StatusConflict, map[string]string{"error": err.Error()})
	default:
		writeJSONResponse(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
	}
}

func (c *controlServer) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = c.srv.Shutdown(ctx)
}

func writeJSONResponse(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// Client drives a running lab through its control API.
type Client struct {
	Addr string
	HTTP *http.Client
}

// NewClient returns a client for the lab control API at addr.
func NewClient(addr string) *Client {
	return &Client{Addr: addr, HTTP: &http.Client{Timeout: 3 * time.Minute}}
}

// Status fetches the lab's status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	err := c.do(ctx, http.MethodGet, "/status", &st)
	return st, err
}

// KillSite kills a site.
func (c *Client) KillSite(ctx context.Context, site string) error {
	return c.do(ctx, http.MethodPost, "/sites/"+site+"/kill", nil)
}

// ReviveSite revives a killed site.
func (c *Client) ReviveSite(ctx context.Context, site string) error {
	return c.do(ctx, http.MethodPost, "/sites/"+site+"/revive", nil)
}

// SetLoad sets a node's load.
func (c *Client) SetLoad(ctx context.Context, nodeName string, load float64) error {
	return c.do(ctx, http.MethodPost, "/nodes/"+nodeName+"/load?value="+strconv.FormatFloat(load, 'f', -1, 64), nil)
}

func (c *Client) do(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+c.Addr+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("no lab answering at %s (start one with `make dev` or `mdc dev`): %w", c.Addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		_ = json.NewDecoder(resp.Body).Decode(&e)
		if e.Error == "" {
			e.Error = resp.Status
		}
		return errors.New(e.Error)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
