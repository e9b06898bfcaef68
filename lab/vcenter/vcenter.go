// Package vcenter runs one govmomi simulator (vcsim) per lab site: a real
// vSphere SOAP API over HTTPS on a loopback address, whose inventory survives
// a site kill (Stop/Revive keep it in memory) and an `mdc dev` restart (it is
// persisted as JSON and rebuilt by Start).
package vcenter

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
)

// Options describes one site's simulated vCenter.
type Options struct {
	Site       string // site name, e.g. "uk"; used in VM names and the mdc.site tag
	Addr       string // ip:port to serve on, e.g. 127.1.0.1:8989 → https://127.1.0.1:8989/sdk
	Username   string // the only user name vcsim accepts
	Password   string // the only password vcsim accepts
	StateFile  string // JSON inventory persisted here; "" = no persistence
	Service    string // service of the web VMs and template, e.g. "web"
	Template   string // name of the web template VM, e.g. "web-template"
	Snapshot   string // name of the template's snapshot, e.g. "golden"
	InitialWeb int    // web VMs created (powered on) on a fresh start, besides one db VM

	// Logf reports problems that have no caller to return to (a failed
	// background save). Defaults to log.Printf. Never receives secrets.
	Logf func(format string, args ...any)
}

func (o *Options) validate() error {
	switch {
	case o.Site == "":
		return errors.New("vcenter: Options.Site is empty: give the site's name, e.g. \"uk\"")
	case o.Username == "" || o.Password == "":
		return fmt.Errorf("vcenter %s: Options.Username and Options.Password must both be set (vcsim would otherwise accept any login)", o.Site)
	case o.Service == "":
		return fmt.Errorf("vcenter %s: Options.Service is empty: give the web service's name, e.g. \"web\"", o.Site)
	case o.Template == "" || o.Snapshot == "":
		return fmt.Errorf("vcenter %s: Options.Template and Options.Snapshot must both be set, e.g. \"web-template\" and \"golden\"", o.Site)
	case o.InitialWeb < 0:
		return fmt.Errorf("vcenter %s: Options.InitialWeb is %d: it must be 0 or more", o.Site, o.InitialWeb)
	}
	if _, _, err := net.SplitHostPort(o.Addr); err != nil {
		return fmt.Errorf("vcenter %s: Options.Addr %q is not ip:port: %w", o.Site, o.Addr, err)
	}
	return nil
}

// VCenter is one running (or stopped) simulated vCenter.
type VCenter struct {
	o      Options
	model  *simulator.Model
	url    *url.URL
	tls    *tls.Config
	inproc *vim25.Client // in-process client: reads the inventory even while stopped
	topo   topology
	saver  *saver
	done   chan struct{} // closed by Close

	mu     sync.Mutex
	srv    *http.Server // nil while stopped
	closed bool
	cached *govmomi.Client // session used by SetGuestIP
}

// createMu serialises simulator.Model.Create: vcsim builds every model through
// one package-global in-process session, so two sites must not build at once.
var createMu sync.Mutex

// Start builds the site's vCenter and serves it on o.Addr. If o.StateFile
// exists the inventory is rebuilt from it; otherwise the template and the
// initial VMs are created.
func Start(ctx context.Context, o Options) (*VCenter, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.Logf == nil {
		o.Logf = log.Printf
	}
	saved, err := loadState(o.StateFile, o.Site)
	if err != nil {
		return nil, err
	}

	model := simulator.VPX()
	model.Host = 0        // no standalone hosts
	model.ClusterHost = 2 // one cluster of two hosts
	model.Portgroup = 0   // VMs use the standard "VM Network"
	model.Machine = 0     // VMs are ours, created below
	model.Autostart = false
	createMu.Lock()
	err = model.Create()
	createMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("vcenter %s: build the vcsim model: %w", o.Site, err)
	}

	model.Service.TLS = new(tls.Config)
	// A Listen URL with its own Userinfo makes vcsim accept only these
	// credentials; with none (or simulator.DefaultLogin) it accepts any.
	model.Service.Listen = &url.URL{Host: o.Addr, User: url.UserPassword(o.Username, o.Password)}
	first, err := serveFirst(model.Service, o)
	if err != nil {
		model.Remove()
		return nil, err
	}

	v := &VCenter{
		o:     o,
		model: model,
		url:   &url.URL{Scheme: "https", Host: o.Addr, Path: vim25.Path},
		tls:   first.TLS,
		srv:   first.Config,
		done:  make(chan struct{}),
	}
	if err := v.build(ctx, saved); err != nil {
		v.teardown()
		return nil, err
	}
	return v, nil
}

// serveFirst starts vcsim's own HTTPS server, which also registers the SDK
// handlers on Service.ServeMux for Revive to reuse. NewServer panics when it
// cannot listen; that becomes an error here.
func serveFirst(s *simulator.Service, o Options) (srv *simulator.Server, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("vcenter %s: listen on %s: %v (is another vcsim or process bound to it? stop it or pick another address)", o.Site, o.Addr, r)
		}
	}()
	return s.NewServer(), nil
}

