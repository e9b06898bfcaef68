package snmp

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/microdc/mdc/apperrors"
)

func testActivities(t *testing.T) *Activities {
	t.Helper()
	a, err := New(nil, map[string]SiteConfig{
		"uk": {Port: agentPort, Community: community, Timeout: 300 * time.Millisecond},
		"us": {Port: agentPort, Community: "us-s3cret", Timeout: 300 * time.Millisecond},
	})
	require.NoError(t, err)
	return a
}

func nodesOf(block, n int) []NodeAddr {
	nodes := make([]NodeAddr, n)
	for i := range nodes {
		host, _, _ := net.SplitHostPort(agentAddr(block, i))
		nodes[i] = NodeAddr{Name: fmt.Sprintf("web%d", i), IP: host}
	}
	return nodes
}

func TestPollLoad(t *testing.T) {
	agents := startAgents(t, 30, 3)
	agents[1].SetLoad(2.25, 2, 1.5)
	require.NoError(t, agents[2].Close())
	a := testActivities(t)

	res, err := a.PollLoad(context.Background(), PollLoadInput{Site: "uk", Nodes: nodesOf(30, 3)})
	require.NoError(t, err)
	require.Len(t, res.Samples, 3)
	require.Equal(t, 2, res.Answered)
	require.Equal(t, "web1", res.Samples[1].Node)
	require.Equal(t, "127.37.30.2:1161", res.Samples[1].Addr)
	require.Equal(t, 2.25, res.Samples[1].Load1)
	require.Equal(t, ErrRefused, res.Samples[2].ErrKind)

	// Every agent failing is still a result: the workflow decides. The
	// "us" site's community is wrong for these agents, so all time out.
	start := time.Now()
	res, err = a.PollLoad(context.Background(), PollLoadInput{Site: "us", Nodes: nodesOf(30, 2)})
	require.NoError(t, err)
	require.Less(t, time.Since(start), 600*time.Millisecond)
	require.Zero(t, res.Answered)
	for _, s := range res.Samples {
		require.Equal(t, ErrTimeout, s.ErrKind)
	}
	b, err := json.Marshal(res)
	require.NoError(t, err)
	require.NotContains(t, string(b), "us-s3cret", "no community in results")
	require.NotContains(t, fmt.Sprintf("%v %+v", a.Sites["uk"], a.Sites), "s3cret", "a printed SiteConfig hides its community")

	// No nodes: an empty round.
	res, err = a.PollLoad(context.Background(), PollLoadInput{Site: "uk"})
	require.NoError(t, err)
	require.Empty(t, res.Samples)
	require.NotNil(t, res.Samples)
}

func TestPollLoadBadInput(t *testing.T) {
	a := testActivities(t)
	_, err := a.PollLoad(context.Background(), PollLoadInput{Site: "mars", Nodes: nodesOf(31, 1)})
	require.True(t, apperrors.Is(err, apperrors.TypeBadInput), "%v", err)
	require.ErrorContains(t, err, `unknown site "mars": configured sites are uk, us`)

	for _, ip := range []string{"", "web1.example", "127.37.31.1:1161", "300.1.1.1"} {
		_, err = a.PollLoad(context.Background(), PollLoadInput{Site: "uk", Nodes: []NodeAddr{{Name: "ok", IP: "127.37.31.1"}, {Name: "bad", IP: ip}}})
		require.True(t, apperrors.Is(err, apperrors.TypeBadInput), "IP %q: %v", ip, err)
		require.ErrorContains(t, err, fmt.Sprintf(`node "bad" at site uk: IP %q is not an IP address`, ip))
		require.NotContains(t, err.Error(), community)
	}
}

func TestNewChecksSites(t *testing.T) {
	for _, c := range []struct {
		cfg  SiteConfig
		want string
	}{
		{SiteConfig{Community: ""}, `site "uk" has no SNMP community`},
		{SiteConfig{Community: "x", Port: 70000}, "port 70000 is out of range"},
		{SiteConfig{Community: "x", Timeout: -time.Second}, "timeout -1s is negative"},
	} {
		_, err := New(nil, map[string]SiteConfig{"uk": c.cfg})
		require.ErrorContains(t, err, c.want)
	}
	a, err := New(nil, map[string]SiteConfig{"uk": {Community: "x"}})
	require.NoError(t, err)
	require.NotNil(t, a.Poller)
}

// TestPollLoadInTemporal runs the activity through Temporal's test
// environment: registration by method and JSON round trip of input and
// result.
func TestPollLoadInTemporal(t *testing.T) {
	agents := startAgents(t, 32, 2)
	agents[0].SetLoad(3.5, 2.5, 1.5)
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(testActivities(t))

	val, err := env.ExecuteActivity("PollLoad", PollLoadInput{Site: "uk", Nodes: nodesOf(32, 2)})
	require.NoError(t, err)
	var res PollLoadResult
	require.NoError(t, val.Get(&res))
	require.Equal(t, 2, res.Answered)
	require.Equal(t, 3.5, res.Samples[0].Load1)
	require.Equal(t, 1.5, res.Samples[0].Load15)
	require.Positive(t, res.Samples[0].Latency)

	_, err = env.ExecuteActivity("PollLoad", PollLoadInput{Site: "nowhere"})
	require.True(t, apperrors.Is(err, apperrors.TypeBadInput), "%v", err)
}
