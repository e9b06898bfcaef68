package tests

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // MariaDB's general log, read directly
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/event"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/microdc/mdc/activities/events"
	"github.com/microdc/mdc/activities/vsphere"
	"github.com/microdc/mdc/haproxyapi"
	"github.com/microdc/mdc/lab"
	"github.com/microdc/mdc/pdnsapi"
)

// effects counts what the workflows changed, each from the component's own
// record of it, between begin and end of a run:
//
//   - DNS: the SOA serial of each site's PowerDNS zone (the API raises it
//     once per change, and not for a write that changes nothing);
//   - databases: the statements MariaDB ran, from its general log (SET
//     GLOBAL read_only, STOP/RESET SLAVE);
//   - VMs: vCenter's event log (power on/off, clone, removal per VM);
//   - load balancers: HAProxy keeps no change log, so its runtime state is
//     sampled every 50 ms (servers appearing, disappearing, entering
//     maintenance);
//   - events: the failover outcome events in JetStream.
type effects struct {
	fs *faultStack
	// serial0 and events0 are the counters at begin.
	serial0 map[string]uint32
	vmKey0  map[string]int32
	db      map[string]*sql.DB
	lb      map[string]*lbSampler
	nats0   map[string]uint64
}

// effectCounts is what changed during one run.
type effectCounts struct {
	DNSChanges map[string]int // site → zone serial increments
	// VM events per site, then "EventType vm" → count.
	VMEvents map[string]map[string]int
	// DB statements per site, then statement → count.
	DBStatements map[string]map[string]int
	// LB per site, then "added|removed|maint server" → count.
	LB     map[string]map[string]int
	Events map[string]uint64 // subject → messages
}

// dbStatements are the statements the general log is searched for: the
// ones that fence, promote and repoint a database.
var dbStatements = []string{"SET GLOBAL read_only=ON", "SET GLOBAL read_only=OFF", "STOP SLAVE", "RESET SLAVE ALL", "CHANGE MASTER TO", "START SLAVE"}

// beginEffects turns MariaDB's general log on (into mysql.general_log,
// emptied), notes the counters and starts sampling the load balancers.
func (fs *faultStack) beginEffects() *effects {
	t := fs.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e := &effects{fs: fs, serial0: map[string]uint32{}, vmKey0: map[string]int32{}, db: map[string]*sql.DB{}, lb: map[string]*lbSampler{}}
	for _, s := range fs.p.Sites {
		if site, err := fs.lab.Site(s.Name); err != nil || !site.Alive() {
			continue // a killed site changes nothing
		}
		db := fs.rootDB(s.Name)
		// One session, out of the binlog: a TRUNCATE written there would
		// replicate, and on a replica it would be an errant transaction
		// that the workflows (rightly) treat as divergence.
		conn, err := db.Conn(ctx)
		require.NoError(t, err)
		for _, q := range []string{"SET SESSION sql_log_bin=0", "SET GLOBAL log_output='TABLE'", "SET GLOBAL general_log=ON", "TRUNCATE TABLE mysql.general_log"} {
			_, err := conn.ExecContext(ctx, q)
			require.NoError(t, err, q)
		}
		require.NoError(t, conn.Close())
		e.db[s.Name] = db
		e.serial0[s.Name] = fs.zoneSerial(ctx, s.Name)
		e.vmKey0[s.Name] = lastVMEventKey(fs.vmEvents(ctx, s.Name))
		e.lb[s.Name] = startLBSampler(t, s.LB.RuntimeAPI, s.LB.Backend)
	}
	e.nats0 = fs.eventCounts(ctx)
	return e
}

