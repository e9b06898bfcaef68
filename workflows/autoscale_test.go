package workflows

import (
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/microdc/mdc/activities/vsphere"
	"github.com/microdc/mdc/apperrors"
)

const sec = time.Second

func requireCanceled(t *testing.T, err error) {
	t.Helper()
	var ce *temporal.CanceledError
	require.ErrorAs(t, err, &ce, "Autoscale only ends when cancelled (got %v)", err)
}

// A spike shorter than out_window changes nothing; load held at >= 2 for
// the window starts exactly one ScaleOut, at the end of the window, even
// when no sample arrives at that moment (the timer fires).
func TestAutoscaleSustainedLoadScalesOutOnceAndSpikesDoNot(t *testing.T) {
	h := newScaleHarness(t)
	h.load(1*sec, "uk-web-1", 2.5)  // spike...
	h.load(11*sec, "uk-web-1", 0.8) // ...over after 10 s
	var afterSpike AutoscaleStatus
	h.at(60*sec, func() { afterSpike = h.state() })
	h.load(100*sec, "uk-web-1", 2.4)
	h.load(115*sec, "uk-web-1", 2.6) // heartbeat in the same band: the window keeps running
	var during AutoscaleStatus
	h.at(120*sec, func() { during = h.state() })
	h.load(180*sec, "uk-web-1", 1.5) // relieved before the cooldown (till 190 s) ends
	requireCanceled(t, h.run(autoscaleInput(), 400*sec))

	outs, ins := h.calls()
	require.Equal(t, []string{"uk-web-x1"}, childNames(outs), "one copy for one sustained overload")
	require.Equal(t, 130*sec, outs[0].At, "started when the 30 s window from the first high sample (100 s) ended")
	require.Equal(t, "uk-web-1", outs[0].Avoid, "the copy avoids the hot node's host")
	require.Equal(t, "autoscale-web-uk-out-uk-web-x1", outs[0].ID)
	require.Empty(t, ins, "the copy sent no samples: it is not scaled in")

	require.Equal(t, 2, afterSpike.Replicas)
	require.Empty(t, afterSpike.Recent)
	require.Equal(t, BandLow, afterSpike.Nodes[0].Band)
	require.Equal(t, BandHigh, during.Nodes[0].Band)
	require.Equal(t, 20*sec, during.Nodes[0].InBandFor)
	require.Equal(t, 10*sec, during.Nodes[0].WindowLeft)
}

// After a scale-out, the out cooldown holds back a second one although the
// node stays hot; once it has passed, the second copy is made.
func TestAutoscaleCooldownBlocksASecondScaleOutThenAllowsIt(t *testing.T) {
	h := newScaleHarness(t)
	h.load(1*sec, "uk-web-1", 3)
	var mid AutoscaleStatus
	h.at(60*sec, func() { mid = h.state() })
	requireCanceled(t, h.run(autoscaleInput(), 100*sec))

	outs, _ := h.calls()
	require.Equal(t, []string{"uk-web-x1", "uk-web-x2"}, childNames(outs))
	require.Equal(t, []time.Duration{31 * sec, 91 * sec}, childOffsets(outs), "window at 31 s, then one cooldown (60 s) later")
	require.Equal(t, 31*sec, mid.OutCooldownLeft)
	require.Equal(t, 3, mid.Replicas)
	require.Equal(t, 1, mid.Extra)
	require.Equal(t, "uk-web-x2", mid.NextCopy)
}

// max replicas caps scale-out however long the load stays high.
func TestAutoscaleRespectsMax(t *testing.T) {
	h := newScaleHarness(t)
	in := autoscaleInput()
	in.Policy.Max = 3
	h.load(1*sec, "uk-web-1", 3)
	requireCanceled(t, h.run(in, 10*time.Minute))
	outs, _ := h.calls()
	require.Equal(t, []string{"uk-web-x1"}, childNames(outs), "2 base + 1 copy = max 3")
}

// An extra copy below in_load for in_window is scaled in; base nodes never
// are, however idle.
func TestAutoscaleScalesInAnIdleCopyButNeverABaseNode(t *testing.T) {
	h := newScaleHarness(t)
	h.vc.put(vmCopy("uk-web-x4"))
	h.load(1*sec, "uk-web-2", 0.1)
	h.load(1*sec, "uk-web-1", 0.2)
	h.load(1*sec, "uk-web-x4", 0.3)
	var before AutoscaleStatus
	h.at(60*sec, func() { before = h.state() })
	requireCanceled(t, h.run(autoscaleInput(), 20*time.Minute))

	outs, ins := h.calls()
	require.Empty(t, outs)
	require.Equal(t, []string{"uk-web-x4"}, childNames(ins), "only the copy, once")
	require.Equal(t, "autoscale-web-uk-in-uk-web-x4", ins[0].ID)
	require.Equal(t, 121*sec, ins[0].At, "in_window (2m) after its first low sample")
	require.Equal(t, 3, before.Replicas)
	require.Equal(t, 2, before.Base)
	require.Equal(t, "uk-web-x5", before.NextCopy, "the counter continues after the copies found")
	require.Equal(t, 61*sec, before.Nodes[2].WindowLeft)
	require.Equal(t, time.Duration(0), before.Nodes[0].WindowLeft, "no window applies to a low base node")
}

