package tests

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/microdc/mdc/activities/vsphere"
	"github.com/microdc/mdc/devstack"
	"github.com/microdc/mdc/embedded"
	"github.com/microdc/mdc/lab"
	"github.com/microdc/mdc/platform"
	"github.com/microdc/mdc/schedules"
	"github.com/microdc/mdc/workers"
)

// faultStack is the dev stack with its lab for the fault tests. With
// processWorkers the workers are real `mdc worker` processes (one per site,
// each also polling the shared workflow queue) that a test can kill -9;
// without, they run in this process as in `mdc dev`. Every log line of the
// stack and of the workers goes to files under logDir, and when the test
// ends every workflow history is exported there and all of it is scanned
// for the lab's secrets (see fault_secrets_scan_test.go).
type faultStack struct {
	t      *testing.T
	st     *devstack.Stack
	lab    *lab.Lab
	p      *platform.Platform
	deps   workers.Deps
	dir    string
	logDir string
	logger *slog.Logger
	dbs    map[string]*sql.DB
	// workers are the worker processes by site, when processWorkers.
	workers map[string]*workerProc
}

func startFaultStack(t *testing.T, base int, processWorkers bool) *faultStack {
	t.Helper()
	// A short path: PowerDNS and MariaDB put unix sockets under it, and a
	// subtest's TempDir can be longer than a socket path may be.
	dir, err := os.MkdirTemp("", "mdcf-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	fs := &faultStack{t: t, dir: dir, logDir: filepath.Join(dir, "logs"), workers: map[string]*workerProc{}}
	require.NoError(t, os.MkdirAll(fs.logDir, 0o755))
	stackLog, err := os.Create(filepath.Join(fs.logDir, "stack.log"))
	require.NoError(t, err)
	// The scan runs last (cleanups run in reverse): after the workers are
	// gone and the stack has stopped, so it sees every line they wrote.
	t.Cleanup(func() {
		_ = stackLog.Close()
		fs.scanForSecrets()
	})
	// One stack starts at a time: four labs and Temporal servers starting
	// at once on two cores miss their own start-up deadlines (NATS's 10 s),
	// and a free port picked here must not be taken by another's start.
	stackStarts.Lock()
	defer stackStarts.Unlock()
	grpc, err := embedded.FreePort("127.0.0.1")
	require.NoError(t, err)
	natsPort, err := embedded.FreePort("127.0.0.1")
	require.NoError(t, err)
	plan := lab.DefaultPlan()
	plan.Base = base
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// Debug: the more the stack says, the more a leak would show.
	logger := slog.New(slog.NewTextHandler(stackLog, &slog.HandlerOptions{Level: slog.LevelDebug}))
	fs.logger = logger
	t0 := time.Now()
	st, err := devstack.Start(ctx, devstack.Options{
		StateDir: dir, GRPCPort: grpc, NATSPort: natsPort, Namespace: "default", Lab: true, Logger: logger,
		NoWorkers:  processWorkers,
		LabOptions: lab.Options{Dir: filepath.Join(dir, "lab"), Sites: []string{"uk", "us"}, Plan: plan, Zone: "mdc.test.", InitialWeb: 2},
	})
	require.NoError(t, err)
	t.Cleanup(st.Stop)
	t.Cleanup(fs.exportHistories)
	fs.st, fs.lab, fs.p = st, st.Lab, st.Lab.Platform()
	fs.deps, err = workers.BuildDeps(fs.p, st.Lab.Lookup, fs.p.SiteNames())
	require.NoError(t, err)
	t.Cleanup(func() { vsphere.Logout(context.Background(), fs.deps.VSphere) })
	// The stack scheduled uk-db-1's replication; a scheduled ReplicateVM
	// would clone at us behind the test's back (and be counted).
	sched := st.Client.ScheduleClient().GetHandle(ctx, schedules.ReplicationScheduleID("uk", "uk-db-1"))
	require.NoError(t, sched.Pause(ctx, client.SchedulePauseOptions{Note: "fault tests count what the workflows do"}))
	if processWorkers {
		t.Cleanup(fs.stopWorkers)
		for _, site := range fs.p.SiteNames() {
			fs.startWorker(site)
		}
		fs.waitWorkers()
	}
	t.Logf("fault stack at 127.%d/%d ready in %s (workers: %s)", base, base+1, time.Since(t0).Round(time.Millisecond),
		map[bool]string{true: "mdc worker processes", false: "in process"}[processWorkers])
	return fs
}

// stackStarts serialises the start of fault stacks (see startFaultStack).
var stackStarts sync.Mutex

// workerProc is one `mdc worker` process.
type workerProc struct {
	site string
	cmd  *exec.Cmd
	// exited is closed once the process has been waited for.
	exited chan struct{}
}

// workerEnv is the environment of a worker: the stack's addresses, the
// lab's platform file and secrets, and nothing MDC_* from the test's own
// environment.
func (fs *faultStack) workerEnv(site string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MDC_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"MDC_TEMPORAL_ADDRESS="+fs.st.Temporal.Address, "MDC_NATS_URL="+fs.st.NATS.URL,
		"MDC_PLATFORM_FILE="+fs.lab.PlatformPath(), "MDC_STATE_DIR="+filepath.Join(fs.dir, "worker-"+site),
		"MDC_SITE="+site, "MDC_LOG_LEVEL=debug",
	)
	for k, v := range fs.lab.Env() {
		env = append(env, k+"="+v)
	}
	return env
}

