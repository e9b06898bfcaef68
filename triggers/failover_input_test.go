package triggers

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/platform"
	"github.com/microdc/mdc/workflows"
)

func TestDisasterFailoverInput(t *testing.T) {
	p := testPlatform(t)
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	in, err := DisasterFailoverInput(p, FailoverRequest{FailedSite: "uk", DetectedAt: at, PrimaryGTID: "0-1-42", Observers: []string{"witness", "us"}, Quorum: 2,
		Serving: map[string]int{"web": 3, "gone": 5}})
	require.NoError(t, err)
	require.Equal(t, "uk", in.FailedSite)
	require.Equal(t, "us", in.TargetSite)
	require.Equal(t, workflows.ModeDisaster, in.Mode)
	require.Equal(t, at, in.DetectedAt)
	require.Equal(t, "0-1-42", in.PrimaryGTID)
	require.Equal(t, map[string]int{"web": 3}, in.ServingAtFailedSite, "the platform's services only")
	require.Equal(t, "mdc-trigger", in.RequestedBy)
	require.Equal(t, "site.down from 2 observers (us, witness), quorum 2", in.Reason)

	in, err = DisasterFailoverInput(p, FailoverRequest{FailedSite: "us"})
	require.NoError(t, err)
	require.Equal(t, "uk", in.TargetSite, "a failed replica site goes to the primary")

	p.Sites = p.Sites[:1]
	_, err = DisasterFailoverInput(p, FailoverRequest{FailedSite: "uk"})
	require.ErrorContains(t, err, "no other site")
}

// The platform file names workflows by their registered names; they must
// not drift apart.
func TestPlatformWorkflowNamesAreTheRegisteredOnes(t *testing.T) {
	require.Equal(t, workflows.FailoverSiteName, platform.WorkflowFailoverSite)
	require.Equal(t, workflows.AutoscaleName, platform.WorkflowAutoscale)
	require.Equal(t, FailoverWorkflowID("uk"), workflows.FailoverWorkflowID(workflows.FailoverSiteInput{FailedSite: "uk", Mode: workflows.ModeDisaster}))
}
