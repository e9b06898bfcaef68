package lb

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// ngProc is a child process of the nginx master.
type ngProc struct {
	PID int
	// ShuttingDown: a worker of an older configuration finishing its
	// requests after a reload ("nginx: worker process is shutting down").
	ShuttingDown bool
}

// masterPID reads the nginx master's PID from its pid file and checks that
// the process exists.
func masterPID(pidFile string) (int, error) {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, fmt.Errorf("read nginx pid file: %w (is nginx running?)", err)
	}
	if strings.TrimSpace(string(b)) == "" {
		return 0, fmt.Errorf("nginx pid file %s is empty (is nginx running?)", pidFile)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("nginx pid file %s holds %q, not a PID", pidFile, strings.TrimSpace(string(b)))
	}
	if err := syscall.Kill(pid, 0); err != nil && err != syscall.EPERM {
		return 0, fmt.Errorf("nginx master PID %d from %s is not running: %w", pid, pidFile, err)
	}
	return pid, nil
}

// children lists the processes whose parent is pid, read from /proc: the
// workers (current and shutting down), cache manager and loader.
func children(pid int) ([]ngProc, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var out []ngProc
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		if parentOf(string(stat)) != pid {
			continue
		}
		cmd, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		out = append(out, ngProc{PID: n, ShuttingDown: strings.Contains(string(cmd), "shutting down")})
	}
	return out, nil
}

// parentOf returns the ppid field of /proc/<pid>/stat ("pid (comm) state
// ppid ..."); comm may hold spaces and parentheses, so fields are counted
// from the last ')'.
func parentOf(stat string) int {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 2 {
		return -1
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return -1
	}
	return ppid
}

// alive reports whether process pid exists (and is not a zombie we could
// not tell apart: nginx reaps its workers promptly).
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(stat), ')')
	f := strings.Fields(string(stat)[i+1:])
	return len(f) > 0 && f[0] != "Z"
}