// end stops the sampling and returns what changed since begin.
func (e *effects) end() effectCounts {
	fs := e.fs
	t := fs.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := effectCounts{DNSChanges: map[string]int{}, VMEvents: map[string]map[string]int{}, DBStatements: map[string]map[string]int{}, LB: map[string]map[string]int{}, Events: map[string]uint64{}}
	for _, s := range fs.p.Sites {
		if _, ok := e.serial0[s.Name]; !ok {
			continue
		}
		c.DNSChanges[s.Name] = int(fs.zoneSerial(ctx, s.Name) - e.serial0[s.Name])
		c.VMEvents[s.Name] = map[string]int{}
		for _, ev := range fs.vmEvents(ctx, s.Name) {
			if b := ev.GetEvent(); b.Key > e.vmKey0[s.Name] && b.Vm != nil {
				c.VMEvents[s.Name][strings.TrimPrefix(fmt.Sprintf("%T", ev), "*types.")+" "+b.Vm.Name]++
			}
		}
		c.DBStatements[s.Name] = e.statements(ctx, s.Name)
		var samples int
		c.LB[s.Name], samples = e.lb[s.Name].stop()
		require.Positive(t, samples, "the load balancer at %s was sampled", s.Name)
	}
	for subj, n := range fs.eventCounts(ctx) {
		if d := n - e.nats0[subj]; d > 0 {
			c.Events[subj] = d
		}
	}
	for _, db := range e.db {
		_, _ = db.ExecContext(ctx, "SET GLOBAL general_log=OFF")
	}
	return c
}

// rootDB is a root session to site's MariaDB over its unix socket: the
// general log and replication control need SUPER, which mdc's own account
// has no reason to hold.
func (fs *faultStack) rootDB(site string) *sql.DB {
	t := fs.t
	if db, ok := fs.dbs[site]; ok {
		return db
	}
	sock := filepath.Join(fs.lab.Dir(), "sites", site, "mariadb", "mariadbd.sock")
	db, err := sql.Open("mysql", "root@unix("+sock+")/")
	require.NoError(t, err)
	// No idle sessions: a test may kill the site, and a pooled session to
	// a dead server only makes the driver log a broken pipe.
	db.SetMaxIdleConns(0)
	t.Cleanup(func() { _ = db.Close() })
	if fs.dbs == nil {
		fs.dbs = map[string]*sql.DB{}
	}
	fs.dbs[site] = db
	return db
}

// statements counts the dbStatements in site's general log.
func (e *effects) statements(ctx context.Context, site string) map[string]int {
	t := e.fs.t
	rows, err := e.db[site].QueryContext(ctx, "SELECT CONVERT(argument USING utf8mb4) FROM mysql.general_log WHERE command_type IN ('Query','Execute')")
	require.NoError(t, err)
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var q string
		require.NoError(t, rows.Scan(&q))
		q = strings.Join(strings.Fields(q), " ")
		for _, s := range dbStatements {
			if strings.HasPrefix(strings.ToUpper(q), strings.ToUpper(s)) {
				out[s]++
			}
		}
	}
	require.NoError(t, rows.Err())
	return out
}

func (fs *faultStack) zoneSerial(ctx context.Context, site string) uint32 {
	t := fs.t
	s, ok := fs.p.Site(site)
	require.True(t, ok)
	c := pdnsapi.NewClient(s.DNS.Servers[0].APIURL, fs.lab.Env()[lab.EnvPDNSAPIKey])
	z, err := c.GetZone(ctx, "mdc.test.")
	require.NoError(t, err)
	return z.Serial
}

// vmEvents reads site's vCenter event log: VM power, clone and removal
// events, newest first.
func (fs *faultStack) vmEvents(ctx context.Context, site string) []types.BaseEvent {
	t := fs.t
	c := fs.vcClient(ctx, site)
	defer func() { _ = c.Logout(context.Background()) }()
	evs, err := event.NewManager(c.Client).QueryEvents(ctx, types.EventFilterSpec{
		MaxCount:    1000,
		EventTypeId: []string{"VmPoweredOnEvent", "VmPoweredOffEvent", "VmClonedEvent", "VmRemovedEvent"},
	})
	require.NoError(t, err)
	return evs
}

func lastVMEventKey(evs []types.BaseEvent) int32 {
	var k int32
	for _, ev := range evs {
		k = max(k, ev.GetEvent().Key)
	}
	return k
}

