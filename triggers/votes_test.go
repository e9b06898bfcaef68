package triggers

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestVoteOrdering(t *testing.T) {
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	down := Vote{State: VoteDown, ObservedAt: t0}
	up := Vote{State: VoteUp, ObservedAt: t0.Add(time.Second)}
	require.True(t, up.supersedes(down), "newer replaces older")
	require.False(t, down.supersedes(up), "an older observation never overrides a newer one")
	require.True(t, down.supersedes(down), "the same observation delivered again")
}

func TestTally(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	life := 12 * time.Second
	at := func(d time.Duration) time.Time { return now.Add(d) }
	since := at(-20 * time.Second)
	votes := map[string]Vote{
		"us":      {State: VoteDown, ObservedAt: at(-2 * time.Second), Since: &since, PrimaryGTID: "0-1-10", Serving: map[string]int{"web": 3, "api": 1}},
		"witness": {State: VoteDown, ObservedAt: at(-time.Second), PrimaryGTID: "0-1-12", Serving: map[string]int{"web": 2}},
		"fr":      {State: VoteUp, ObservedAt: at(-time.Second), Serving: map[string]int{"web": 9}},
		"old":     {State: VoteDown, ObservedAt: at(-13 * time.Second), PrimaryGTID: "0-1-99", Serving: map[string]int{"web": 8}},
		"future":  {State: VoteDown, ObservedAt: at(time.Minute)},
	}
	tl := tally(votes, now, life, 2)
	require.True(t, tl.Reached())
	require.Equal(t, []string{"us", "witness"}, tl.Down)
	require.Equal(t, []string{"fr"}, tl.Up)
	require.Equal(t, []string{"future", "old"}, tl.Expired, "too old, or dated beyond the lifetime ahead")
	require.Equal(t, since, tl.DetectedAt, "the earliest since of the counted votes")
	require.Equal(t, "0-1-12", tl.PrimaryGTID, "the freshest counted vote's GTID; expired votes give none")
	require.Equal(t, map[string]int{"web": 3, "api": 1}, tl.Serving, "the most per service among the counted votes only")

	// Withdrawal: the observer's latest vote is up.
	votes["witness"] = Vote{State: VoteUp, ObservedAt: now}
	tl = tally(votes, now, life, 2)
	require.False(t, tl.Reached())
	require.Equal(t, []string{"us"}, tl.Down)
	require.Equal(t, "0-1-10", tl.PrimaryGTID)

	// Expiry: the same votes a little later no longer count.
	tl = tally(votes, now.Add(11*time.Second), life, 1)
	require.False(t, tl.Reached(), "us observed 13 s before")
	require.Empty(t, tl.Down)
	require.True(t, tl.DetectedAt.IsZero())

	// Without since, the outage is dated by the observation.
	tl = tally(map[string]Vote{"us": {State: VoteDown, ObservedAt: now}}, now, life, 1)
	require.True(t, tl.Reached())
	require.Equal(t, now, tl.DetectedAt)
	require.Nil(t, tl.Serving, "no vote said what the site served")
	require.False(t, tally(nil, now, life, 0).Reached(), "a quorum of 0 is never reached")
}

func TestIncidentContinues(t *testing.T) {
	now := time.Now()
	var none *incident
	require.False(t, none.continues(now, time.Minute))
	inc := &incident{LastQuorum: now.Add(-30 * time.Second)}
	require.True(t, inc.continues(now, time.Minute), "a quorum again within the lifetime is the same incident")
	require.False(t, inc.continues(now, 10*time.Second), "after a longer gap it is a new one")
}
