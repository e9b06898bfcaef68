package monitor

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// feed runs outcomes (true = answered) through s at 1 s heartbeats from t0,
// publishing every verdict successfully, and returns the verdicts by index.
func feed(s *siteState, t0 time.Time, outcomes ...bool) map[int]siteVerdict {
	out := map[int]siteVerdict{}
	for i, ok := range outcomes {
		due := t0.Add(time.Duration(i) * time.Second)
		if v := s.observe(due, ok); v != verdictNone {
			out[i] = v
			s.published(v, due)
		}
	}
	return out
}

func TestSiteIsDownAfterConsecutiveMissesSinceTheFirstMiss(t *testing.T) {
	s := &siteState{threshold: 3, republish: 5 * time.Second}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	got := feed(s, t0, true, true, false, false, false)
	require.Equal(t, map[int]siteVerdict{4: verdictDown}, got)
	require.True(t, s.down)
	require.Equal(t, t0.Add(2*time.Second), s.since, "the RTO clock starts at the first missed heartbeat")
	require.Equal(t, 3, s.missed)
}

func TestBlipsShorterThanTheMissesAreNothing(t *testing.T) {
	s := &siteState{threshold: 3, republish: 5 * time.Second}
	got := feed(s, time.Now(), false, false, true, false, true, false, false, true)
	require.Empty(t, got)
	require.False(t, s.down)
}

func TestDownIsRepublishedWhileItLastsAndUpNeedsConsecutiveAnswers(t *testing.T) {
	s := &siteState{threshold: 3, republish: 5 * time.Second}
	t0 := time.Now()
	// Down at 2, again at 7 and 12; answers at 13, 14, a miss at 15 (no
	// up), answers at 16, 17, 18 (up at 18).
	outcomes := []bool{false, false, false, false, false, false, false, false, false, false, false, false, false,
		true, true, false, true, true, true}
	got := feed(s, t0, outcomes...)
	require.Equal(t, map[int]siteVerdict{2: verdictDown, 7: verdictStillDown, 12: verdictStillDown, 18: verdictUp}, got)
	require.False(t, s.down)
	require.Equal(t, t0, s.since, "re-publishes keep the outage's start")
}

// A verdict whose event did not reach the stream is asked for again on
// the next heartbeat; nothing is taken as reported before it was.
func TestAnUnpublishedVerdictIsAskedForAgain(t *testing.T) {
	s := &siteState{threshold: 2, republish: time.Hour}
	t0 := time.Now()
	require.Equal(t, verdictNone, s.observe(t0, false))
	require.Equal(t, verdictDown, s.observe(t0.Add(time.Second), false))
	// not published: NATS was away
	require.Equal(t, verdictDown, s.observe(t0.Add(2*time.Second), false))
	s.published(verdictDown, t0.Add(2*time.Second))
	require.Equal(t, t0, s.since)
	require.Equal(t, verdictNone, s.observe(t0.Add(3*time.Second), false))
	require.Equal(t, verdictNone, s.observe(t0.Add(4*time.Second), true))
	require.Equal(t, verdictUp, s.observe(t0.Add(5*time.Second), true))
	require.Equal(t, verdictUp, s.observe(t0.Add(6*time.Second), true), "site.up not published yet")
	s.published(verdictUp, t0.Add(6*time.Second))
	require.Equal(t, verdictNone, s.observe(t0.Add(7*time.Second), true))
}

func TestProbeTimeoutFitsTheInterval(t *testing.T) {
	require.Equal(t, 750*time.Millisecond, probeTimeout(time.Second))
	require.Equal(t, 100*time.Millisecond, probeTimeout(50*time.Millisecond))
	require.Equal(t, 2*time.Second, probeTimeout(10*time.Second))
}

func TestEventCursorSkipsWhatWasPublishedAndFollowsARebuiltVCenter(t *testing.T) {
	var c eventCursor
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	require.True(t, c.fresh(7, t0))
	c.advance(7, t0)
	require.False(t, c.fresh(7, t0))
	require.False(t, c.fresh(3, t0.Add(-time.Minute)))
	require.True(t, c.fresh(8, t0), "same second, newer key")
	require.True(t, c.fresh(1, t0.Add(time.Second)), "a vCenter rebuilt from scratch restarts its keys")
	c.advance(1, t0.Add(time.Second))
	require.Equal(t, int32(1), c.key, "the rebuilt vCenter's keys count from here")
	require.Equal(t, t0.Add(time.Second), c.created)
	require.True(t, c.fresh(2, t0.Add(time.Second)))
	c.advance(0, t0)
	require.Equal(t, int32(1), c.key, "an older event does not move the cursor back")

	c.polled = t0.Add(time.Hour)
	require.Equal(t, t0.Add(time.Hour-eventOverlap), c.begin(), "an old last event does not widen the query")
	c.polled = t0
	require.Equal(t, t0.Add(time.Second), c.begin())
}