// startWorker starts site's worker, appending its output to the site's log.
func (fs *faultStack) startWorker(site string) *workerProc {
	t := fs.t
	t.Helper()
	f, err := os.OpenFile(filepath.Join(fs.logDir, "worker-"+site+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	require.NoError(t, err)
	cmd := exec.Command(mdcBinary(t), "worker")
	cmd.Env = fs.workerEnv(site)
	cmd.Stdout, cmd.Stderr = f, f
	require.NoError(t, cmd.Start())
	w := &workerProc{site: site, cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		_ = f.Close()
		close(w.exited)
	}()
	fs.workers[site] = w
	return w
}

// killWorkers kills every worker process with SIGKILL (no chance to finish
// or report anything) and waits until each is gone.
func (fs *faultStack) killWorkers() {
	t := fs.t
	t.Helper()
	for _, w := range fs.workers {
		require.NoError(t, syscall.Kill(w.cmd.Process.Pid, syscall.SIGKILL))
	}
	for _, w := range fs.workers {
		select {
		case <-w.exited:
		case <-time.After(10 * time.Second):
			t.Fatalf("worker %s (pid %d) still running 10s after SIGKILL", w.site, w.cmd.Process.Pid)
		}
		require.Equal(t, syscall.SIGKILL, w.cmd.ProcessState.Sys().(syscall.WaitStatus).Signal(), "worker %s died of SIGKILL", w.site)
	}
}

// restartWorkers starts a new worker per site and waits until they poll.
func (fs *faultStack) restartWorkers() {
	for site := range fs.workers {
		fs.startWorker(site)
	}
	fs.waitWorkers()
}

// stopWorkers ends the workers at the end of a test (SIGINT, then SIGKILL).
func (fs *faultStack) stopWorkers() {
	for _, w := range fs.workers {
		_ = w.cmd.Process.Signal(syscall.SIGINT)
	}
	for _, w := range fs.workers {
		select {
		case <-w.exited:
		case <-time.After(15 * time.Second):
			_ = w.cmd.Process.Kill()
			<-w.exited
		}
	}
}

// waitWorkers waits until Temporal sees each current worker process (by the
// pid in its identity) polling the shared queue and its site's queue.
func (fs *faultStack) waitWorkers() {
	t := fs.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	polling := func(queue string, typ enumspb.TaskQueueType, pid int) bool {
		r, err := fs.st.Client.DescribeTaskQueue(ctx, queue, typ)
		if err != nil {
			return false
		}
		for _, p := range r.GetPollers() {
			if strings.HasPrefix(p.GetIdentity(), fmt.Sprintf("%d@", pid)) {
				return true
			}
		}
		return false
	}
	for site, w := range fs.workers {
		pid := w.cmd.Process.Pid
		require.Eventually(t, func() bool {
			select {
			case <-w.exited:
				t.Fatalf("worker %s exited at start; see %s", site, filepath.Join(fs.logDir, "worker-"+site+".log"))
			default:
			}
			return polling(workers.SharedQueue, enumspb.TASK_QUEUE_TYPE_WORKFLOW, pid) &&
				polling(workers.SiteQueue(site), enumspb.TASK_QUEUE_TYPE_ACTIVITY, pid)
		}, 2*time.Minute, 100*time.Millisecond, "worker %s (pid %d) polls its queues", site, pid)
	}
}

// exportHistories writes the history of every workflow run the stack has
// (closed or open) to logDir/histories, for the secrets scan.
func (fs *faultStack) exportHistories() {
	t := fs.t
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := filepath.Join(fs.logDir, "histories")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Errorf("export histories: %v", err)
		return
	}
	var token []byte
	n := 0
	for {
		r, err := fs.st.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{NextPageToken: token})
		if err != nil {
			t.Errorf("export histories: list workflows: %v", err)
			return
		}
		for _, e := range r.GetExecutions() {
			id, run := e.GetExecution().GetWorkflowId(), e.GetExecution().GetRunId()
			b, err := historyJSON(ctx, fs.st.Client, id, run)
			if err != nil {
				t.Errorf("export history of %s/%s: %v", id, run, err)
				continue
			}
			if err := os.WriteFile(filepath.Join(dir, sanitize(id)+"_"+run+".json"), b, 0o644); err != nil {
				t.Errorf("export histories: %v", err)
			}
			n++
		}
		if token = r.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	t.Logf("exported %d workflow histories to %s", n, dir)
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == ' ' || r == ':' {
			return '_'
		}
		return r
	}, s)
}
