package triggers

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/workflows"
)

func TestDisasterFailoverInput(t *testing.T) {
	p := testPlatform(t)
	got, err := DisasterFailoverInput(p, "uk")
	require.NoError(t, err)
	in := got.(workflows.FailoverSiteInput)
	require.Equal(t, "uk", in.FailedSite)
	require.Equal(t, "us", in.TargetSite)
	require.Equal(t, workflows.ModeDisaster, in.Mode)

	target, err := FailoverTarget(p, "us")
	require.NoError(t, err)
	require.Equal(t, "uk", target, "a failed replica site goes to the primary")

	p.Sites = p.Sites[:1]
	_, err = DisasterFailoverInput(p, "uk")
	require.ErrorContains(t, err, "no other site")
}
