package workflows

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/microdc/mdc/activities/dns"
	"github.com/microdc/mdc/apperrors"
)

func cutoverInput(mode string) DNSCutoverInput {
	return DNSCutoverInput{
		Mode: mode, Sites: []string{"uk", "us"}, Zone: "mdc.test.", Name: "www.mdc.test.",
		Answers: []dns.GeoAnswer{
			{Region: "eu", Subnets: []string{"192.0.2.0/24"}, IP: "127.2.0.2"},
			{Region: "na", Subnets: []string{"198.51.100.0/24"}, IP: "127.2.0.2"},
		},
		Fallback: "127.2.0.2", TTL: 60,
	}
}

func newCutoverEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(DNSCutoverWorkflow, workflowOpts(DNSCutoverName))
	env.RegisterActivity(&dns.Activities{})
	return env
}

func TestPlannedCutoverLowersWaitsSwitchesVerifiesRestores(t *testing.T) {
	env := newCutoverEnv(t)
	var ttls []int
	var order []string
	env.OnActivity(dnsA.ReadRecord, mock.Anything, mock.Anything).Return(func(_ context.Context, in dns.ReadRecordInput) (dns.ReadRecordResult, error) {
		order = append(order, "read")
		return dns.ReadRecordResult{Agree: true, Servers: []dns.ServerRecord{{Found: true, TTL: 300}}}, nil
	})
	env.OnActivity(dnsA.SetTTL, mock.Anything, mock.Anything).Return(func(_ context.Context, in dns.SetTTLInput) (dns.ChangeResult, error) {
		order = append(order, "ttl")
		ttls = append(ttls, in.TTL)
		return dns.ChangeResult{Changed: true}, nil
	})
	var switchedAt time.Time
	start := env.Now()
	env.OnActivity(dnsA.SetGeoRecord, mock.Anything, mock.Anything).Return(func(_ context.Context, in dns.SetGeoRecordInput) (dns.ChangeResult, error) {
		order = append(order, "switch")
		switchedAt = env.Now()
		require.Equal(t, 5, in.TTL, "switch with the low TTL")
		require.False(t, in.AllowUnreachable, "planned cutovers need every server")
		return dns.ChangeResult{Changed: true}, nil
	})
	verified := map[string]int{}
	env.OnActivity(dnsA.Verify, mock.Anything, mock.Anything).Return(func(_ context.Context, in dns.VerifyInput) (dns.VerifyResult, error) {
		order = append(order, "verify")
		verified[in.Site+"/"+in.ClientSubnets[0]]++
		require.Equal(t, []string{"127.2.0.2"}, in.Expect)
		return dns.VerifyResult{Queries: 1}, nil
	})
	env.ExecuteWorkflow(DNSCutoverName, cutoverInput(ModePlanned))
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res DNSCutoverResult
	require.NoError(t, env.GetWorkflowResult(&res))

	require.Equal(t, 300, res.OldTTL)
	require.Equal(t, []int{5, 5, 60, 60}, ttls, "lowered at both sites, then restored to the normal TTL")
	require.GreaterOrEqual(t, switchedAt.Sub(start), 300*time.Second, "the switch waits one old TTL on a timer")
	require.Len(t, verified, 4, "two sites x two regions")
	require.Equal(t, []string{"read", "read", "ttl", "ttl", "switch", "switch", "verify", "verify", "verify", "verify", "ttl", "ttl"}, order)
	for _, s := range res.Progress.Steps {
		require.Equal(t, StepDone, s.State, s.Name)
	}
	require.Equal(t, 300*time.Second, res.Progress.Steps[2].Took)
}

