package rto

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/events"
	"github.com/microdc/mdc/workflows"
)

func down(t *testing.T, observer string, at, since time.Time) events.Event {
	t.Helper()
	n := 3
	p, err := events.NewPayload(events.SitePayload{Misses: &n, Since: &since})
	require.NoError(t, err)
	return events.Event{Version: 1, ID: observer + at.String(), Type: events.TypeSiteDown, Site: "uk", Observer: observer, ObservedAt: at, Payload: p}
}

func TestBreakdownAddsUpFromTheFirstMissToVerification(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	step := func(name string, ms int) workflows.Step {
		return workflows.Step{Name: name, State: workflows.StepDone, Took: time.Duration(ms) * time.Millisecond}
	}
	res := workflows.FailoverSiteResult{
		FailedSite: "uk", Status: workflows.StatusFailedOver, RTOFrom: at(0), Verified: at(9000), RTO: 9 * time.Second, RPOSeconds: 0.5,
		Progress: workflows.Progress{Steps: []workflows.Step{
			step("confirm", 300), step("anti-flap", 100), step("fence", 1000), step("promote", 500),
			step("capacity", 2000), step("switch LB", 200), step("switch DNS", 300), step("verify", 1000),
			step("record", 50),
		}},
	}
	downs := []events.Event{
		down(t, "us", at(-600_000), at(-603_000)), // an earlier outage: not a vote of this one
		down(t, "witness", at(2100), at(80)),
		down(t, "us", at(2000), at(0)),
		down(t, "us", at(7000), at(0)),   // a re-publish
		down(t, "fr", at(20_000), at(0)), // after the start
	}
	b, err := FromRecords(res, "failover-uk", at(2500), downs, 2)
	require.NoError(t, err)
	require.Equal(t, []string{"us", "witness"}, b.Observers)
	require.Equal(t, at(0), b.Since)
	require.Equal(t, at(2100), b.Quorum)
	require.Equal(t, 2100*time.Millisecond, b.Detection)
	require.Equal(t, 400*time.Millisecond+400*time.Millisecond, b.Decision, "trigger to start, confirm, anti-flap")
	require.Equal(t, 2*time.Second, b.Capacity)
	require.Equal(t, 9*time.Second, b.Total)
	var sum time.Duration
	for _, p := range b.Phases() {
		sum += p.Took
	}
	require.Equal(t, b.Total, sum)
	require.Regexp(t, `detection +2.1s`, b.String())

	_, err = FromRecords(res, "failover-uk", at(2500), nil, 2)
	require.ErrorContains(t, err, "no site.down event about uk")
	res.Verified = time.Time{}
	_, err = FromRecords(res, "failover-uk", at(2500), downs, 2)
	require.ErrorContains(t, err, "did not verify")
}

func TestMedianIsPerPhase(t *testing.T) {
	runs := []Breakdown{
		{Total: 10 * time.Second, Detection: 2 * time.Second, Fence: time.Second, RPOSeconds: 1},
		{Total: 12 * time.Second, Detection: 3 * time.Second, Fence: 3 * time.Second, RPOSeconds: 0},
		{Total: 11 * time.Second, Detection: 4 * time.Second, Fence: 2 * time.Second, RPOSeconds: 5},
	}
	m := Median(runs)
	require.Equal(t, 11*time.Second, m.Total)
	require.Equal(t, 3*time.Second, m.Detection)
	require.Equal(t, 2*time.Second, m.Fence)
	require.Equal(t, 1.0, m.RPOSeconds)
	require.Equal(t, Breakdown{}, Median(nil))
}
