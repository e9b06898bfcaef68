package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/microdc/mdc/embedded"
)

type devRun struct {
	cmd    *exec.Cmd
	out    *bytes.Buffer
	ready  map[string]any
	ports  [3]int
	exited chan error
}

// startDev runs `mdc dev` on free ports with its lab at 127.71/72 and waits
// for its ready file.
func startDev(t *testing.T, stateDir string, ports [3]int) *devRun {
	t.Helper()
	readyFile := filepath.Join(t.TempDir(), "ready.json")
	cmd := exec.Command(mdcBinary(t), "dev",
		"--state-dir", stateDir, "--grpc-port", fmt.Sprint(ports[0]), "--ui-port", fmt.Sprint(ports[1]),
		"--nats-port", fmt.Sprint(ports[2]), "--lab-base", "71", "--ready-file", readyFile)
	cmd.Env = append(os.Environ(), "MDC_LOG_LEVEL=info")
	r := &devRun{cmd: cmd, out: &bytes.Buffer{}, ports: ports, exited: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = r.out, r.out
	require.NoError(t, cmd.Start())
	go func() { r.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if alive(cmd.Process.Pid) {
			_ = cmd.Process.Kill()
		}
	})
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(readyFile); err == nil {
			require.NoError(t, json.Unmarshal(b, &r.ready))
			return r
		}
		select {
		case err := <-r.exited:
			t.Fatalf("mdc dev exited before ready (%v):\n%s", err, r.out)
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("mdc dev not ready in 3m:\n%s", r.out)
	return nil
}

// stop sends SIGINT and checks that mdc dev and every child it started are
// gone within a few seconds.
func (r *devRun) stop(t *testing.T) time.Duration {
	t.Helper()
	kids := descendants(r.cmd.Process.Pid)
	require.NotEmpty(t, kids, "the lab runs haproxy, pdns_server and mariadbd as children")
	t0 := time.Now()
	require.NoError(t, r.cmd.Process.Signal(syscall.SIGINT))
	select {
	case err := <-r.exited:
		require.NoError(t, err, r.out.String())
	case <-time.After(15 * time.Second):
		t.Fatalf("mdc dev still running 15s after SIGINT:\n%s", r.out)
	}
	took := time.Since(t0)
	for _, k := range kids {
		require.False(t, alive(k), "child process %d outlived mdc dev", k)
	}
	return took
}

func TestDevStartsServesAndStopsClean(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole platform")
	}
	var ports [3]int
	for i := range ports {
		p, err := embedded.FreePort("127.0.0.1")
		require.NoError(t, err)
		ports[i] = p
	}
	state := t.TempDir()
	run := startDev(t, state, ports)
	t.Logf("first start ready in %.2fs", run.ready["ready_seconds"])

	// The Web UI answers on its port.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", ports[1]))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	// gRPC: a client reaches the namespace and starts a workflow that is
	// still there after a restart.
	c, err := client.Dial(client.Options{HostPort: fmt.Sprintf("127.0.0.1:%d", ports[0])})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "default"})
	require.NoError(t, err)
	_, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "dev-test-persisted", TaskQueue: "no-such-queue"}, "NoSuchWorkflow")
	require.NoError(t, err)
	c.Close()

	// A second mdc dev on the same ports fails naming the port and the flag.
	second := exec.Command(mdcBinary(t), "dev", "--state-dir", t.TempDir(), "--grpc-port", fmt.Sprint(ports[0]),
		"--ui-port", fmt.Sprint(ports[1]), "--nats-port", fmt.Sprint(ports[2]), "--lab-base", "73")
	out, err := second.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), fmt.Sprintf("127.0.0.1:%d", ports[0]))
	require.Contains(t, string(out), "--grpc-port")

	took := run.stop(t)
	t.Logf("stopped in %s", took)
	require.Less(t, took, 10*time.Second)

	// The second start reuses the state: the workflow is still there.
	run = startDev(t, state, ports)
	t.Logf("second start ready in %.2fs", run.ready["ready_seconds"])
	c, err = client.Dial(client.Options{HostPort: fmt.Sprintf("127.0.0.1:%d", ports[0])})
	require.NoError(t, err)
	_, err = c.DescribeWorkflowExecution(ctx, "dev-test-persisted", "")
	require.NoError(t, err)
	c.Close()
	run.stop(t)
}
