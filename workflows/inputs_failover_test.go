package workflows

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/platform"
)

func TestNewFailoverSiteInputFromThePlatformFile(t *testing.T) {
	p, err := platform.Parse("example.yaml", platform.Example)
	require.NoError(t, err)
	in, err := NewFailoverSiteInput(p, "uk", "us", ModeDisaster)
	require.NoError(t, err)
	require.Equal(t, "uk", in.FailedSite)
	require.Equal(t, "us", in.TargetSite)
	require.Equal(t, FailoverPolicy{
		ObserverQuorum: 2, ApprovalMode: ApprovalRequired, ApprovalDeadline: 15 * time.Minute, ApprovalDefault: ApprovalAbort,
		BlockPeriod: 30 * time.Minute, MaxRPO: 30 * time.Second,
	}, in.Policy)
	require.Equal(t, []FailoverSiteFacts{
		{Name: "uk", Region: "eu", Frontend: "127.1.0.2:8080", DNSServers: []string{"127.1.0.1:5300"}, DBAddress: "127.1.0.1:3306"},
		{Name: "us", Region: "us", Frontend: "127.2.0.2:8080", DNSServers: []string{"127.2.0.1:5300"}, DBAddress: "127.2.0.1:3306"},
	}, in.Sites)
	require.Equal(t, []FailoverRegion{
		{Name: "eu", Subnets: []string{"127.1.0.0/16", "10.1.0.0/16"}},
		{Name: "us", Subnets: []string{"127.2.0.0/16", "10.2.0.0/16"}},
	}, in.Regions)
	require.Equal(t, []FailoverService{{
		Name: "web", Zone: "shop.example.", Record: "www.shop.example.", TTL: 60, Port: 8080, HealthPath: "/healthz",
		WritePath: "/db", Template: "web-template", Snapshot: "golden", MinNodes: 1,
	}}, in.Services)

	// The input it builds passes the workflow's own validation.
	in.DryRun = true
	l := newFoLab(t)
	res, _, err := l.run(in)
	require.NoError(t, err)
	require.Equal(t, StatusDryRun, res.Status)
}

func TestNewFailoverSiteInputNamesWhatIsWrong(t *testing.T) {
	p, err := platform.Parse("example.yaml", platform.Example)
	require.NoError(t, err)
	_, err = NewFailoverSiteInput(p, "uk", "mars", "sideways")
	require.Error(t, err)
	require.Contains(t, err.Error(), `unknown target site "mars"`)
	require.Contains(t, err.Error(), `mode "sideways": expected disaster, planned or test`)
	require.Contains(t, err.Error(), "the platform file has sites uk, us")
	_, err = NewFailoverSiteInput(p, "us", "us", ModePlanned)
	require.ErrorContains(t, err, `failed site and target are both "us"`)
}
