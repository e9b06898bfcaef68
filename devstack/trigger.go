package devstack

import (
	"context"
	"fmt"
	"time"

	"github.com/microdc/mdc/platform"
	"github.com/microdc/mdc/triggers"
	"github.com/microdc/mdc/workers"
)

// triggerStopTimeout bounds waiting for in-flight events at Stop: each is
// bounded by the trigger's call timeout anyway.
const triggerStopTimeout = 15 * time.Second

// triggerRun is the stack's trigger, run exactly as `mdc trigger` runs it.
type triggerRun struct {
	t        *triggers.Trigger
	platform string // where the rules came from, for people
	cancel   context.CancelFunc
	done     chan error
}

// triggerPlatform loads the platform file the trigger takes its rules from
// when Options.TriggerPlatform names one, before anything starts, so that a
// bad triggers section is refused with its file:line:col at once. nil means
// the lab's platform.
func triggerPlatform(o Options) (*platform.Platform, error) {
	if o.NoTrigger || o.TriggerPlatform == "" {
		return nil, nil
	}
	p, err := platform.Load(o.TriggerPlatform)
	if err != nil {
		return nil, fmt.Errorf("trigger platform file (--trigger-platform): %w", err)
	}
	return p, nil
}

// startTrigger runs the trigger on the embedded NATS and Temporal with the
// rules of p, or of the lab's platform file when p is nil. Without the lab
// and without a platform file there is nothing to check events against, so
// no trigger runs.
func (s *Stack) startTrigger(ctx context.Context, o Options, p *platform.Platform) error {
	if o.NoTrigger {
		return nil
	}
	source := o.TriggerPlatform
	if p == nil {
		if s.Lab == nil {
			s.log.Info("no trigger: without the lab it needs a platform file (--trigger-platform)")
			return nil
		}
		p, source = s.Lab.Platform(), s.Lab.PlatformPath()
	}
	tr, err := triggers.New(ctx, triggers.Options{
		NATSURL: s.NATS.URL, Platform: p, Logger: s.log,
		Starter: &triggers.TemporalStarter{Client: s.Client, TaskQueue: workers.SharedQueue},
	})
	if err != nil {
		return fmt.Errorf("start trigger (turn it off with --no-trigger): %w", err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	run := &triggerRun{t: tr, platform: source, cancel: cancel, done: make(chan error, 1)}
	go func() { run.done <- tr.Run(rctx) }()
	s.trigger = run
	return nil
}

// TriggerStats returns the trigger's counters; false when no trigger runs.
func (s *Stack) TriggerStats() (triggers.Stats, bool) {
	if s.trigger == nil {
		return triggers.Stats{}, false
	}
	return s.trigger.t.Stats(), true
}

// TriggerRules describes the running trigger's rules and where they came
// from; empty when no trigger runs.
func (s *Stack) TriggerRules() string {
	if s.trigger == nil {
		return ""
	}
	return fmt.Sprintf("%s (from %s)", triggers.Rules(s.trigger.t.Platform()), s.trigger.platform)
}

// stopTrigger stops the trigger before what it talks to; its counters are
// logged as it stops.
func (s *Stack) stopTrigger() {
	run := s.trigger
	if run == nil {
		return
	}
	s.trigger = nil
	run.cancel()
	select {
	case err := <-run.done:
		if err != nil {
			s.log.Warn("trigger stopped with an error", "err", err)
		}
	case <-time.After(triggerStopTimeout):
		s.log.Warn("trigger did not stop in time; closing its connection", "timeout", triggerStopTimeout)
	}
	run.t.Close()
}