func TestDisasterCutoverRecordsTheDeadSiteAndVerifiesTheRest(t *testing.T) {
	env := newCutoverEnv(t)
	env.OnActivity(dnsA.SetGeoRecord, mock.Anything, mock.Anything).Return(func(_ context.Context, in dns.SetGeoRecordInput) (dns.ChangeResult, error) {
		require.True(t, in.AllowUnreachable)
		if in.Site == "uk" {
			return dns.ChangeResult{}, apperrors.Unavailable(errors.New("connection refused"), "pdns at 127.1.0.1:8081")
		}
		return dns.ChangeResult{Changed: true}, nil
	})
	var verifiedSites []string
	env.OnActivity(dnsA.Verify, mock.Anything, mock.Anything).Return(func(_ context.Context, in dns.VerifyInput) (dns.VerifyResult, error) {
		verifiedSites = append(verifiedSites, in.Site)
		return dns.VerifyResult{Queries: 1}, nil
	})
	env.ExecuteWorkflow(DNSCutoverName, cutoverInput(ModeDisaster))
	require.NoError(t, env.GetWorkflowError())
	var res DNSCutoverResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, []string{"uk"}, res.UnreachableSites)
	require.Equal(t, []string{"us", "us"}, verifiedSites, "only the reachable site is verified, once per region")
	require.Len(t, res.Progress.Steps, 2, "disaster: switch and verify, no TTL dance")
}

func TestDisasterCutoverFailsWhenNoSiteCanBeChanged(t *testing.T) {
	env := newCutoverEnv(t)
	env.OnActivity(dnsA.SetGeoRecord, mock.Anything, mock.Anything).Return(dns.ChangeResult{},
		apperrors.Unavailable(errors.New("refused"), "pdns down"))
	env.ExecuteWorkflow(DNSCutoverName, cutoverInput(ModeDisaster))
	err := env.GetWorkflowError()
	require.Error(t, err)
	require.Contains(t, err.Error(), "no DNS server of any site")
}

func TestPlannedCutoverStopsWhenVerificationFailsAndKeepsTheLowTTL(t *testing.T) {
	env := newCutoverEnv(t)
	env.OnActivity(dnsA.ReadRecord, mock.Anything, mock.Anything).Return(dns.ReadRecordResult{Servers: []dns.ServerRecord{{Found: true, TTL: 60}}}, nil)
	ttlCalls := 0
	env.OnActivity(dnsA.SetTTL, mock.Anything, mock.Anything).Return(func(_ context.Context, in dns.SetTTLInput) (dns.ChangeResult, error) {
		ttlCalls++
		return dns.ChangeResult{Changed: true}, nil
	})
	env.OnActivity(dnsA.SetGeoRecord, mock.Anything, mock.Anything).Return(dns.ChangeResult{Changed: true}, nil)
	env.OnActivity(dnsA.Verify, mock.Anything, mock.Anything).Return(dns.VerifyResult{},
		temporal.NewNonRetryableApplicationError("127.2.0.1:5300 answered 127.1.0.2", apperrors.TypeTimeout, nil))
	env.ExecuteWorkflow(DNSCutoverName, cutoverInput(ModePlanned))
	err := env.GetWorkflowError()
	require.Error(t, err)
	require.Contains(t, err.Error(), "verify region")
	require.Equal(t, 2, ttlCalls, "the TTL stays low until the record is right")
	// A failed workflow has no result: operators read the steps through
	// the progress query.
	v, err := env.QueryWorkflow(ProgressQuery)
	require.NoError(t, err)
	var p Progress
	require.NoError(t, v.Get(&p))
	require.Equal(t, StepFailed, p.Steps[4].State)
	require.Contains(t, p.Steps[4].Detail, "answered 127.1.0.2")
	require.Equal(t, StepSkipped, p.Steps[5].State)
}

func TestCutoverRejectsBadInputWithoutTouchingDNS(t *testing.T) {
	env := newCutoverEnv(t)
	in := cutoverInput("sideways")
	in.TTL = 0
	env.ExecuteWorkflow(DNSCutoverName, in)
	err := env.GetWorkflowError()
	require.Error(t, err)
	require.Contains(t, err.Error(), `mode "sideways": expected planned or disaster`)
	require.Contains(t, err.Error(), "ttl 0")
	var ae *temporal.ApplicationError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, apperrors.TypeBadInput, ae.Type())
}
