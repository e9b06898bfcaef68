package db

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseGTIDPos(t *testing.T) {
	p, err := parseGTIDPos(" 1-2-7,\n0-1-42 ")
	require.NoError(t, err)
	require.Equal(t, "0-1-42,1-2-7", p.String())
	p, err = parseGTIDPos("")
	require.NoError(t, err)
	require.Empty(t, p)
	require.Equal(t, "", p.String())
	p, err = parseGTIDPos("4294967295-4294967295-18446744073709551615")
	require.NoError(t, err)
	require.Equal(t, "4294967295-4294967295-18446744073709551615", p.String())
	for _, bad := range []string{"abc", "0-1", "0-1-2-3", "0-1-x", "-1-2-3", "0--1", "0-1-2,", "0-1-2,0-3-4", "4294967296-1-1", "0-1-2;DROP"} {
		_, err := parseGTIDPos(bad)
		require.Error(t, err, bad)
	}
}

func TestGTIDMissingAndMerge(t *testing.T) {
	pos := func(s string) gtidPos {
		p, err := parseGTIDPos(s)
		require.NoError(t, err)
		return p
	}
	require.EqualValues(t, 0, pos("0-1-10").missing(pos("0-1-10")))
	require.EqualValues(t, 0, pos("0-2-12").missing(pos("0-1-10")), "ahead counts as nothing missing")
	require.EqualValues(t, 3, pos("0-1-7").missing(pos("0-1-10")))
	require.EqualValues(t, 3+5, pos("0-1-7").missing(pos("0-1-10,1-3-5")), "an unseen domain is missing entirely")
	require.EqualValues(t, 0, pos("0-1-7,1-3-5").missing(pos("")))
	require.Equal(t, "0-1-10,1-3-5", pos("0-1-7,1-3-5").merge(pos("0-1-10,1-2-4")).String())
	a := pos("0-1-7")
	_ = a.merge(pos("0-1-9"))
	require.Equal(t, "0-1-7", a.String(), "merge does not modify its receiver")
	require.Empty(t, mustGTIDPos("garbage"))
}

func TestLagExceeds(t *testing.T) {
	known := lagInfo{seconds: 2, source: LagIdleTime}
	unknown := lagInfo{seconds: -1, source: LagUnknown}
	require.False(t, known.exceeds(0), "0 is unbounded")
	require.False(t, unknown.exceeds(0))
	require.True(t, known.exceeds(time.Second))
	require.False(t, known.exceeds(3*time.Second))
	require.True(t, unknown.exceeds(time.Hour), "an unknown lag exceeds every bound")
	require.Contains(t, unknown.String(), "lag unknown")
	require.Contains(t, lagInfo{seconds: 0.25, source: LagSecondsBehind, missing: 4, target: "0-1-9", against: "PrimaryGTID"}.String(),
		"lag 0.250s (seconds-behind-master), 4 transactions missing against PrimaryGTID 0-1-9")
}

// TestMeasureLag covers each lag source on replication states built by
// hand (the primary is not a configured site, so nothing is probed).
func TestMeasureLag(t *testing.T) {
	a := New(nil)
	s := &site{name: "us"}
	sbm := func(n int64) *int64 { return &n }
	replica := func(io, sqlRun, ioPos string, behind *int64, state string, idle time.Duration) *serverState {
		return &serverState{readOnly: true, gtidSlave: "0-1-10", gtidCurrent: "0-1-10", replica: &slaveStatus{
			host: "192.0.2.1", port: 3306, ioRunning: io, sqlRunning: sqlRun, gtidIOPos: ioPos,
			secondsBehind: behind, sqlState: state, sqlIdle: idle}}
	}
	busy := "Reading event from the relay log"
	cases := []struct {
		name    string
		st      *serverState
		primary string
		source  string
		seconds float64
		missing int64
		drain   bool
	}{
		{"received everything, relay log drained", replica("Connecting", "Yes", "0-1-12", nil, busy, time.Second), "0-1-12", LagCaughtUp, 0, 0, true},
		{"connected, no PrimaryGTID: what it receives", replica("Yes", "Yes", "0-1-12", sbm(3), busy, time.Second), "", LagCaughtUp, 0, 0, true},
		{"applying, the primary had more", replica("Connecting", "Yes", "0-1-12", sbm(7), busy, 500*time.Millisecond), "0-1-15", LagSecondsBehind, 7, 3, true},
		{"idle, the primary had more", replica("Connecting", "Yes", "0-1-10", nil, sqlIdleState, 2500*time.Millisecond), "0-1-15", LagIdleTime, 2.5, 5, true},
		{"idle, nothing known of the primary", replica("Connecting", "Yes", "0-1-10", nil, sqlIdleState, 4*time.Second), "", LagIdleTime, 4, -1, true},
		{"SQL thread stopped with a backlog", replica("Yes", "No", "0-1-12", nil, "", -1), "", LagUnknown, -1, 2, false},
		{"SQL thread stopped, caught up", replica("No", "No", "0-1-10", nil, "", -1), "0-1-10", LagCaughtUp, 0, 0, false},
		{"not replicating, nothing to compare", &serverState{readOnly: true, gtidCurrent: "0-2-20"}, "", LagNotReplicating, 0, -1, false},
		{"not replicating, has the position", &serverState{readOnly: true, gtidCurrent: "0-2-20"}, "0-1-19", LagNotReplicating, 0, 0, false},
		{"not replicating, lacks the position", &serverState{readOnly: true, gtidCurrent: "0-2-20"}, "0-1-22", LagUnknown, -1, 2, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := a.measureLag(t.Context(), s, c.st, mustGTIDPos(c.primary))
			require.Equal(t, c.source, l.source)
			require.InDelta(t, c.seconds, l.seconds, 1e-9)
			require.Equal(t, c.missing, l.missing)
			require.Equal(t, c.drain, l.drain)
		})
	}
}
