package bench

import "context"

// runFailoverMonitored is the failover with detection: the lab's monitors
// notice the dead site (1 s heartbeats, 3 misses) and the trigger starts
// FailoverSite. It waits for monitors to run inside the dev stack.
func runFailoverMonitored(ctx context.Context, e *env, fs *Figures) error {
	fs.note("RTO from the kill, monitor-detected", "s", "not measured: the dev stack does not run monitors and the trigger yet")
	return nil
}
