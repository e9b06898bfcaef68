package tests

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/activities/vsphere"
	"github.com/microdc/mdc/events"
	"github.com/microdc/mdc/haproxyapi"
	"github.com/microdc/mdc/lab/node"
	"github.com/microdc/mdc/workers"
	"github.com/microdc/mdc/workflows"
)

// Seed 001's rule with nobody at the keyboard: uk-web-1's load is set to
// 2.5 through the lab's control API; the uk monitor publishes the band
// change, the trigger signals Autoscale, and after the platform's out
// window a copy is cloned, put in uk's HAProxy and serves. Load back to
// 0.3 and the copy is drained, leaves HAProxy and is destroyed in vcsim.
func TestAutoScaleFromMonitorEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the lab")
	}
	as := startAutoStack(t, 105)
	st := as.st
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	p := st.Lab.Platform()
	uk := p.Sites[0]
	pol := p.Services[0].Scale
	id := workflows.AutoscaleWorkflowID("web", uk.Name)
	state := func() (workflows.AutoscaleStatus, bool) {
		v, err := st.Client.QueryWorkflow(ctx, id, "", workflows.StateQuery)
		if err != nil {
			return workflows.AutoscaleStatus{}, false
		}
		var s workflows.AutoscaleStatus
		return s, v.Get(&s) == nil
	}
	started := time.Now()
	require.Eventually(t, func() bool { s, ok := state(); return ok && s.Base == 2 && s.Samples >= 2 }, time.Minute, 100*time.Millisecond,
		"the trigger started Autoscale from the monitor's first samples of uk-web-1 and uk-web-2")

	require.NoError(t, as.labc.SetLoad(ctx, "uk-web-1", 2.5))
	crossed := time.Now()
	copyName := "uk-web-x1"
	server := waitForServer(t, ctx, uk.LB.RuntimeAPI, uk.LB.Backend, copyName)
	inLB := time.Since(crossed)
	// The node is hot until the copy serves; then it calms down, within
	// the out cooldown, so one copy is what this test is about.
	require.NoError(t, as.labc.SetLoad(ctx, "uk-web-1", 0.3))
	r, err := autoscaleGet("http://" + server.HostPort() + "/")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, r.StatusCode, "the copy serves HTTP")
	require.Equal(t, copyName, r.Header.Get(node.HeaderNode))
	require.Eventually(t, func() bool {
		r, err := autoscaleGet("http://" + uk.LB.Frontend + "/")
		return err == nil && r.Header.Get(node.HeaderNode) == copyName
	}, 10*time.Second, 10*time.Millisecond, "HAProxy sends clients to the copy")
	hot := as.seen.where(events.TypeNodeLoad, "uk", "uk-web-1")
	var crossing events.Event
	for _, ev := range hot {
		if l, err := events.LoadOf(ev); err == nil && *l.Load1 == 2.5 {
			crossing = ev
			break
		}
	}
	require.NotEmpty(t, crossing.ID, "the monitor published the crossing")
	t.Logf("load 2.5 set -> node.load observed %s later; copy UP in HAProxy %s after the crossing (out window %s, so %s beyond it)",
		crossing.ObservedAt.Sub(crossed).Round(time.Millisecond), inLB.Round(time.Millisecond), pol.OutWindow.Duration,
		(inLB - pol.OutWindow.Duration).Round(time.Millisecond))
	if s, ok := state(); ok && len(s.Recent) > 0 {
		t.Logf("Autoscale: %s %s: %s (%s to %s)", s.Recent[0].Kind, s.Recent[0].Node, s.Recent[0].Trigger,
			s.Recent[0].Started.Sub(crossing.ObservedAt).Round(time.Millisecond), s.Recent[0].Ended.Sub(crossing.ObservedAt).Round(time.Millisecond))
	}

	// Load 0.3 on every node: the copy is idle for the in window and goes.
	require.NoError(t, as.labc.SetLoad(ctx, copyName, 0.3))
	calmed := time.Now()
	deps, err := workers.BuildDeps(p, st.Lab.Lookup, []string{uk.Name})
	require.NoError(t, err)
	t.Cleanup(func() { vsphere.Logout(context.Background(), deps.VSphere) })
	require.Eventually(t, func() bool {
		servers, err := haproxyapi.ShowServersState(ctx, uk.LB.RuntimeAPI, uk.LB.Backend)
		if err != nil {
			return false
		}
		for _, s := range servers {
			if strings.HasPrefix(s.Name, "uk-web-x") {
				return false
			}
		}
		return true
	}, 2*time.Minute, 50*time.Millisecond, "every copy leaves uk's HAProxy")
	require.Eventually(t, func() bool {
		r, err := deps.VSphere.FindVMs(ctx, vsphere.FindVMsInput{Site: uk.Name, Tags: map[string]string{workflows.TagScaled: "true"}})
		return err == nil && len(r.VMs) == 0
	}, time.Minute, 100*time.Millisecond, "every copy is destroyed in vcsim")
	t.Logf("load back to 0.3 -> copy destroyed %s later (in window %s)", time.Since(calmed).Round(time.Millisecond), pol.InWindow.Duration)
	var s workflows.AutoscaleStatus
	require.Eventually(t, func() bool {
		var ok bool
		s, ok = state()
		return ok && s.Pending == nil && len(s.Recent) >= 2
	}, 30*time.Second, 50*time.Millisecond, "Autoscale records the scale-in")
	require.Equal(t, 2, s.Replicas)
	var outs, ins int
	for _, ev := range s.Recent {
		require.Equal(t, workflows.StepDone, ev.Outcome, "%s %s: %s", ev.Kind, ev.Node, ev.Error)
		if ev.Kind == workflows.ScaleKindOut {
			outs++
		} else {
			ins++
		}
	}
	require.Equal(t, 1, outs, "one copy for one hot node")
	require.Equal(t, 1, ins)

	// The signal volume: a node whose load did not change (uk-web-2, at 0
	// all along) sent its first sample and then one heartbeat per 30 s.
	quiet := as.seen.where(events.TypeNodeLoad, "uk", "uk-web-2")
	minutes := time.Since(started).Minutes()
	t.Logf("uk-web-2: %d node.load events in %.1f min (%.1f/min); all uk node.load: %d", len(quiet), minutes,
		float64(len(quiet))/minutes, len(as.seen.where(events.TypeNodeLoad, "uk", "")))
	require.LessOrEqual(t, len(quiet), 2+int(minutes*2), "band changes and 30 s heartbeats only")
}

// waitForServer waits until name is UP and in service in the backend.
func waitForServer(t *testing.T, ctx context.Context, api, backend, name string) haproxyapi.ServerState {
	t.Helper()
	var server haproxyapi.ServerState
	require.Eventually(t, func() bool {
		servers, err := haproxyapi.ShowServersState(ctx, api, backend)
		if err != nil {
			return false
		}
		for _, s := range servers {
			if s.Name == name && s.Up() && !s.Maint() {
				server = s
				return true
			}
		}
		return false
	}, 2*time.Minute, 50*time.Millisecond, "%s is UP in %s", name, backend)
	return server
}