func vmCopy(name string) vsphere.VM {
	return vsphere.VM{Name: name, PowerState: "poweredOn", Host: "H1", IP: "10.1.0.50", Tags: scaleTags(true)}
}

// min replicas holds an idle copy; a hot node anywhere holds every copy.
func TestAutoscaleRespectsMinAndKeepsCopiesWhileANodeIsHot(t *testing.T) {
	t.Run("min", func(t *testing.T) {
		h := newScaleHarness(t)
		h.vc.put(vmCopy("uk-web-x1"))
		in := autoscaleInput()
		in.Policy.Min = 3
		h.load(1*sec, "uk-web-x1", 0.1)
		requireCanceled(t, h.run(in, 20*time.Minute))
		_, ins := h.calls()
		require.Empty(t, ins, "2 base + 1 copy = min 3")
	})
	t.Run("hot node", func(t *testing.T) {
		h := newScaleHarness(t)
		h.vc.put(vmCopy("uk-web-x1"))
		in := autoscaleInput()
		in.Policy.Max = 3 // no room to scale out either
		h.load(1*sec, "uk-web-x1", 0.1)
		h.load(1*sec, "uk-web-1", 2.5)
		h.load(10*time.Minute, "uk-web-1", 1.5)
		requireCanceled(t, h.run(in, 20*time.Minute))
		outs, ins := h.calls()
		require.Empty(t, outs)
		require.Equal(t, []time.Duration{10 * time.Minute}, childOffsets(ins),
			"the copy (low since 1 s) goes only once no node is hot")
	})
}

// A failed scale-out starts the cooldown too, so a broken image is not
// cloned in a tight loop, and the failed copy's name is not reused.
func TestAutoscaleFailedScaleOutWaitsForTheCooldown(t *testing.T) {
	h := newScaleHarness(t)
	h.outErr = temporal.NewNonRetryableApplicationError("health check failed", apperrors.TypeTimeout, nil)
	h.load(1*sec, "uk-web-1", 3)
	var st AutoscaleStatus
	h.at(200*sec, func() { st = h.state() })
	requireCanceled(t, h.run(autoscaleInput(), 200*sec))
	outs, _ := h.calls()
	require.Equal(t, []string{"uk-web-x1", "uk-web-x2", "uk-web-x3"}, childNames(outs))
	require.Equal(t, []time.Duration{31 * sec, 91 * sec, 151 * sec}, childOffsets(outs))
	require.Equal(t, 2, st.Replicas, "failed copies are not counted")
	require.Equal(t, StepFailed, st.Recent[0].Outcome)
	require.Contains(t, st.Recent[0].Error, "health check failed")
}

// Samples delivered out of order (an old one redelivered) and malformed
// ones are ignored, not applied.
func TestAutoscaleIgnoresStaleAndMalformedSamples(t *testing.T) {
	h := newScaleHarness(t)
	h.load(10*sec, "uk-web-1", 0.5)
	h.at(20*sec, func() {
		h.env.SignalWorkflow(LoadSignal, LoadSample{Node: "uk-web-1", Load1: 5, ObservedAt: scaleT0.Add(5 * sec)})
		h.env.SignalWorkflow(LoadSignal, LoadSample{Node: "", Load1: 5})
		h.env.SignalWorkflow(LoadSignal, LoadSample{Node: "uk-web-2", Load1: -1})
	})
	var st AutoscaleStatus
	h.at(100*sec, func() { st = h.state() })
	requireCanceled(t, h.run(autoscaleInput(), 100*sec))
	outs, _ := h.calls()
	require.Empty(t, outs)
	require.Equal(t, 3, st.Ignored)
	require.Equal(t, 1, st.Samples)
	require.Equal(t, 0.5, st.Nodes[0].Load)
}

