package monitor

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBandsEnterAtTheThresholdAndLeavePastTheHysteresis(t *testing.T) {
	b := bands{in: 1.0, out: 2.0, hysteresis: 0.1}
	for _, c := range []struct {
		cur  string
		load float64
		want string
	}{
		{"", 0.3, bandLow}, {"", 1.0, bandNormal}, {"", 2.0, bandHigh},
		// Entering is immediate, exactly where Autoscale's band changes.
		{bandNormal, 2.0, bandHigh}, {bandNormal, 0.99, bandLow}, {bandLow, 2.5, bandHigh}, {bandHigh, 0.5, bandLow},
		// Leaving needs the margin.
		{bandHigh, 1.95, bandHigh}, {bandHigh, 1.9, bandHigh}, {bandHigh, 1.89, bandNormal},
		{bandLow, 1.05, bandLow}, {bandLow, 1.1, bandNormal},
	} {
		require.Equal(t, c.want, b.next(c.cur, c.load), "from %q at load %.2f", c.cur, c.load)
	}
}

// A load wavering around out_load for ten minutes, polled every second,
// is published as one band change plus the 30 s heartbeats: 21 events,
// not 600.
func TestAWaveringLoadIsOneBandChangePlusHeartbeats(t *testing.T) {
	b := bands{in: 1.0, out: 2.0, hysteresis: 0.1}
	var tr tracker
	t0 := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	published, changes := 0, 0
	for i := range 600 {
		load := 1.96
		if i%2 == 1 {
			load = 2.04
		}
		now := t0.Add(time.Duration(i) * time.Second)
		band := b.next(tr.state, load)
		if tr.due(band, now, 30*time.Second) {
			if band != tr.state {
				changes++
			}
			published++
			tr.sent(band, now)
		}
	}
	require.Equal(t, 2, changes, "normal at the first poll, high at the first crossing")
	require.Equal(t, 21, published)
	require.Equal(t, bandHigh, tr.state)
}

func TestTrackerRepublishesOnlyAfterTheHeartbeat(t *testing.T) {
	var tr tracker
	t0 := time.Now()
	require.True(t, tr.due("healthy", t0, time.Minute), "nothing reported yet")
	tr.sent("healthy", t0)
	require.False(t, tr.due("healthy", t0.Add(59*time.Second), time.Minute))
	require.True(t, tr.due("healthy", t0.Add(time.Minute), time.Minute))
	require.True(t, tr.due("unhealthy", t0.Add(time.Second), time.Minute), "a change goes out at once")
}
