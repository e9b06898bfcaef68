package devstack

import (
	"context"
	"fmt"
	"sync"

	"github.com/microdc/mdc/monitor"
)

// monitorSet is the stack's monitors: one per lab site and the witness,
// each run exactly as `mdc monitor` runs it, against the lab's platform
// file and secrets and the embedded NATS.
type monitorSet struct {
	list   []*monitor.Monitor
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startMonitors starts the monitors of every lab site and the witness. ctx
// bounds only their start (NATS connection); they run until Stop.
func (s *Stack) startMonitors(ctx context.Context, tune monitor.Tuning) error {
	p := s.Lab.Platform()
	set := &monitorSet{}
	s.monitors = set
	opts := make([]monitor.Options, 0, len(p.Sites)+1)
	for _, site := range p.SiteNames() {
		opts = append(opts, monitor.Options{Site: site})
	}
	opts = append(opts, monitor.Options{Witness: true})
	for _, o := range opts {
		o.Platform, o.Env, o.NATSURL, o.Logger, o.Tuning = p, s.Lab.Lookup, s.NATS.URL, s.log, tune
		m, err := monitor.New(ctx, o)
		if err != nil {
			return fmt.Errorf("start monitors (turn them off with --no-monitor): %w", err)
		}
		set.list = append(set.list, m)
	}
	rctx, cancel := context.WithCancel(context.Background())
	set.cancel = cancel
	for _, m := range set.list {
		set.wg.Go(func() { _ = m.Run(rctx) })
	}
	return nil
}

// Monitors returns the running monitors (none when they are off).
func (s *Stack) Monitors() []*monitor.Monitor {
	if s.monitors == nil {
		return nil
	}
	return s.monitors.list
}

// stopMonitors stops the monitors first, so that stopping the lab is not
// reported as sites going down.
func (s *Stack) stopMonitors() {
	set := s.monitors
	if set == nil {
		return
	}
	if set.cancel != nil {
		set.cancel()
	}
	set.wg.Wait()
	for _, m := range set.list {
		m.Close()
	}
	s.monitors = nil
}