// continueAsNewInput decodes the input a run continued as new with.
func continueAsNewInput(t *testing.T, err error) AutoscaleInput {
	t.Helper()
	var can *workflow.ContinueAsNewError
	require.ErrorAs(t, err, &can, "expected continue-as-new, got %v", err)
	require.Equal(t, AutoscaleName, can.WorkflowType.Name)
	var next AutoscaleInput
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	return next
}

// With a low threshold the run continues as new, carrying every node, the
// cooldown clock and the copy counter. The next run, started later, keeps
// honouring the first run's window and cooldown.
func TestAutoscaleContinuesAsNewWithItsStateAndTheCooldownSurvives(t *testing.T) {
	h := newScaleHarness(t)
	in := autoscaleInput()
	in.ContinueAfter = 4
	h.load(1*sec, "uk-web-1", 3) // wake-up 1: a signal
	// 2: the timer at 31 s starts ScaleOut; 3: its end wakes the loop
	h.load(40*sec, "uk-web-x1", 0.4) // 4: a signal, then hand-over
	next := continueAsNewInput(t, h.run(in, time.Hour))
	st := next.State
	require.NotNil(t, st)
	require.Equal(t, 1, st.Runs)
	require.Equal(t, 2, st.NextIndex)
	require.Equal(t, scaleT0.Add(31*sec), st.LastOutAt)
	require.Equal(t, 2, st.Samples)
	require.Len(t, st.Nodes, 3)
	require.True(t, st.Nodes["uk-web-x1"].Extra)
	require.Equal(t, 0.4, st.Nodes["uk-web-x1"].Load)
	require.Equal(t, scaleT0.Add(1*sec), st.Nodes["uk-web-1"].Since, "still high since the first sample")
	require.Nil(t, st.Pending)

	// The next run starts at 40 s; uk-web-1 stays hot with no new sample.
	h2 := newScaleHarness(t)
	h2.vc.put(vmCopy("uk-web-x1"))
	h2.env.SetStartTime(scaleT0.Add(40 * sec))
	var st2 AutoscaleStatus
	h2.at(10*sec, func() { st2 = h2.state() })
	requireCanceled(t, h2.run(next, 60*sec))
	outs, _ := h2.calls()
	require.Equal(t, []string{"uk-web-x2"}, childNames(outs), "the counter survived")
	require.Equal(t, []time.Duration{91 * sec}, childOffsets(outs), "the first run's cooldown (31 s + 60 s) held, not a fresh window")
	require.Equal(t, 2, st2.Runs)
	require.Equal(t, 41*sec, st2.OutCooldownLeft)
	require.Equal(t, 3, st2.Replicas)
}

// The server's continue-as-new suggestion also ends the run, and samples
// still queued at the hand-over (here sent with the start, as
// signal-with-start does) are drained into the carried state: none is lost.
func TestAutoscaleContinuesAsNewWhenTheServerSuggestsAndDrainsSignals(t *testing.T) {
	h := newScaleHarness(t)
	h.env.SetContinueAsNewSuggested(true)
	h.load(0, "uk-web-1", 2.5)
	h.load(0, "uk-web-2", 0.5)
	h.load(0, "uk-web-3", 1.5)
	next := continueAsNewInput(t, h.run(autoscaleInput(), time.Hour))
	require.Equal(t, 3, next.State.Samples)
	require.Equal(t, 2.5, next.State.Nodes["uk-web-1"].Load)
	require.Equal(t, 1.5, next.State.Nodes["uk-web-3"].Load, "a node not found by discovery is adopted")
	require.False(t, next.State.Nodes["uk-web-3"].Extra, "adopted nodes are base nodes")
}

// Each run reconciles its state with vCenter: a copy that vanished is
// forgotten (its late samples ignored), a powered-off base node is dropped
// until it reports again, and a copy left powered off is removed by the rule.
func TestAutoscaleReconcilesItsStateWithVCenterOnEachRun(t *testing.T) {
	h := newScaleHarness(t)
	h.vc.put(vsphere.VM{Name: "uk-web-2", PowerState: vsphere.PoweredOff, Host: "H1", Tags: scaleTags(false)})
	h.vc.put(vsphere.VM{Name: "uk-web-x3", PowerState: vsphere.PoweredOff, Host: "H1", Tags: scaleTags(true)})
	in := autoscaleInput()
	in.State = &AutoscaleState{Runs: 1, NextIndex: 2, Nodes: map[string]*NodeState{
		"uk-web-1": {}, "uk-web-2": {}, "uk-web-x1": {Extra: true},
	}}
	var first, later AutoscaleStatus
	h.at(1*sec, func() { first = h.state() })
	h.load(10*sec, "uk-web-x1", 0.2)
	h.load(10*sec, "uk-web-2", 0.9)
	h.at(20*sec, func() { later = h.state() })
	requireCanceled(t, h.run(in, 10*time.Minute))

	require.Equal(t, []string{"uk-web-1", "uk-web-x3"}, statusNames(first))
	require.Equal(t, "uk-web-x4", first.NextCopy)
	require.Equal(t, []string{"uk-web-1", "uk-web-2", "uk-web-x3"}, statusNames(later), "uk-web-2 reported again; uk-web-x1 stays gone")
	require.Equal(t, 1, later.Ignored)
	_, ins := h.calls()
	require.Equal(t, []string{"uk-web-x3"}, childNames(ins))
	require.Equal(t, 2*time.Minute, ins[0].At, "in_window after the run found it powered off")
}

