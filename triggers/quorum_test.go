package triggers

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/embedded"
	"github.com/microdc/mdc/events"
	"github.com/microdc/mdc/platform"
)

// quorumRig is a trigger with a fake starter on an embedded NATS.
type quorumRig struct {
	srv  *embedded.NATS
	pub  *publisher
	fake *fakeStarter
	tr   *Trigger
	n    int // events published
	ids  int // event IDs handed out
}

func newQuorumRig(t *testing.T, p *platform.Platform) *quorumRig {
	if testing.Short() {
		t.Skip("embedded NATS")
	}
	srv := startNATS(t, embedded.NATSOptions{})
	t.Cleanup(srv.Stop)
	r := &quorumRig{srv: srv, pub: newPublisher(t, srv.URL), fake: newFake()}
	r.tr = runTrigger(t, Options{NATSURL: srv.URL, Starter: r.fake, Platform: p})
	return r
}

// send publishes events and waits until the trigger processed them all.
func (r *quorumRig) send(t *testing.T, evs ...events.Event) {
	t.Helper()
	for _, ev := range evs {
		r.pub.event(t, ev)
		r.n++
	}
	waitFor(t, 20*time.Second, fmt.Sprintf("%d events processed", r.n), func() bool { return r.tr.Stats().Processed == int64(r.n) })
}

func (r *quorumRig) id() string {
	r.ids++
	return fmt.Sprintf("ev-%d", r.ids)
}

func TestOneObserverNeverFailsASiteOver(t *testing.T) {
	r := newQuorumRig(t, nil) // quorum 2
	t0 := time.Now().Add(-10 * time.Second)
	for i := range 20 {
		at := t0.Add(time.Duration(i) * 500 * time.Millisecond)
		// us keeps reporting uk down; the witness keeps seeing it up.
		r.send(t, downFrom(r.id(), "uk", "us", at))
		r.send(t, upFrom(r.id(), "uk", "witness", at))
	}
	require.Zero(t, r.fake.startCalls("uk"), "one observer's site.down never starts a failover with quorum 2")
	s := r.tr.Stats()
	require.EqualValues(t, 20, s.QuorumWaits)
	require.EqualValues(t, 40, s.VotesRecorded)
	require.EqualValues(t, 20, s.Recorded, "site.up is recorded")

	// The witness agrees: exactly one failover, dated by the first outage report.
	r.send(t, downFrom(r.id(), "uk", "witness", time.Now()))
	require.Equal(t, 1, r.fake.startCalls("uk"))
	r.fake.mu.Lock()
	req := r.fake.requests[0]
	r.fake.mu.Unlock()
	require.Equal(t, []string{"us", "witness"}, req.Observers)
	require.Equal(t, 2, req.Quorum)
	require.Equal(t, "us", req.TargetSite)
	// us's latest vote (its 20th) says the outage began a second before it.
	require.True(t, req.DetectedAt.Equal(t0.Add(19*500*time.Millisecond-time.Second)), "DetectedAt %s", req.DetectedAt)
	require.Equal(t, "0-1-witness", req.PrimaryGTID)
	require.Equal(t, map[string]int{"web": 3}, req.Serving)
	require.EqualValues(t, 1, r.tr.Stats().Started)
}

func TestSiteUpWithdrawsTheVote(t *testing.T) {
	r := newQuorumRig(t, nil)
	now := time.Now()
	r.send(t, downFrom(r.id(), "uk", "us", now.Add(-3*time.Second)), upFrom(r.id(), "uk", "us", now.Add(-2*time.Second)))
	r.send(t, downFrom(r.id(), "uk", "witness", now.Add(-time.Second)))
	require.Zero(t, r.fake.startCalls("uk"), "us withdrew its vote")
	r.send(t, downFrom(r.id(), "uk", "us", now))
	require.Equal(t, 1, r.fake.startCalls("uk"))
}

func TestOlderEventNeverOverridesANewerVote(t *testing.T) {
	r := newQuorumRig(t, nil)
	now := time.Now()
	// A redelivered or delayed up from before the outage arrives after it.
	r.send(t, downFrom(r.id(), "uk", "us", now), upFrom(r.id(), "uk", "us", now.Add(-10*time.Second)))
	require.EqualValues(t, 1, r.tr.Stats().VotesStale)
	r.send(t, downFrom(r.id(), "uk", "witness", now))
	require.Equal(t, 1, r.fake.startCalls("uk"), "us's down vote stood")

	// And an old down does not override a newer up.
	r.send(t, upFrom(r.id(), "us", "uk", now), downFrom(r.id(), "us", "uk", now.Add(-time.Second)), downFrom(r.id(), "us", "witness", now))
	require.Zero(t, r.fake.startCalls("us"))
	require.EqualValues(t, 2, r.tr.Stats().VotesStale)
}

func TestExpiredVotesDoNotCount(t *testing.T) {
	r := newQuorumRig(t, nil)
	life := testPlatform(t).Failover.VoteLifetime()
	now := time.Now()
	r.send(t, downFrom(r.id(), "uk", "us", now.Add(-life-time.Second)), downFrom(r.id(), "uk", "witness", now))
	require.Zero(t, r.fake.startCalls("uk"), "us's vote is older than %s", life)
	require.EqualValues(t, 2, r.tr.Stats().QuorumWaits)
	r.send(t, downFrom(r.id(), "uk", "us", now))
	require.Equal(t, 1, r.fake.startCalls("uk"), "us re-published")
}

func TestVotesAndIncidentsSurviveATriggerRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("embedded NATS")
	}
	srv := startNATS(t, embedded.NATSOptions{})
	t.Cleanup(srv.Stop)
	pub := newPublisher(t, srv.URL)
	fake := newFake()
	run := func(evs ...events.Event) Stats {
		tr, stop := startTrigger(t, Options{NATSURL: srv.URL, Starter: fake})
		defer stop()
		for _, ev := range evs {
			pub.event(t, ev)
		}
		waitFor(t, 20*time.Second, "processed", func() bool { return tr.Stats().Processed == int64(len(evs)) })
		return tr.Stats()
	}
	now := time.Now()
	require.EqualValues(t, 1, run(downFrom("a", "uk", "us", now)).QuorumWaits)
	s := run(downFrom("b", "uk", "witness", now))
	require.EqualValues(t, 1, s.Started, "the vote cast before the restart counts")
	s = run(downFrom("c", "uk", "us", now.Add(time.Second)))
	require.EqualValues(t, 1, s.Deduplicated, "the incident survived too")
	require.Equal(t, 1, fake.startCalls("uk"))
}

func TestDisabledFailoverRuleRecordsAndStartsNothing(t *testing.T) {
	p := testPlatform(t)
	p.Triggers = []platform.TriggerRule{{Event: events.TypeSiteDown, Action: platform.ActionRecord}}
	r := newQuorumRig(t, p)
	now := time.Now()
	r.send(t, downFrom(r.id(), "uk", "us", now), downFrom(r.id(), "uk", "witness", now), upFrom(r.id(), "uk", "us", now), loadEvent(1, "uk"))
	require.Zero(t, r.fake.startCalls("uk"))
	s := r.tr.Stats()
	require.EqualValues(t, 3, s.Recorded)
	require.Zero(t, s.VotesRecorded, "no votes are kept while automatic failover is off")
	require.EqualValues(t, 1, s.Signalled, "the other rules keep their defaults")
}
