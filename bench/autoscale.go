package bench

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/microdc/mdc/haproxyapi"
	"github.com/microdc/mdc/lab/node"
	"github.com/microdc/mdc/workers"
	"github.com/microdc/mdc/workflows"
)

// autoscaleWindow is the out window the scenario configures: long enough
// to be a real stabilisation window, short enough for several runs.
const autoscaleWindow = 3 * time.Second

const (
	asReaction = "reaction = crossing -> serving - out window"
	asServing  = "  crossing -> new node serving through HAProxy"
	asUp       = "  crossing -> new node UP in HAProxy"
)

// runAutoscale measures seed 001's rule on a fresh lab per run: the bench
// plays the monitor (it sets uk-web-1's load in the lab, so its SNMP agent
// reports it, and signals the sample to Autoscale as the trigger does),
// then times from the crossing sample to the copy UP in uk's HAProxy and to
// the first response the copy sends through uk's front end.
func runAutoscale(ctx context.Context, e *env, fs *Figures) error {
	t, g := atMost(2)
	fs.target(asReaction, "s", fmt.Sprintf("out window %s; the bench signals the crossing sample itself (a monitor adds up to one poll interval)", autoscaleWindow), t, g)
	fs.get(asServing, "s")
	fs.get(asUp, "s")
	for i := range e.opts.Runs {
		up, serving, steps, err := scaleOutOnce(ctx, e)
		if err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		fs.seconds(asReaction, serving-autoscaleWindow)
		fs.seconds(asServing, serving)
		fs.seconds(asUp, up)
		for _, st := range steps {
			fs.seconds("  ScaleOut step "+st.Name, st.Took)
		}
		e.progress("autoscale: run %d/%d: serving %s after the crossing (window %s)", i+1, e.opts.Runs, serving.Round(time.Millisecond), autoscaleWindow)
	}
	return nil
}

func scaleOutOnce(ctx context.Context, e *env) (up, serving time.Duration, steps []workflows.Step, err error) {
	s, err := e.startStack(ctx, nil)
	if err != nil {
		return 0, 0, nil, err
	}
	defer s.stop()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	uk := s.site("uk")
	in, err := workflows.NewAutoscaleInput(s.p, "uk", "web")
	if err != nil {
		return 0, 0, nil, err
	}
	in.Policy.OutWindow = autoscaleWindow
	in.Policy.OutCooldown = 10 * time.Minute
	in.IPTimeout, in.HealthTimeout, in.DrainDeadline = time.Minute, time.Minute, 10*time.Second
	id := workflows.AutoscaleWorkflowID("web", "uk")
	sample := func(nodeName string, load float64) error {
		if err := s.Lab.SetLoad(nodeName, load); err != nil {
			return err
		}
		_, err := s.Client.SignalWithStartWorkflow(ctx, id, workflows.LoadSignal,
			workflows.LoadSample{Node: nodeName, Load1: load, ObservedAt: time.Now()},
			client.StartWorkflowOptions{ID: id, TaskQueue: workers.SharedQueue}, workflows.AutoscaleName, in)
		return err
	}
	state := func() (workflows.AutoscaleStatus, error) {
		var st workflows.AutoscaleStatus
		v, err := s.Client.QueryWorkflow(ctx, id, "", workflows.StateQuery)
		if err == nil {
			err = v.Get(&st)
		}
		return st, err
	}
	for _, n := range []string{"uk-web-1", "uk-web-2"} {
		if err := sample(n, 0.5); err != nil {
			return 0, 0, nil, err
		}
	}
	var st workflows.AutoscaleStatus
	if err := poll(ctx, 30*time.Second, 50*time.Millisecond, func() bool {
		st, err = state()
		return err == nil && st.Samples == 2 && st.Base == 2
	}); err != nil {
		return 0, 0, nil, fmt.Errorf("Autoscale did not find the two base nodes: %w", err)
	}
	copyName := st.NextCopy

	crossed := time.Now()
	if err := sample("uk-web-1", 2.5); err != nil {
		return 0, 0, nil, err
	}
	var server haproxyapi.ServerState
	if err := poll(ctx, 2*time.Minute, 10*time.Millisecond, func() bool {
		servers, err := haproxyapi.ShowServersState(ctx, uk.LB.RuntimeAPI, uk.LB.Backend)
		for _, sv := range servers {
			if err == nil && sv.Name == copyName && sv.Up() {
				server = sv
				return true
			}
		}
		return false
	}); err != nil {
		return 0, 0, nil, fmt.Errorf("%s never came UP in uk's HAProxy: %w", copyName, err)
	}
	up = time.Since(crossed)
	hc := &http.Client{Timeout: 2 * time.Second}
	if err := poll(ctx, 10*time.Second, 5*time.Millisecond, func() bool {
		r, err := hc.Get("http://" + uk.LB.Frontend + "/")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == http.StatusOK && r.Header.Get(node.HeaderNode) == copyName
	}); err != nil {
		return 0, 0, nil, fmt.Errorf("%s (UP at %s) never answered through uk's front end: %w", copyName, server.HostPort(), err)
	}
	serving = time.Since(crossed)
	if v, err := s.Client.QueryWorkflow(ctx, id+"-out-"+copyName, "", workflows.ProgressQuery); err == nil {
		var p workflows.Progress
		if v.Get(&p) == nil {
			steps = p.Steps
		}
	}
	_ = s.Client.TerminateWorkflow(context.Background(), id, "", "bench done")
	return up, serving, steps, nil
}

// poll calls cond every interval until it holds or timeout passes.
func poll(ctx context.Context, timeout, interval time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
	return nil
}
