package workflows

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/apperrors"
)

func scaleInInput() ScaleInInput {
	return ScaleInInput{Site: "uk", Service: "web", Name: "uk-web-x1", DrainDeadline: 20 * time.Second, Reason: "idle"}
}

func TestScaleInDrainsRemovesPowersOffAndDestroysACopy(t *testing.T) {
	l := newScaleOutLab()
	l.vc.put(vmCopy("uk-web-x1"))
	l.env.ExecuteWorkflow(ScaleInName, scaleInInput())
	require.NoError(t, l.env.GetWorkflowError())
	var res ScaleInResult
	require.NoError(t, l.env.GetWorkflowResult(&res))
	require.Equal(t, []string{"drain", "remove", "power off", "destroy uk-web-x1"}, l.calls)
	require.False(t, l.vc.has("uk-web-x1"))
	require.Equal(t, 1500*time.Millisecond, res.Drain.Waited)
	for _, s := range res.Progress.Steps {
		require.Equal(t, StepDone, s.State, s.Name)
	}
}

// A drain that passes its deadline is not retried (the deadline stays
// passed); the copy goes back in rotation and is kept.
func TestScaleInPutsTheCopyBackWhenTheDrainTimesOut(t *testing.T) {
	l := newScaleOutLab()
	l.vc.put(vmCopy("uk-web-x1"))
	l.drainErr = apperrors.Timeout("server uk-web-x1 still has 3 sessions after 20s")
	l.env.ExecuteWorkflow(ScaleInName, scaleInInput())
	err := l.env.GetWorkflowError()
	require.ErrorContains(t, err, "drain passed its 20s deadline with sessions still open; uk-web-x1 is back in rotation and kept")
	require.ErrorContains(t, err, "3 sessions")
	require.Equal(t, []string{"drain", "enable"}, l.calls, "one drain attempt, then back in rotation; no power-off")
	require.True(t, l.vc.has("uk-web-x1"))
	p := l.progress(t)
	require.Equal(t, StepFailed, p.Steps[1].State)
	require.Equal(t, StepSkipped, p.Steps[4].State)
}

// Base nodes (no mdc.scaled tag) and other services' VMs are refused
// before anything changes.
func TestScaleInRefusesABaseNode(t *testing.T) {
	l := newScaleOutLab()
	in := scaleInInput()
	in.Name = "uk-web-1"
	l.env.ExecuteWorkflow(ScaleInName, in)
	err := l.env.GetWorkflowError()
	require.ErrorContains(t, err, `refusing to scale in uk-web-1 at uk: it is not an extra copy of web made by ScaleOut (mdc.scaled="" (want "true"))`)
	require.ErrorContains(t, err, "type: BadInput, retryable: false", "the cause is a non-retryable BadInput")
	require.Empty(t, l.calls)
}

// A copy whose VM is already gone (an earlier attempt destroyed it) is
// still taken out of the balancer, and the rest is skipped.
func TestScaleInOfAVanishedCopyCleansTheLB(t *testing.T) {
	l := newScaleOutLab()
	l.env.ExecuteWorkflow(ScaleInName, scaleInInput())
	require.NoError(t, l.env.GetWorkflowError())
	var res ScaleInResult
	require.NoError(t, l.env.GetWorkflowResult(&res))
	require.True(t, res.Gone)
	require.Equal(t, []string{"drain", "remove"}, l.calls)
}
