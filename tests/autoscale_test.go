package tests

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/microdc/mdc/activities/vsphere"
	"github.com/microdc/mdc/devstack"
	"github.com/microdc/mdc/haproxyapi"
	"github.com/microdc/mdc/lab/node"
	"github.com/microdc/mdc/workers"
	"github.com/microdc/mdc/workflows"
)

// Seed 001's rule on the lab: uk-web-1's load goes to 2.5 and stays there
// for the (shortened) out window, so a copy is cloned, powered on, checked
// and put in uk's HAProxy, where it serves; when the load falls back to
// 0.3, the copy is drained, removed from HAProxy and destroyed in vcsim.
// The test plays the monitor: it sets the node's load in the lab and
// signals the sample to Autoscale, signal-with-start as the trigger will.
func TestAutoscaleAgainstTheLab(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the lab")
	}
	st := startStack(t, 85)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p := st.Lab.Platform()
	uk := p.Sites[0]
	in, err := workflows.NewAutoscaleInput(p, uk.Name, "web")
	require.NoError(t, err)
	in.Policy.OutWindow = 3 * time.Second
	in.Policy.InWindow = 4 * time.Second
	// A long out cooldown: uk-web-1 stays hot after the copy is made, and
	// one copy is what this test is about.
	in.Policy.OutCooldown = 10 * time.Minute
	in.Policy.InCooldown = time.Second
	in.IPTimeout, in.HealthTimeout, in.DrainDeadline = time.Minute, time.Minute, 10*time.Second

	id := workflows.AutoscaleWorkflowID("web", uk.Name)
	monitor := func(node string, load float64) {
		t.Helper()
		require.NoError(t, st.Lab.SetLoad(node, load))
		_, err := st.Client.SignalWithStartWorkflow(ctx, id, workflows.LoadSignal,
			workflows.LoadSample{Node: node, Load1: load, ObservedAt: time.Now()},
			client.StartWorkflowOptions{ID: id, TaskQueue: workers.SharedQueue}, workflows.AutoscaleName, in)
		require.NoError(t, err)
	}
	state := func() workflows.AutoscaleStatus {
		t.Helper()
		v, err := st.Client.QueryWorkflow(ctx, id, "", workflows.StateQuery)
		require.NoError(t, err)
		var s workflows.AutoscaleStatus
		require.NoError(t, v.Get(&s))
		return s
	}
	t.Cleanup(func() { _ = st.Client.CancelWorkflow(context.Background(), id, "") })

	monitor("uk-web-1", 0.5)
	monitor("uk-web-2", 0.5)
	require.Eventually(t, func() bool { s := state(); return s.Samples == 2 && s.Base == 2 }, 30*time.Second, 100*time.Millisecond,
		"Autoscale found the two base nodes")

	crossed := time.Now()
	monitor("uk-web-1", 2.5)
	copyName := "uk-web-x1"
	var server haproxyapi.ServerState
	require.Eventually(t, func() bool {
		servers, err := haproxyapi.ShowServersState(ctx, uk.LB.RuntimeAPI, uk.LB.Backend)
		if err != nil {
			return false
		}
		for _, s := range servers {
			if s.Name == copyName && s.Up() && !s.Maint() {
				server = s
				return true
			}
		}
		return false
	}, 2*time.Minute, 50*time.Millisecond, "the copy is UP in uk's HAProxy")
	r, err := autoscaleGet("http://" + server.HostPort() + "/")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, r.StatusCode, "the copy serves HTTP")
	require.Equal(t, copyName, r.Header.Get(node.HeaderNode))
	inLB := time.Since(crossed)
	require.Eventually(t, func() bool {
		r, err := autoscaleGet("http://" + uk.LB.Frontend + "/")
		return err == nil && r.Header.Get(node.HeaderNode) == copyName
	}, 10*time.Second, 10*time.Millisecond, "HAProxy sends clients to the copy")
	serving := time.Since(crossed)
	t.Logf("load crossing -> copy UP in HAProxy %s, answering through the frontend %s; minus the %s window: %s",
		inLB.Round(time.Millisecond), serving.Round(time.Millisecond), in.Policy.OutWindow, (serving - in.Policy.OutWindow).Round(time.Millisecond))

	if v, err := st.Client.QueryWorkflow(ctx, id+"-out-"+copyName, "", workflows.ProgressQuery); err == nil {
		var prog workflows.Progress
		if v.Get(&prog) == nil {
			for _, step := range prog.Steps {
				t.Logf("  ScaleOut %-12s %8s %s", step.Name, step.Took.Round(time.Millisecond), step.Detail)
			}
		}
	}
	s := state()
	require.Equal(t, 3, s.Replicas)
	require.Equal(t, 1, s.Extra)
	require.Equal(t, workflows.StepDone, s.Recent[0].Outcome, s.Recent[0].Error)
	require.Greater(t, s.OutCooldownLeft, 9*time.Minute)

	// A worker restart replays the history: the state, cooldown included,
	// comes back the same.
	worker.PurgeStickyWorkflowCache()
	again := state()
	require.Equal(t, s.LastOutAt, again.LastOutAt)
	require.Equal(t, s.Replicas, again.Replicas)
	require.Greater(t, again.OutCooldownLeft, 9*time.Minute)

	monitor("uk-web-1", 0.3)
	calmed := time.Now()
	monitor(copyName, 0.3)
	require.Eventually(t, func() bool {
		servers, err := haproxyapi.ShowServersState(ctx, uk.LB.RuntimeAPI, uk.LB.Backend)
		if err != nil {
			return false
		}
		for _, s := range servers {
			if s.Name == copyName {
				return false
			}
		}
		return true
	}, time.Minute, 50*time.Millisecond, "the copy leaves uk's HAProxy")
	deps, err := workers.BuildDeps(p, st.Lab.Lookup, []string{uk.Name})
	require.NoError(t, err)
	t.Cleanup(func() { vsphere.Logout(context.Background(), deps.VSphere) })
	require.Eventually(t, func() bool {
		r, err := deps.VSphere.FindVMs(ctx, vsphere.FindVMsInput{Site: uk.Name, Names: []string{copyName}})
		return err == nil && len(r.Missing) == 1
	}, 30*time.Second, 100*time.Millisecond, "the copy is destroyed in vcsim")
	t.Logf("load back to 0.3 -> copy destroyed %s (in window %s)", time.Since(calmed).Round(time.Millisecond), in.Policy.InWindow)
	require.Eventually(t, func() bool { s = state(); return len(s.Recent) == 2 }, 10*time.Second, 50*time.Millisecond,
		"Autoscale records the scale-in")
	require.Equal(t, workflows.StepDone, s.Recent[1].Outcome, s.Recent[1].Error)
	require.Equal(t, 2, s.Replicas)

	recordAutoscale(t, st, id, s)
}

// recordAutoscale ends the autoscaler and saves its and its children's
// histories for the replay tests.
func recordAutoscale(t *testing.T, st *devstack.Stack, id string, s workflows.AutoscaleStatus) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, st.Client.CancelWorkflow(ctx, id, ""))
	err := st.Client.GetWorkflow(ctx, id, "").Get(ctx, nil)
	require.Error(t, err, "a cancelled autoscaler ends cancelled")
	recordHistory(t, st.Client, id, "autoscale_out_in.json")
	for _, ev := range s.Recent {
		kind := "out"
		if ev.Kind == workflows.ScaleKindIn {
			kind = "in"
		}
		recordHistory(t, st.Client, fmt.Sprintf("%s-%s-%s", id, kind, ev.Node), "scale_"+kind+".json")
	}
}

// autoscaleGet fetches url once (the body is discarded).
func autoscaleGet(url string) (*http.Response, error) {
	c := http.Client{Timeout: 2 * time.Second}
	r, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	r.Body.Close()
	return r, nil
}
