package lab

import (
	"net/netip"
	"os/exec"

	"github.com/microdc/mdc/dnsquery"

	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/gosnmp/gosnmp"
	"github.com/stretchr/testify/require"
	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"

	"github.com/microdc/mdc/haproxyapi"
	"github.com/microdc/mdc/platform"
)

// startTestLab starts a two-site lab at 127.65/66 in a temp dir.
func startTestLab(t *testing.T, dir string) *Lab {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	o := DefaultOptions(dir)
	o.Plan.Base = 65
	t0 := time.Now()
	l, err := Start(ctx, o)
	require.NoError(t, err)
	t.Logf("lab started in %s", time.Since(t0).Round(time.Millisecond))
	t.Cleanup(l.Stop)
	return l
}

func TestLabComponentsAnswerForReal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole lab")
	}
	l := startTestLab(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The platform file the lab wrote validates and describes it.
	p, err := platform.Load(l.PlatformPath())
	require.NoError(t, err)
	require.Len(t, p.Sites, 2)
	// Sourcing lab.env points mdc's commands at this lab's platform file,
	// whatever the state dir.
	out, err := exec.Command("bash", "-c", ". "+l.EnvPath()+" && printf %s \"$MDC_PLATFORM_FILE\"").Output()
	require.NoError(t, err)
	require.Equal(t, l.PlatformPath(), string(out))

	for i, s := range l.Sites() {
		t.Run(s.Name, func(t *testing.T) {
			ps := p.Sites[i]
			// vCenter: log in with the credentials the platform file names,
			// and find the template and the web VMs.
			u, err := url.Parse(ps.VCenter.URL)
			require.NoError(t, err)
			user, _ := l.Lookup(ps.VCenter.UsernameEnv)
			pass, _ := l.Lookup(ps.VCenter.PasswordEnv)
			u.User = url.UserPassword(user, pass)
			vc, err := govmomi.NewClient(ctx, u, true)
			require.NoError(t, err)
			defer vc.Logout(ctx)
			finder := find.NewFinder(vc.Client)
			dc, err := finder.Datacenter(ctx, ps.VCenter.Datacenter)
			require.NoError(t, err)
			finder.SetDatacenter(dc)
			vms, err := finder.VirtualMachineList(ctx, ps.VCenter.Folder+"/*")
			require.NoError(t, err)
			var names []string
			for _, vm := range vms {
				names = append(names, vm.Name())
			}
			require.Contains(t, names, "web-template")
			require.Contains(t, names, s.Name+"-web-1")
			require.Contains(t, names, s.Name+"-web-2")

			// HAProxy: both web nodes are in the backend and UP, and a page
			// comes back through the frontend.
			require.Eventually(t, func() bool {
				st, err := haproxyapi.ShowServersState(ctx, ps.LB.RuntimeAPI, ps.LB.Backend)
				if err != nil || len(st) != 2 {
					return false
				}
				for _, srv := range st {
					if !srv.Up() {
						return false
					}
				}
				return true
			}, 20*time.Second, 100*time.Millisecond)
			body := httpGet(t, "http://"+ps.LB.Frontend+"/")
			require.Contains(t, body, "site "+s.Name)

			// PowerDNS: the API answers, and the DNS answer for each region's
			// client subnet is that region's site frontend.
			key, _ := l.Lookup(ps.DNS.Servers[0].APIKeyEnv)
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ps.DNS.Servers[0].APIURL+"/api/v1/servers/localhost/zones", nil)
			req.Header.Set("X-API-Key", key)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
			for j, other := range l.Sites() {
				got := queryA(t, ps.DNS.Servers[0].Address, "www.mdc.test.", other.Subnet)
				want := l.Plan().FrontendIP(j)
				require.Equal(t, []string{want}, got, "region %s asked %s", other.Region, ps.DNS.Servers[0].Address)
			}

			// A web node serves its page and reports the load set for it over SNMP.
			nodes := l.Status().Sites[i].Nodes
			require.Len(t, nodes, 2)
			n := nodes[0]
			require.Contains(t, httpGet(t, fmt.Sprintf("http://%s:%d/", n.IP, l.Plan().ServicePort)), n.Name)
			require.NoError(t, l.SetLoad(n.Name, 2.5))
			community, _ := l.Lookup(ps.SNMP.CommunityEnv)
			require.Equal(t, "2.50", snmpLoad(t, n.IP, ps.SNMP.Port, community))
		})
	}

	// MariaDB: a row written at the primary (through a uk web node) is read
	// at the replica with the admin account.
	uk, us := p.Sites[0], p.Sites[1]
	require.Equal(t, "primary", uk.Database.Role)
	var written struct{ ID int64 }
	body := httpGet(t, "http://"+uk.LB.Frontend+"/db")
	require.Contains(t, body, `"db":"ok"`, body)
	_, err = fmt.Sscanf(body[strings.Index(body, `"id":`)+5:], "%d", &written.ID)
	require.NoError(t, err)
	// The admin account mdc uses has, by design, no rights on app tables:
	// read with the app account, as a us web node would.
	require.Equal(t, "replica", us.Database.Role)
	db, err := sql.Open("mysql", l.Sites()[1].appDSN())
	require.NoError(t, err)
	defer db.Close()
	require.Eventually(t, func() bool {
		var n int
		err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM mdc_app.visits WHERE id = ?", written.ID).Scan(&n)
		return err == nil && n == 1
	}, 20*time.Second, 50*time.Millisecond, "row %d written at the primary never reached the replica", written.ID)
}

