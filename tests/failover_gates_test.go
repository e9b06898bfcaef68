package tests

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/haproxyapi"
	"github.com/microdc/mdc/workflows"
)

// The paths that end without a failover, against the lab: a disaster
// failover of a site that answers stops at the quorum, and an approval
// nobody gives ends at the policy's default; neither touches production.
func TestFailoverSiteGatesAgainstTheLab(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the lab")
	}
	fs := startFailoverStack(t, 77)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p := fs.lab.Platform()
	uk, us := p.Sites[0], p.Sites[1]
	ukIP := fs.lab.Plan().FrontendIP(0)

	t.Run("quorum: uk answers, nothing changes", func(t *testing.T) {
		in, err := workflows.NewFailoverSiteInput(p, "uk", "us", workflows.ModeDisaster)
		require.NoError(t, err)
		in.DBAppUser = "mdc_app"
		res, _ := fs.runFailover(t, ctx, in)
		recordHistory(t, fs.st.Client, workflows.FailoverWorkflowID(in), "failover_aborted_quorum.json")
		require.Equal(t, workflows.StatusNotFailedOver, res.Status, res.Outcome)
		require.Contains(t, res.Outcome, "not failed over: site reachable")
		require.Equal(t, []string{ukIP}, geoAnswer(t, us.DNS.Servers[0].Address, "www.mdc.test.", p.Regions[uk.Region].Subnets[0]))
		code, body := foGet(t, "http://"+uk.LB.Frontend+"/db")
		require.Equal(t, http.StatusOK, code, "uk still takes writes: %s", body)
	})

	t.Run("approval deadline with default abort", func(t *testing.T) {
		in, err := workflows.NewFailoverSiteInput(p, "uk", "us", workflows.ModePlanned)
		require.NoError(t, err)
		in.DBAppUser = "mdc_app"
		in.Policy.ApprovalMode, in.Policy.ApprovalDeadline, in.Policy.ApprovalDefault = "approval", 2*time.Second, "abort"
		res, took := fs.runFailover(t, ctx, in)
		recordHistory(t, fs.st.Client, workflows.FailoverWorkflowID(in), "failover_approval_timeout.json")
		require.Equal(t, workflows.StatusAborted, res.Status, res.Outcome)
		require.Contains(t, res.Outcome, "no approval within 2s")
		require.GreaterOrEqual(t, took, 2*time.Second)
		code, body := foGet(t, "http://"+uk.LB.Frontend+"/db")
		require.Equal(t, http.StatusOK, code, "uk was never fenced: %s", body)
	})
}

// A drill brings isolated nodes up at the target (two clones at once),
// verifies them directly and removes them, leaving production exactly as
// it was.
func TestFailoverSiteDrillAgainstTheLab(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the lab")
	}
	fs := startFailoverStack(t, 77)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p := fs.lab.Platform()
	uk, us := p.Sites[0], p.Sites[1]
	ukIP := fs.lab.Plan().FrontendIP(0)
	before, err := haproxyapi.ShowServersState(ctx, us.LB.RuntimeAPI, us.LB.Backend)
	require.NoError(t, err)
	in, err := workflows.NewFailoverSiteInput(p, "uk", "us", workflows.ModeTest)
	require.NoError(t, err)
	in.DBAppUser = "mdc_app"
	res, _ := fs.runFailover(t, ctx, in)
	require.Equal(t, workflows.StatusDrillPassed, res.Status, res.Outcome)
	require.NotEmpty(t, res.Capacity)
	require.NotEmpty(t, res.Capacity[0].Cloned, "the drill brought its own nodes up")
	require.ElementsMatch(t, res.Capacity[0].Cloned, res.Capacity[0].CleanedUp, "and removed them")
	after, err := haproxyapi.ShowServersState(ctx, us.LB.RuntimeAPI, us.LB.Backend)
	require.NoError(t, err)
	require.Equal(t, len(before), len(after), "production LB untouched")
	require.Equal(t, []string{ukIP}, geoAnswer(t, us.DNS.Servers[0].Address, "www.mdc.test.", p.Regions[uk.Region].Subnets[0]), "production DNS untouched")
	code, body := foGet(t, "http://"+uk.LB.Frontend+"/db")
	require.Equal(t, http.StatusOK, code, "uk is still the primary: %s", body)
}
