package node_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/lab/node"
	"github.com/microdc/mdc/snmpagent"
)

// nodeIP is the lab address plan's NodeIP for Base 53, site 0.
func nodeIP(n int) string { return fmt.Sprintf("127.53.0.%d", 10+n) }

// reporter records SetGuestIP calls; failures makes the next calls fail.
type reporter struct {
	mu       sync.Mutex
	calls    []string
	failures int
}

func (r *reporter) SetGuestIP(_ context.Context, vm, ip string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, vm+"="+ip)
	if r.failures > 0 {
		r.failures--
		return errors.New("vcsim: connection refused")
	}
	return nil
}

func (r *reporter) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

func newManager(t *testing.T, rep node.IPReporter, allocFile string) *node.Manager {
	t.Helper()
	m, err := node.NewManager(node.ManagerOptions{
		Site: "uk", IPs: nodeIP, HTTPPort: httpPort, SNMPPort: snmpPort, Community: "public",
		HealthPath: "/healthz", DSN: deadDSN, Reporter: rep, AllocFile: allocFile,
	})
	require.NoError(t, err)
	t.Cleanup(m.StopAll)
	return m
}

func on(name string) node.VMEvent {
	return node.VMEvent{Name: name, Role: "web", Service: "web", PoweredOn: true}
}
func off(name string) node.VMEvent { return node.VMEvent{Name: name, Role: "web", Service: "web"} }
func del(name string) node.VMEvent {
	return node.VMEvent{Name: name, Role: "web", Service: "web", Deleted: true}
}

// requireServing checks that ip serves name's page.
func requireServing(t *testing.T, ip, name string) {
	t.Helper()
	resp, body := get(t, "http://"+ip+":8080/")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "service web, node "+name+", site uk\n", body)
}

func TestManagerPowerLifecycle(t *testing.T) {
	ctx := context.Background()
	rep := &reporter{}
	m := newManager(t, rep, filepath.Join(t.TempDir(), "alloc.json"))

	require.NoError(t, m.Handle(ctx, on("uk-web-1")))
	requireServing(t, "127.53.0.10", "uk-web-1")
	require.Equal(t, []string{"uk-web-1=127.53.0.10"}, rep.Calls())

	// A repeated event changes nothing: same node, no second report.
	require.NoError(t, m.SetLoad("uk-web-1", 1.5))
	require.NoError(t, m.Handle(ctx, on("uk-web-1")))
	require.Equal(t, []string{"uk-web-1=127.53.0.10"}, rep.Calls())
	require.Equal(t, 1.5, m.Nodes()[0].Load1, "the node was not restarted")

	require.NoError(t, m.Handle(ctx, on("uk-web-2")))
	requireServing(t, "127.53.0.11", "uk-web-2")

	// Other roles are not web nodes.
	require.NoError(t, m.Handle(ctx, node.VMEvent{Name: "uk-db-1", Role: "db", PoweredOn: true}))
	require.Len(t, m.Nodes(), 2)

	require.NoError(t, m.Handle(ctx, off("uk-web-1")))
	requireDown(t, "127.53.0.10")
	require.NoError(t, m.Handle(ctx, off("uk-web-1")), "repeated power-off")
	nodes := m.Nodes()
	require.Equal(t, "uk-web-1", nodes[0].Name)
	require.False(t, nodes[0].Running)
	require.Equal(t, "127.53.0.10", nodes[0].IP, "a powered-off VM keeps its address")

	// Power on again: same address, reported again (vSphere forgets the
	// guest IP of a powered-off VM), and a fresh load.
	require.NoError(t, m.Handle(ctx, on("uk-web-1")))
	requireServing(t, "127.53.0.10", "uk-web-1")
	require.Equal(t, []string{"uk-web-1=127.53.0.10", "uk-web-2=127.53.0.11", "uk-web-1=127.53.0.10"}, rep.Calls())
	require.Zero(t, m.Nodes()[0].Load1)

	// Deleted: node gone, slot freed for the next VM.
	require.NoError(t, m.Handle(ctx, del("uk-web-1")))
	requireDown(t, "127.53.0.10")
	require.NoError(t, m.Handle(ctx, del("uk-web-1")), "repeated delete")
	require.NoError(t, m.Handle(ctx, on("uk-web-3")))
	requireServing(t, "127.53.0.10", "uk-web-3")
	require.Equal(t, []string{"uk-web-2", "uk-web-3"}, names(m.Nodes()))
}