func TestKillAndReviveSiteChangeExactlyThatSite(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole lab")
	}
	l := startTestLab(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	uk, us := l.Sites()[0], l.Sites()[1]
	endpoints := func(s *Site) []string {
		eps := []string{s.vcAddr(), s.runtimeAPI(), s.pdnsAPIAddr(), s.dnsAddr(), s.dbAddr(), s.frontend()}
		for _, n := range s.nodes.Nodes() {
			eps = append(eps, net.JoinHostPort(n.IP, strconv.Itoa(l.Plan().ServicePort)))
		}
		return eps
	}
	ukEndpoints, usEndpoints := endpoints(uk), endpoints(us)
	require.Len(t, ukEndpoints, 8)
	for _, ep := range append(ukEndpoints, usEndpoints...) {
		require.True(t, listening(ep), "%s should be up before the kill", ep)
	}

	require.NoError(t, l.KillSite(ctx, "uk"))
	require.False(t, uk.Alive())
	for _, ep := range ukEndpoints {
		require.False(t, listening(ep), "%s should be down after kill-site uk", ep)
	}
	for _, ep := range usEndpoints {
		require.True(t, listening(ep), "%s should be untouched by kill-site uk", ep)
	}
	require.ErrorIs(t, l.KillSite(ctx, "uk"), errAlready)
	var unknown *UnknownSiteError
	require.ErrorAs(t, l.KillSite(ctx, "mars"), &unknown)
	require.Contains(t, unknown.Error(), "uk, us")

	t0 := time.Now()
	require.NoError(t, l.ReviveSite(ctx, "uk"))
	t.Logf("uk revived in %s", time.Since(t0).Round(time.Millisecond))
	require.True(t, uk.Alive())
	require.Equal(t, ukEndpoints, endpoints(uk), "the revived site has the same addresses and nodes")
	for _, ep := range append(ukEndpoints, usEndpoints...) {
		require.Eventually(t, func() bool { return listening(ep) }, 20*time.Second, 50*time.Millisecond, "%s after revive", ep)
	}
	require.Eventually(t, func() bool {
		return strings.Contains(httpGetErr("http://"+uk.frontend()+"/db"), `"db":"ok"`)
	}, 20*time.Second, 100*time.Millisecond, "uk serves database writes again after revive")
}

func listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func httpGetErr(u string) string {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func httpGet(t *testing.T, u string) string {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s: %s", u, b)
	return string(b)
}

func queryA(t *testing.T, server, name, subnet string) []string {
	t.Helper()
	ips, err := dnsquery.A(context.Background(), server, name, netip.MustParsePrefix(subnet))
	require.NoError(t, err)
	return ips
}

func snmpLoad(t *testing.T, ip string, port int, community string) string {
	t.Helper()
	g := &gosnmp.GoSNMP{Target: ip, Port: uint16(port), Community: community, Version: gosnmp.Version2c, Timeout: 2 * time.Second, Retries: 1}
	require.NoError(t, g.Connect())
	defer g.Conn.Close()
	r, err := g.Get([]string{".1.3.6.1.4.1.2021.10.1.3.1"})
	require.NoError(t, err)
	require.Len(t, r.Variables, 1)
	b, ok := r.Variables[0].Value.([]byte)
	require.True(t, ok, "laLoad.1 is an OCTET STRING, got %T", r.Variables[0].Value)
	return string(b)
}

func TestPoweringAVMOffTakesItsNodeDown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole lab")
	}
	l := startTestLab(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	uk := l.Sites()[0]
	c, err := uk.vc.Client(ctx)
	require.NoError(t, err)
	defer c.Logout(ctx)
	finder := find.NewFinder(c.Client, true)
	vm, err := finder.VirtualMachine(ctx, uk.vc.Folder()+"/uk-web-2")
	require.NoError(t, err)
	ip, err := vm.WaitForIP(ctx)
	require.NoError(t, err)
	addr := net.JoinHostPort(ip, strconv.Itoa(l.Plan().ServicePort))
	require.True(t, listening(addr), "uk-web-2 serves at its guest IP %s", ip)

	task, err := vm.PowerOff(ctx)
	require.NoError(t, err)
	require.NoError(t, task.Wait(ctx))
	require.Eventually(t, func() bool { return !listening(addr) }, 10*time.Second, 20*time.Millisecond, "node stops with its VM")
	require.Eventually(t, func() bool {
		st, err := haproxyapi.ShowServersState(ctx, uk.runtimeAPI(), backendName)
		if err != nil {
			return false
		}
		for _, s := range st {
			if s.Name == "uk-web-2" {
				return !s.Up()
			}
		}
		return false
	}, 10*time.Second, 50*time.Millisecond, "HAProxy's health check takes the node out")
	require.Contains(t, httpGet(t, "http://"+uk.frontend()+"/"), "uk-web-1", "the other node still serves")

	task, err = vm.PowerOn(ctx)
	require.NoError(t, err)
	require.NoError(t, task.Wait(ctx))
	require.Eventually(t, func() bool { return listening(addr) }, 10*time.Second, 20*time.Millisecond, "node returns with its VM, at the same IP")
}
