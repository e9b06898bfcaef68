package monitor

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// condition logs a recurring failure once: a warning when something stops
// working, debug lines while it stays broken, and one info line when it
// works again. A dead site polled every second must not fill the log.
type condition struct {
	log  *slog.Logger
	what string

	mu       sync.Mutex
	failing  bool
	failures int
	since    time.Time
}

func newCondition(log *slog.Logger, what string) *condition {
	return &condition{log: log, what: what}
}

// fail records one failure.
func (c *condition) fail(err error, args ...any) {
	c.mu.Lock()
	first := !c.failing
	if first {
		c.failing, c.since, c.failures = true, time.Now(), 0
	}
	c.failures++
	n := c.failures
	c.mu.Unlock()
	args = append(args, "err", err)
	if first {
		c.log.Warn(c.what+" failing; retrying quietly (debug level shows each attempt)", args...)
		return
	}
	c.log.Debug(c.what+" still failing", append(args, "attempt", n)...)
}

// ok records a success; it logs only when it ends a failure.
func (c *condition) ok(args ...any) {
	c.mu.Lock()
	was, n, since := c.failing, c.failures, c.since
	c.failing = false
	c.mu.Unlock()
	if was {
		c.log.Info(c.what+" works again", append(args, "failures", n, "after", time.Since(since).Round(time.Millisecond))...)
	}
}

// backoff doubles from min to max.
type backoff struct {
	min, max, cur time.Duration
}

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(b.cur*2, b.max)
	}
	return b.cur
}

func (b *backoff) reset() { b.cur = 0 }

// sleep waits d or until ctx ends; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// every runs fn now and then every interval until ctx ends; a round that
// takes longer than interval delays the next one rather than queueing
// rounds (time.Ticker drops the ticks it could not deliver).
func every(ctx context.Context, interval time.Duration, fn func(now time.Time)) {
	fn(time.Now())
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if ctx.Err() != nil {
				return
			}
			fn(now)
		}
	}
}