func names(infos []node.Info) []string {
	out := []string{}
	for _, i := range infos {
		out = append(out, i.Name)
	}
	return out
}

func TestManagerAllocationsSurviveRestart(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "lab", "uk-nodes.json")
	m1 := newManager(t, nil, file)
	for _, vm := range []string{"uk-web-a", "uk-web-b", "uk-web-c"} {
		require.NoError(t, m1.Handle(ctx, on(vm)))
	}
	require.NoError(t, m1.Handle(ctx, del("uk-web-b")))
	m1.StopAll() // the site (or the lab) is killed
	requireDown(t, "127.53.0.10")
	requireDown(t, "127.53.0.12")
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	require.JSONEq(t, `{"uk-web-a": 0, "uk-web-c": 2}`, string(b))

	m2 := newManager(t, nil, file)
	nodes := m2.Nodes()
	require.Len(t, nodes, 2)
	require.Equal(t, node.Info{Name: "uk-web-c", Site: "uk", Service: "web", IP: "127.53.0.12"}, nodes[1])
	require.NoError(t, m2.Handle(ctx, on("uk-web-c")))
	requireServing(t, "127.53.0.12", "uk-web-c")
	require.NoError(t, m2.Handle(ctx, on("uk-web-d")))
	requireServing(t, "127.53.0.11", "uk-web-d") // b's freed slot

	// StopAll keeps allocations: power-on restarts on the same address.
	m2.StopAll()
	requireDown(t, "127.53.0.12")
	require.NoError(t, m2.Handle(ctx, on("uk-web-c")))
	requireServing(t, "127.53.0.12", "uk-web-c")
}

func TestManagerSetLoad(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, nil, "")
	err := m.SetLoad("uk-web-9", 2)
	require.EqualError(t, err, `no web node "uk-web-9" at site uk; the site has no web nodes`)

	require.NoError(t, m.Handle(ctx, on("uk-web-1")))
	require.NoError(t, m.Handle(ctx, on("uk-web-2")))
	require.NoError(t, m.Handle(ctx, off("uk-web-2")))
	err = m.SetLoad("uk-web-9", 2)
	require.EqualError(t, err, `no web node "uk-web-9" at site uk; known nodes: uk-web-1 (running), uk-web-2 (powered off)`)
	err = m.SetLoad("uk-web-2", 2)
	require.EqualError(t, err, `web node "uk-web-2" at site uk is powered off; power its VM on first`)

	require.NoError(t, m.SetLoad("uk-web-1", 3.25))
	res, err := snmpClient(t, "127.53.0.10:1161").Get([]string{snmpagent.OIDLaLoad1, snmpagent.OIDLaLoadInt1})
	require.NoError(t, err)
	require.Equal(t, "3.25", string(res.Variables[0].Value.([]byte)))
	require.Equal(t, 325, res.Variables[1].Value.(int))
}

func TestManagerReportFailureIsRetried(t *testing.T) {
	ctx := context.Background()
	rep := &reporter{failures: 1}
	m := newManager(t, rep, "")
	err := m.Handle(ctx, on("uk-web-1"))
	require.ErrorContains(t, err, "web node uk-web-1 is serving on 127.53.0.10, but reporting the IP to vSphere failed")
	require.ErrorContains(t, err, "vcsim: connection refused")
	requireServing(t, "127.53.0.10", "uk-web-1")

	require.NoError(t, m.Handle(ctx, on("uk-web-1")), "the repeated event retries the report")
	require.NoError(t, m.Handle(ctx, on("uk-web-1")))
	require.Len(t, rep.Calls(), 2)
}

