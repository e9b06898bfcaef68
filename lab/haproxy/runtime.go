package haproxy

import (
	"errors"
	"strconv"
	"strings"
)

// procInfo is what the master CLI's `show proc` says about the workers.
type procInfo struct {
	failedReloads int
	worker        int // PID of the current worker (0 reloads); 0 if none
}

// parseShowProc reads `show proc` from the master CLI (HAProxy 2.6 format):
//
//	#<PID>  <type>  <reloads>  <uptime>  <version>
//	11319   master  1 [failed: 0]  ...
//	# workers
//	11429   worker  0   ...
func parseShowProc(out string) (procInfo, error) {
	var pi procInfo
	sawMaster := false
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || strings.HasPrefix(f[0], "#") {
			continue
		}
		pid, err := strconv.Atoi(f[0])
		if err != nil {
			continue
		}
		switch f[1] {
		case "master":
			sawMaster = true
			if i := strings.Index(line, "[failed:"); i >= 0 {
				v := strings.TrimSpace(strings.TrimSuffix(strings.Fields(line[i+len("[failed:"):])[0], "]"))
				pi.failedReloads, _ = strconv.Atoi(v)
			}
		case "worker":
			// Old workers still finishing have reloads >= 1; the current
			// one was forked by the last reload.
			if f[2] == "0" && pi.worker == 0 {
				pi.worker = pid
			}
		}
	}
	if !sawMaster {
		return pi, errors.New("no master line in `show proc` answer")
	}
	return pi, nil
}
