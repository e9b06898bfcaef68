// Package devstack composes `mdc dev`: the embedded Temporal server and Web
// UI, the embedded NATS server, the lab and a worker, in one process, on
// state that survives restarts.
package devstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/microdc/mdc/activities/events"
	"github.com/microdc/mdc/activities/temporalops"
	"github.com/microdc/mdc/embedded"
	"github.com/microdc/mdc/lab"
	"github.com/microdc/mdc/monitor"
	"github.com/microdc/mdc/schedules"
	"github.com/microdc/mdc/workers"
	"github.com/microdc/mdc/workflows"
)

// Options configure the dev stack.
type Options struct {
	StateDir  string
	IP        string
	GRPCPort  int
	UIPort    int
	NATSPort  int
	Namespace string
	// Lab starts the lab with LabOptions (Dir defaults to StateDir/lab).
	Lab        bool
	LabOptions lab.Options
	Logger     *slog.Logger
	// NoWorkers starts no workers in this process: tests run `mdc worker`
	// as separate processes so that they can kill them (-9) mid-workflow.
	NoWorkers bool
	// Monitors runs a monitor per lab site and the witness (monitor.go);
	// `mdc dev` sets it unless --no-monitor. MonitorTuning sets their pace.
	Monitors      bool
	MonitorTuning monitor.Tuning
	// NoTrigger runs no trigger (trigger.go); by default the stack runs one
	// with the rules of TriggerPlatform, or of the lab's platform file when
	// it is empty (--no-trigger, --trigger-platform).
	NoTrigger       bool
	TriggerPlatform string
}

// Stack is a running dev stack.
type Stack struct {
	Temporal *embedded.Temporal
	NATS     *embedded.NATS
	Lab      *lab.Lab
	Client   client.Client
	workers  []worker.Worker
	events   *events.Activities
	log      *slog.Logger
	Timings  map[string]time.Duration
	monitors *monitorSet
	trigger  *triggerRun
}

// Start checks every port first (so a clash fails before anything starts),
// then starts Temporal, NATS, the lab and the workers.
func Start(ctx context.Context, o Options) (st *Stack, err error) {
	if o.IP == "" {
		o.IP = "127.0.0.1"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Lab && o.LabOptions.Dir == "" {
		o.LabOptions.Dir = filepath.Join(o.StateDir, "lab")
	}
	if o.Lab && o.LabOptions.Logger == nil {
		o.LabOptions.Logger = o.Logger.With("component", "lab")
	}
	checks := []struct {
		port       int
		what, flag string
		ip         string
	}{
		{o.GRPCPort, "Temporal gRPC", "--grpc-port", o.IP},
		{o.UIPort, "Temporal Web UI", "--ui-port", o.IP},
		{o.NATSPort, "NATS", "--nats-port", o.IP},
	}
	if o.Lab {
		p := o.LabOptions.Plan
		checks = append(checks, struct {
			port       int
			what, flag string
			ip         string
		}{p.ControlPort, "lab control API", "--lab-control-port", p.InfraIP(0)})
	}
	for _, c := range checks {
		if c.port == 0 {
			continue
		}
		if err := embedded.CheckPortFree(c.ip, c.port, c.what, c.flag); err != nil {
			return nil, err
		}
	}

	trigPlatform, err := triggerPlatform(o)
	if err != nil {
		return nil, err
	}
	s := &Stack{log: o.Logger, Timings: map[string]time.Duration{}}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	t0 := time.Now()
	s.Temporal, err = embedded.StartTemporal(ctx, embedded.TemporalOptions{
		IP: o.IP, GRPCPort: o.GRPCPort, UIPort: o.UIPort, Namespace: o.Namespace,
		DatabaseFile:     filepath.Join(o.StateDir, "temporal.db"),
		SearchAttributes: workflows.SearchAttributes(), Logger: o.Logger,
	})
	if err != nil {
		return nil, err
	}
	s.Timings["temporal"] = time.Since(t0)
	t0 = time.Now()
	s.NATS, err = embedded.StartNATS(embedded.NATSOptions{IP: o.IP, Port: o.NATSPort, StoreDir: filepath.Join(o.StateDir, "jetstream")})
	if err != nil {
		return nil, err
	}
	s.Timings["nats"] = time.Since(t0)
	if o.Lab {
		t0 = time.Now()
		s.Lab, err = lab.Start(ctx, o.LabOptions)
		if err != nil {
			return nil, fmt.Errorf("start lab: %w", err)
		}
		if err = s.Lab.ServeControl(); err != nil {
			return nil, err
		}
		s.Timings["lab"] = time.Since(t0)
	}
	s.Client, err = client.Dial(client.Options{HostPort: s.Temporal.Address, Namespace: o.Namespace, Logger: sdkLogger(o.Logger)})
	if err != nil {
		return nil, fmt.Errorf("connect worker to embedded temporal: %w", err)
	}
	if !o.NoWorkers {
		if err = s.startWorkers(); err != nil {
			return nil, err
		}
	}
	if s.Lab != nil {
		// Protected VMs replicate on their schedules from the first start on;
		// later starts update the schedules to the platform file.
		if _, err = schedules.EnsureReplicationSchedules(ctx, s.Client, s.Lab.Platform()); err != nil {
			return nil, fmt.Errorf("replication schedules: %w", err)
		}
	}
	if err = s.startTrigger(ctx, o, trigPlatform); err != nil {
		return nil, err
	}
	if o.Monitors && s.Lab != nil {
		if err = s.startMonitors(ctx, o.MonitorTuning); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// startWorkers runs the shared workflow worker and, with the lab, one
// activity worker per site, built from the lab's platform file exactly as
// `mdc worker` builds them from a real one.
func (s *Stack) startWorkers() error {
	ws := []worker.Worker{workers.NewShared(s.Client, workers.SharedQueue)}
	if s.Lab != nil {
		ev, err := events.New(context.Background(), events.Options{URL: s.NATS.URL})
		if err != nil {
			return fmt.Errorf("events publisher: %w", err)
		}
		s.events = ev
		ops := temporalops.New(s.Client)
		p := s.Lab.Platform()
		for _, site := range p.SiteNames() {
			deps, err := workers.BuildDeps(p, s.Lab.Lookup, []string{site})
			if err != nil {
				return fmt.Errorf("activities for lab site %s: %w", site, err)
			}
			deps.Events, deps.TemporalOps = ev, ops
			ws = append(ws, workers.NewSite(s.Client, site, deps))
		}
	}
	for _, w := range ws {
		if err := w.Start(); err != nil {
			return fmt.Errorf("start worker: %w", err)
		}
		s.workers = append(s.workers, w)
	}
	return nil
}

// Stop stops everything in reverse order; safe on a partly started stack.
func (s *Stack) Stop() {
	s.stopMonitors()
	s.stopTrigger()
	for _, w := range s.workers {
		w.Stop()
	}
	if s.events != nil {
		events.Close(s.events)
	}
	if s.Client != nil {
		s.Client.Close()
	}
	if s.Lab != nil {
		s.Lab.Stop()
	}
	if s.NATS != nil {
		s.NATS.Stop()
	}
	if s.Temporal != nil {
		s.Temporal.Stop()
	}
}

// Wait blocks until ctx ends or a component fails on its own.
func (s *Stack) Wait(ctx context.Context) error {
	var uiErr <-chan error
	if s.Temporal != nil {
		uiErr = s.Temporal.UIErr()
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-uiErr:
		if err == nil {
			err = errors.New("stopped")
		}
		return fmt.Errorf("temporal web UI: %w", err)
	}
}