// A VM destroyed and re-cloned under the same name is a new VM whatever
// order its events arrive in: the new VM gets its guest IP reported, and
// the old VM's late deletion does not stop the new VM's node.
func TestManagerTellsAReusedNameByItsRef(t *testing.T) {
	ctx := context.Background()
	rep := &reporter{}
	m := newManager(t, rep, "")
	withRef := func(ev node.VMEvent, ref string) node.VMEvent { ev.Ref = ref; return ev }

	require.NoError(t, m.Handle(ctx, withRef(on("uk-web-1"), "vm-1")))
	require.NoError(t, m.Handle(ctx, withRef(on("uk-web-1"), "vm-9")), "the clone's power-on before the old VM's deletion")
	require.Equal(t, []string{"uk-web-1=127.53.0.10", "uk-web-1=127.53.0.10"}, rep.Calls(), "the new VM's IP is reported")
	require.NoError(t, m.Handle(ctx, withRef(del("uk-web-1"), "vm-1")))
	requireServing(t, "127.53.0.10", "uk-web-1")
	require.NoError(t, m.Handle(ctx, withRef(on("uk-web-1"), "vm-9")))
	require.Len(t, rep.Calls(), 2, "a repeated event of the new VM reports nothing")

	// The order the watcher now uses: deletion, then the new VM.
	require.NoError(t, m.Handle(ctx, withRef(del("uk-web-1"), "vm-9")))
	requireDown(t, "127.53.0.10")
	require.NoError(t, m.Handle(ctx, withRef(on("uk-web-1"), "vm-12")))
	requireServing(t, "127.53.0.10", "uk-web-1")
	require.Len(t, rep.Calls(), 3)
}

func TestManagerErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	_, err := node.NewManager(node.ManagerOptions{Site: "uk"})
	require.ErrorContains(t, err, "ManagerOptions.IPs is nil")

	bad := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte("{not json"), 0o600))
	_, err = node.NewManager(node.ManagerOptions{Site: "uk", IPs: nodeIP, AllocFile: bad})
	require.ErrorContains(t, err, "node allocation file "+bad+" is not a JSON object")
	require.NoError(t, os.WriteFile(bad, []byte(`{"a": 1, "b": 1}`), 0o600))
	_, err = node.NewManager(node.ManagerOptions{Site: "uk", IPs: nodeIP, AllocFile: bad})
	require.ErrorContains(t, err, "both have slot 1")
	require.NoError(t, os.WriteFile(bad, []byte(`{"a": 5}`), 0o600))
	_, err = node.NewManager(node.ManagerOptions{Site: "uk", IPs: nodeIP, AllocFile: bad, MaxNodes: 3})
	require.ErrorContains(t, err, `VM "a" has slot 5, outside 0..2`)

	m, err := node.NewManager(node.ManagerOptions{Site: "uk", IPs: nodeIP, MaxNodes: 1, HTTPPort: httpPort, SNMPPort: snmpPort})
	require.NoError(t, err)
	t.Cleanup(m.StopAll)
	require.NoError(t, m.Handle(ctx, on("uk-web-1")))
	err = m.Handle(ctx, on("uk-web-2"))
	require.ErrorContains(t, err, `no free node address for VM "uk-web-2": all 1 slots are taken`)
	require.Equal(t, []string{"uk-web-1"}, names(m.Nodes()), "a VM that got no slot is not listed")
	require.ErrorContains(t, m.Handle(ctx, node.VMEvent{Role: "web", PoweredOn: true}), "without a VM name")
}

// TestManagerManyNodes powers on 100 nodes and measures what a node costs.
func TestManagerManyNodes(t *testing.T) {
	const n = 100
	ctx := context.Background()
	m := newManager(t, nil, "")
	runtime.GC()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	start := time.Now()
	for i := range n {
		require.NoError(t, m.Handle(ctx, on(fmt.Sprintf("uk-web-%03d", i))))
	}
	elapsed := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	for i := range n {
		resp, _ := get(t, fmt.Sprintf("http://%s:8080/healthz", nodeIP(i)))
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	start = time.Now()
	m.StopAll()
	stopped := time.Since(start)
	t.Logf("%d nodes: power on %v (%v/node), heap+stacks %.0f KiB/node, stop all %v", n, elapsed, elapsed/n,
		float64(ms1.HeapInuse+ms1.StackInuse-ms0.HeapInuse-ms0.StackInuse)/1024/n, stopped)
	for i := range n {
		requireDown(t, nodeIP(i))
	}
}