func statusNames(s AutoscaleStatus) []string {
	var out []string
	for _, n := range s.Nodes {
		out = append(out, n.Name)
	}
	return out
}

// The scale update is checked against min..max and the base nodes before
// it is accepted, then makes or removes copies to reach the count.
func TestAutoscaleScaleUpdate(t *testing.T) {
	h := newScaleHarness(t)
	type outcome struct {
		rejected error
		res      ScaleResult
		err      error
	}
	results := map[string]*outcome{}
	update := func(d time.Duration, id string, n int) {
		h.at(d, func() {
			o := &outcome{}
			results[id] = o
			h.env.UpdateWorkflow(ScaleUpdate, id, &updateCallbacks{
				reject:   func(err error) { o.rejected = err },
				complete: func(v any, err error) { o.err = err; o.res, _ = v.(ScaleResult) },
			}, ScaleRequest{Replicas: n, Reason: "test " + id})
		})
	}
	update(1*sec, "too-many", 5)
	update(2*sec, "below-base", 1)
	update(3*sec, "up", 4)
	update(10*time.Minute, "down", 2)
	var mid AutoscaleStatus
	h.at(5*time.Minute, func() { mid = h.state() })
	requireCanceled(t, h.run(autoscaleInput(), 20*time.Minute))

	require.ErrorContains(t, results["too-many"].rejected, "to 5 replicas: outside the policy's bounds 1..4")
	require.ErrorContains(t, results["below-base"].rejected, "the site has 2 base nodes, which autoscale never removes")
	require.NoError(t, results["up"].rejected)
	require.NoError(t, results["up"].err)
	require.Equal(t, ScaleResult{Before: 2, After: 4, Added: []string{"uk-web-x1", "uk-web-x2"}}, results["up"].res)
	require.Equal(t, 4, mid.Replicas)
	require.Equal(t, "manual: test up", mid.Recent[0].Trigger)
	require.NoError(t, results["down"].err)
	require.Equal(t, ScaleResult{Before: 4, After: 2, Removed: []string{"uk-web-x2", "uk-web-x1"}}, results["down"].res)
	require.False(t, h.vc.has("uk-web-x1"))
}

// updateCallbacks adapts funcs to the test environment's UpdateCallbacks.
type updateCallbacks struct {
	reject   func(error)
	complete func(any, error)
}

func (u *updateCallbacks) Accept()                   {}
func (u *updateCallbacks) Reject(err error)          { u.reject(err) }
func (u *updateCallbacks) Complete(v any, err error) { u.complete(v, err) }

// A first run that cannot list the site's VMs fails with a clear error
// (the trigger's next signal-with-start tries again).
func TestAutoscaleFailsWhenDiscoveryFails(t *testing.T) {
	env := newScaleEnv()
	env.OnActivity(asVSphere.FindVMs, mock.Anything, mock.Anything).Return(vsphere.FindVMsResult{}, apperrors.BadInput("unknown site"))
	env.ExecuteWorkflow(AutoscaleName, autoscaleInput())
	err := env.GetWorkflowError()
	require.ErrorContains(t, err, "discover the nodes of web@uk in vCenter (FindVMs)")
}

func TestAutoscaleRejectsBadInput(t *testing.T) {
	env := newScaleEnv()
	in := autoscaleInput()
	in.Policy.InLoad, in.Policy.Min, in.Port = 3, 5, 0
	env.ExecuteWorkflow(AutoscaleName, in)
	err := env.GetWorkflowError()
	require.ErrorContains(t, err, "expected 0 < in_load < out_load")
	require.ErrorContains(t, err, "replicas min 5 max 4")
	require.ErrorContains(t, err, "port 0")
	require.Equal(t, apperrors.TypeBadInput, apperrors.TypeOf(err))
}

func TestAutoscaleWorkflowID(t *testing.T) {
	require.Equal(t, "autoscale-web-uk", AutoscaleWorkflowID("web", "uk"))
}