// vcClient logs in to site's vCenter as the workers do.
func (fs *faultStack) vcClient(ctx context.Context, site string) *govmomi.Client {
	t := fs.t
	s, ok := fs.p.Site(site)
	require.True(t, ok)
	user, pass, err := fs.p.VCenterCredentials(site, fs.lab.Lookup)
	require.NoError(t, err)
	u, err := soap.ParseURL(s.VCenter.URL)
	require.NoError(t, err)
	u.User = url.UserPassword(user, pass)
	c, err := govmomi.NewClient(ctx, u, true)
	require.NoError(t, err)
	return c
}

// eventCounts counts the messages per subject of failover outcome events.
func (fs *faultStack) eventCounts(ctx context.Context) map[string]uint64 {
	t := fs.t
	nc, err := nats.Connect(fs.st.NATS.URL)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	s, err := js.Stream(ctx, events.DefaultStream)
	require.NoError(t, err)
	info, err := s.Info(ctx, jetstream.WithSubjectFilter("mdc.events.failover.>"))
	require.NoError(t, err)
	out := map[string]uint64{}
	for subj, n := range info.State.Subjects {
		out[subj] = n
	}
	return out
}

// lbSampler follows one HAProxy backend's servers from the outside.
type lbSampler struct {
	stopOnce      sync.Once
	done, stopped chan struct{}
	mu            sync.Mutex
	counts        map[string]int
	samples       int
}

func startLBSampler(t *testing.T, runtimeAPI, backend string) *lbSampler {
	l := &lbSampler{done: make(chan struct{}), stopped: make(chan struct{}), counts: map[string]int{}}
	read := func() (map[string]bool, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		st, err := haproxyapi.ShowServersState(ctx, runtimeAPI, backend)
		if err != nil {
			return nil, err
		}
		m := map[string]bool{}
		for _, s := range st {
			m[s.Name] = s.Maint()
		}
		return m, nil
	}
	prev, err := read()
	require.NoError(t, err)
	sample := func() {
		cur, err := read()
		if err != nil {
			return // a blink of the runtime API; the next sample catches up
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		l.samples++
		for name, maint := range cur {
			was, ok := prev[name]
			switch {
			case !ok:
				l.counts["added "+name]++
				if maint {
					l.counts["maint "+name]++
				}
			case maint && !was:
				l.counts["maint "+name]++
			}
		}
		for name := range prev {
			if _, ok := cur[name]; !ok {
				l.counts["removed "+name]++
			}
		}
		prev = cur
	}
	go func() {
		defer close(l.stopped)
		defer sample() // the state at the end counts too
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-l.done:
				return
			case <-tick.C:
				sample()
			}
		}
	}()
	return l
}

// stop ends the sampling and returns the counts.
func (l *lbSampler) stop() (map[string]int, int) {
	l.stopOnce.Do(func() { close(l.done) })
	<-l.stopped
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int{}
	for k, v := range l.counts {
		out[k] = v
	}
	return out, l.samples
}

// String lists the counts in a stable order, for logs.
func (c effectCounts) String() string {
	var b strings.Builder
	sites := make([]string, 0, len(c.DNSChanges))
	for s := range c.DNSChanges {
		sites = append(sites, s)
	}
	sort.Strings(sites)
	for _, s := range sites {
		fmt.Fprintf(&b, "\n  %s: DNS changes %d; VM %v; DB %v; LB %v", s, c.DNSChanges[s], c.VMEvents[s], c.DBStatements[s], c.LB[s])
	}
	fmt.Fprintf(&b, "\n  events %v", c.Events)
	return b.String()
}

// poweredOn lists site's powered-on VMs (not templates), for expectations.
func (fs *faultStack) poweredOn(site string) []string {
	t := fs.t
	r, err := fs.deps.VSphere.FindVMs(context.Background(), vsphere.FindVMsInput{Site: site})
	require.NoError(t, err)
	var out []string
	for _, vm := range r.VMs {
		if !vm.Template && vm.PowerState == vsphere.PoweredOn {
			out = append(out, vm.Name)
		}
	}
	sort.Strings(out)
	return out
}
