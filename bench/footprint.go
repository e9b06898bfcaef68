package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/microdc/mdc/embedded"
)

// settle is how long a process runs idle before its RSS is read: past
// start-up's allocations, a few GC cycles and the first poll loops.
const settle = 10 * time.Second

const (
	fpDev      = "mdc dev, idle RSS of the mdc process"
	fpChildren = "  its lab components (HAProxy, PowerDNS, MariaDB; 2 sites)"
	fpReady    = "  mdc dev ready in"
	fpDevAnon  = "  of which anonymous memory (heap, stacks)"
	fpWorker   = "mdc worker (site uk), idle RSS"
	fpWorkAnon = "  of which anonymous memory (heap, stacks) "
)

// runFootprint starts the real binary: `mdc dev` on a bench lab base and
// free ports, waits for its --ready-file and for it to settle, reads VmRSS
// from /proc, then starts `mdc worker` for site uk against it (the lab's
// platform file and credentials) and does the same; both are stopped by
// PID.
func runFootprint(ctx context.Context, e *env, fs *Figures) error {
	if _, err := os.Stat(e.opts.MDC); err != nil {
		return fmt.Errorf("the mdc binary %s: %w (build it with `make build`)", e.opts.MDC, err)
	}
	fs.note(fpDev, "MB", fmt.Sprintf("VmRSS after %s idle: embedded Temporal (SQLite) + Web UI, NATS, vcsim x2, web nodes, workers", settle))
	fs.get(fpDevAnon, "MB")
	fs.get(fpChildren, "MB")
	fs.get(fpReady, "s")
	fs.note(fpWorker, "MB", fmt.Sprintf("VmRSS after %s idle, polling the shared and the uk queues", settle))
	fs.get(fpWorkAnon, "MB")
	for i := range e.opts.Runs {
		if err := footprintOnce(ctx, e, fs); err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		e.progress("footprint: run %d/%d: mdc dev %.0f MB, worker %.0f MB", i+1, e.opts.Runs,
			last(fs.get(fpDev, "MB").Samples), last(fs.get(fpWorker, "MB").Samples))
	}
	return nil
}

func last(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	return v[len(v)-1]
}

type readyFile struct {
	PID          int     `json:"pid"`
	Temporal     string  `json:"temporal"`
	NATS         string  `json:"nats"`
	Platform     string  `json:"platform"`
	LabEnv       string  `json:"lab_env"`
	ReadySeconds float64 `json:"ready_seconds"`
}

func footprintOnce(ctx context.Context, e *env, fs *Figures) error {
	dir, err := os.MkdirTemp(e.opts.WorkDir, "footprint-")
	if err != nil {
		return err
	}
	if !e.opts.Keep {
		defer os.RemoveAll(dir)
	}
	var ports [3]int
	for i := range ports {
		if ports[i], err = embedded.FreePort("127.0.0.1"); err != nil {
			return err
		}
	}
	readyPath := filepath.Join(dir, "ready.json")
	dev, err := startProc(e.opts.MDC, filepath.Join(dir, "dev.log"), cleanEnv(nil), "dev",
		"--state-dir", filepath.Join(dir, "state"), "--lab-base", strconv.Itoa(e.nextBase()),
		"--grpc-port", strconv.Itoa(ports[0]), "--ui-port", strconv.Itoa(ports[1]), "--nats-port", strconv.Itoa(ports[2]),
		"--ready-file", readyPath)
	if err != nil {
		return err
	}
	defer stopProc(dev, os.Interrupt, 20*time.Second)
	var ri readyFile
	if err := poll(ctx, 3*time.Minute, 100*time.Millisecond, func() bool {
		b, err := os.ReadFile(readyPath)
		return err == nil && json.Unmarshal(b, &ri) == nil || dev.exited()
	}); err != nil || dev.exited() {
		return fmt.Errorf("mdc dev did not become ready (log %s): %v", dev.log, err)
	}
	fs.add(fpReady, "s", ri.ReadySeconds)
	time.Sleep(settle)
	rss, anon, err := vmRSS(dev.cmd.Process.Pid)
	if err != nil {
		return err
	}
	var children float64
	for _, pid := range descendants(dev.cmd.Process.Pid) {
		if r, _, err := vmRSS(pid); err == nil {
			children += r
		}
	}
	fs.add(fpDev, "MB", rss)
	fs.add(fpDevAnon, "MB", anon)
	fs.add(fpChildren, "MB", children)

	labEnv, err := readEnvFile(ri.LabEnv)
	if err != nil {
		return err
	}
	w, err := startProc(e.opts.MDC, filepath.Join(dir, "worker.log"), cleanEnv(append(labEnv,
		"MDC_TEMPORAL_ADDRESS="+ri.Temporal, "MDC_NATS_URL="+ri.NATS, "MDC_PLATFORM_FILE="+ri.Platform,
		"MDC_SITE=uk", "MDC_STATE_DIR="+dir)), "worker")
	if err != nil {
		return err
	}
	defer stopProc(w, syscall.SIGTERM, 15*time.Second)
	time.Sleep(settle)
	if w.exited() {
		return fmt.Errorf("mdc worker exited (log %s)", w.log)
	}
	wrss, wanon, err := vmRSS(w.cmd.Process.Pid)
	if err != nil {
		return err
	}
	fs.add(fpWorker, "MB", wrss)
	fs.add(fpWorkAnon, "MB", wanon)
	return nil
}

// proc is a started process and its log file.
type proc struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func startProc(bin, logPath string, env []string, args ...string) (*proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	p := &proc{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stopProc signals the process (by its PID) and kills it if it has not
// exited within grace.
func stopProc(p *proc, sig os.Signal, grace time.Duration) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// cleanEnv is this process's environment without MDC_* settings (the bench
// decides those), plus extra.
func cleanEnv(extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MDC_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// readEnvFile reads the lab's credentials file (export K=V lines).
func readEnvFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var env []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		} else {
			v = strings.Trim(v, "'")
		}
		env = append(env, k+"="+v)
	}
	return env, sc.Err()
}

// vmRSS reads a process's resident set size and its anonymous part (the
// rest is the binary's pages and other files) in MB from /proc.
func vmRSS(pid int) (rss, anon float64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	found := 0
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "RssAnon") {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		if err != nil {
			return 0, 0, err
		}
		if k == "VmRSS" {
			rss = kb / 1024
		} else {
			anon = kb / 1024
		}
		found++
	}
	if found != 2 {
		return 0, 0, errors.New("no VmRSS and RssAnon in /proc/" + strconv.Itoa(pid) + "/status")
	}
	return rss, anon, nil
}

// descendants lists every live process whose parent chain leads to pid.
func descendants(pid int) []int {
	parent := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The command name may contain spaces; fields resume after ')'.
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 1 {
			parent[p], _ = strconv.Atoi(fields[1])
		}
	}
	var out []int
	for p := range parent {
		for q := parent[p]; q > 1; q = parent[q] {
			if q == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}
