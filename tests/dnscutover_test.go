package tests

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/microdc/mdc/activities/dns"
	"github.com/microdc/mdc/schedules"
	"github.com/microdc/mdc/workers"
	"github.com/microdc/mdc/workflows"
)

// A disaster cutover with the uk site dead moves every region to us on the
// surviving DNS server, and records uk's servers for repair.
func TestDNSCutoverAgainstTheLab(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the lab")
	}
	st := startStack(t, 81)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// The stack created the protected VM's replication schedule.
	_, err := st.Client.ScheduleClient().GetHandle(ctx, schedules.ReplicationScheduleID("uk", "uk-db-1")).Describe(ctx)
	require.NoError(t, err, "mdc dev creates a schedule per protected VM")
	p := st.Lab.Platform()
	uk, us := p.Sites[0], p.Sites[1]
	usDNS := us.DNS.Servers[0].Address
	eu, na := p.Regions[uk.Region].Subnets[0], p.Regions[us.Region].Subnets[0]
	ukFrontend, usFrontend := st.Lab.Plan().FrontendIP(0), st.Lab.Plan().FrontendIP(1)
	require.Equal(t, []string{ukFrontend}, geoAnswer(t, usDNS, "www.mdc.test.", eu), "before: eu goes to uk")

	require.NoError(t, st.Lab.KillSite(ctx, "uk"))
	in := workflows.DNSCutoverInput{
		Mode: workflows.ModeDisaster, Sites: []string{"uk", "us"}, Zone: "mdc.test.", Name: "www.mdc.test.",
		Answers: []dns.GeoAnswer{
			{Region: uk.Region, Subnets: []string{eu}, IP: usFrontend},
			{Region: us.Region, Subnets: []string{na}, IP: usFrontend},
		},
		Fallback: usFrontend, TTL: 60, VerifyDeadline: 20 * time.Second,
	}
	t0 := time.Now()
	run, err := st.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "test-dns-cutover", TaskQueue: workers.SharedQueue},
		workflows.DNSCutoverName, in)
	require.NoError(t, err)
	var res workflows.DNSCutoverResult
	require.NoError(t, run.Get(ctx, &res))
	t.Logf("disaster DNS cutover took %s: %+v", time.Since(t0).Round(time.Millisecond), res.Progress.Steps)

	recordHistory(t, st.Client, "test-dns-cutover", "dns_cutover_disaster.json")
	require.Equal(t, []string{"uk"}, res.UnreachableSites)
	require.Equal(t, []string{usFrontend}, geoAnswer(t, usDNS, "www.mdc.test.", eu), "after: eu goes to us")
	require.Equal(t, []string{usFrontend}, geoAnswer(t, usDNS, "www.mdc.test.", na))
}
