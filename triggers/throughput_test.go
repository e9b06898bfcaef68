package triggers

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/embedded"
	"github.com/microdc/mdc/workflows"
)

// TestThroughputVsDirectClient is the scenario: node.load events
// from JetStream through the trigger into Temporal signals, against a
// direct Temporal client sending the same signals with the same
// concurrency. It prints both rates and their ratio (target >= 0.9); it
// fails only below 0.5, because the shared CI machine is noisy.
func TestThroughputVsDirectClient(t *testing.T) {
	if testing.Short() {
		t.Skip("embedded NATS and Temporal")
	}
	const n, conc = 1500, DefaultConcurrency
	tmp := startTemporal(t, embedded.TemporalOptions{})
	nsrv := startNATS(t, embedded.NATSOptions{})
	t.Cleanup(nsrv.Stop)
	pub := newPublisher(t, nsrv.URL)
	p := testPlatform(t)
	starter := &TemporalStarter{Client: tmp.c, TaskQueue: testQueue}

	// Warm both workflows up so neither side pays for the first start.
	ctx := context.Background()
	for _, site := range []string{"uk", "us"} {
		require.NoError(t, starter.SignalLoad(ctx, p, site, "web", workflows.LoadSample{Node: "warm", ObservedAt: time.Now()}))
	}

	// Direct: the same signals from conc goroutines.
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < n; i = next.Add(1) - 1 {
				ev := loadEvent(int(i), "us")
				err := starter.SignalLoad(ctx, p, "us", "web", workflows.LoadSample{Node: ev.Subject, Load1: 1.5, ObservedAt: ev.ObservedAt})
				assert.NoError(t, err) // require may not stop the test from this goroutine
			}
		}()
	}
	wg.Wait()
	direct := float64(n) / time.Since(start).Seconds()

	// Through JetStream: publish first, then time the trigger draining it.
	for i := range n {
		pub.event(t, loadEvent(i, "uk"))
	}
	start = time.Now()
	tr := runTrigger(t, Options{NATSURL: nsrv.URL, Starter: starter, Concurrency: conc})
	waitFor(t, 120*time.Second, "all signalled", func() bool { return tr.Stats().Signalled == n })
	viaTrigger := float64(n) / time.Since(start).Seconds()

	ratio := viaTrigger / direct
	t.Logf("signals/s: direct client %.0f, via JetStream trigger %.0f, ratio %.2f (target >= 0.9)", direct, viaTrigger, ratio)
	got, err := queryNodes(tmp.c, workflows.AutoscaleWorkflowID("web", "uk"))
	require.NoError(t, err)
	require.Equal(t, n+1, got, "every sample reached the workflow (plus the warm-up)")
	require.GreaterOrEqual(t, ratio, 0.5)
}

// TestVoteThroughput drains site.down and site.up votes (two sites, four
// observers each, no quorum reached) already in the stream and prints the
// rate: each vote is a compare-and-set in the votes bucket plus, for a down
// vote, a read of the site's votes. It fails only if a vote goes missing.
func TestVoteThroughput(t *testing.T) {
	if testing.Short() {
		t.Skip("embedded NATS")
	}
	const n = 2000
	nsrv := startNATS(t, embedded.NATSOptions{})
	t.Cleanup(nsrv.Stop)
	pub := newPublisher(t, nsrv.URL)
	p := testPlatform(t)
	p.Failover.ObserverQuorum = 3 // 3 sites' worth: the votes below never reach it
	t0 := time.Now()
	for i := range n {
		site, observer := []string{"uk", "us"}[i%2], fmt.Sprintf("o%d", i%4)
		at := t0.Add(time.Duration(i) * time.Millisecond)
		if i%8 < 4 {
			pub.event(t, downFrom(fmt.Sprintf("v%d", i), site, observer, at))
		} else {
			pub.event(t, upFrom(fmt.Sprintf("v%d", i), site, observer, at))
		}
	}
	fake := newFake()
	start := time.Now()
	tr := runTrigger(t, Options{NATSURL: nsrv.URL, Starter: fake, Platform: p})
	waitFor(t, 120*time.Second, "all votes", func() bool { return tr.Stats().Processed == n })
	rate := float64(n) / time.Since(start).Seconds()
	s := tr.Stats()
	t.Logf("votes/s through the trigger: %.0f (%d recorded, %d quorum waits)", rate, s.VotesRecorded, s.QuorumWaits)
	require.EqualValues(t, n, s.VotesRecorded)
	require.Zero(t, fake.startCalls("uk")+fake.startCalls("us"))
}