// build discovers the model, creates or restores the inventory and starts
// persisting it.
func (v *VCenter) build(ctx context.Context, saved *stateFile) error {
	var err error
	v.inproc, err = vim25.NewClient(ctx, v.model.Service)
	if err != nil {
		return fmt.Errorf("vcenter %s: in-process vim25 client: %w", v.o.Site, err)
	}
	c, err := v.Client(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = c.Logout(context.Background()) }()

	if err := v.discover(ctx, c.Client); err != nil {
		return err
	}
	if saved != nil {
		err = v.restore(ctx, c.Client, saved)
	} else {
		err = v.populate(ctx, c.Client)
	}
	if err != nil {
		return err
	}
	v.saver = startSaver(v)
	return v.Save(ctx)
}

// URL is the SDK endpoint, e.g. https://127.1.0.1:8989/sdk, without credentials.
func (v *VCenter) URL() *url.URL {
	u := *v.url
	return &u
}

// Datacenter is the name of the site's only datacenter.
func (v *VCenter) Datacenter() string { return v.topo.datacenter }

// Cluster is the name of the datacenter's only cluster.
func (v *VCenter) Cluster() string { return v.topo.cluster }

// Hosts are the names of the cluster's hosts.
func (v *VCenter) Hosts() []string { return append([]string(nil), v.topo.hosts...) }

// Datastore is the name of the datastore every host mounts.
func (v *VCenter) Datastore() string { return v.topo.datastore }

// Network is the name of the network the VMs' NICs use.
func (v *VCenter) Network() string { return v.topo.network }

// Folder is the inventory path of the VM folder holding the template and VMs.
func (v *VCenter) Folder() string { return v.topo.folder }

// ResourcePool is the inventory path of the cluster's root resource pool,
// which clones of the template must name (vSphere requires a pool there).
func (v *VCenter) ResourcePool() string { return v.topo.pool }

// Client returns a new logged-in govmomi client; the caller should Logout.
func (v *VCenter) Client(ctx context.Context) (*govmomi.Client, error) {
	c, err := govmomi.NewClient(ctx, v.URL(), true)
	if err != nil {
		return nil, fmt.Errorf("vcenter %s: connect to %s: %w", v.o.Site, v.url, err)
	}
	if err := c.Login(ctx, url.UserPassword(v.o.Username, v.o.Password)); err != nil {
		return nil, fmt.Errorf("vcenter %s: log in to %s as %q: %w", v.o.Site, v.url, v.o.Username, err)
	}
	return c, nil
}

// Stop stops serving, as if the site died: new connections are refused and
// open ones are cut. The inventory stays in memory and is saved to StateFile.
func (v *VCenter) Stop() {
	v.mu.Lock()
	srv := v.srv
	v.srv = nil
	cached := v.cached
	v.cached = nil
	closed := v.closed
	v.mu.Unlock()
	if srv != nil {
		// http.Server.Close, unlike vcsim's Server.Close, does not wait for
		// handlers: a client's long-poll WaitForUpdates would block it.
		_ = srv.Close()
	}
	if cached != nil {
		cached.CloseIdleConnections()
	}
	if closed {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := v.Save(ctx); err != nil {
		v.o.Logf("vcenter %s: save on stop: %v", v.o.Site, err)
	}
}

// Revive serves the same inventory on the same address again; clients must
// log in again. Reviving a running vCenter does nothing.
func (v *VCenter) Revive(ctx context.Context) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return fmt.Errorf("vcenter %s: Revive after Close: start a new one with Start", v.o.Site)
	}
	if v.srv != nil {
		return nil
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", v.o.Addr)
	if err != nil {
		return fmt.Errorf("vcenter %s: listen on %s again: %w (something else took the address while the site was down)", v.o.Site, v.o.Addr, err)
	}
	srv := &http.Server{Handler: v.model.Service.ServeMux, ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = srv.Serve(tls.NewListener(ln, v.tls)) }()
	v.srv = srv
	return nil
}

// Close saves the inventory, stops serving and releases everything.
func (v *VCenter) Close() {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return
	}
	v.mu.Unlock()
	v.Stop()
	v.saver.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := v.Save(ctx); err != nil {
		v.o.Logf("vcenter %s: save on close: %v", v.o.Site, err)
	}
	v.teardown()
}

// teardown releases everything without saving (Start uses it when building
// failed, so that a half-built inventory never overwrites the state file).
func (v *VCenter) teardown() {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return
	}
	v.closed = true
	srv := v.srv
	v.srv = nil
	v.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
	if v.saver != nil {
		v.saver.stop()
	}
	close(v.done)
	v.model.Remove() // the datastore's temporary directory
}
