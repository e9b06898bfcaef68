package snmp

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
)

// BenchmarkPollRound1000 is one round over 1,000 in-process agents, with
// the default options (sub-benchmark "concurrent") and one agent at a time
// ("sequential"), so both rates come from the same run; compare
// BenchmarkGoSNMPGet1000.
func BenchmarkPollRound1000(b *testing.B) {
	agents := startAgents(b, 1, 1000)
	targets := targetsOf(agents)
	p := NewPoller()
	for _, bc := range []struct {
		name string
		opts Options
	}{{"concurrent", Options{}}, {"sequential", Options{Concurrency: 1}}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				out := p.Poll(context.Background(), targets, bc.opts)
				for i, s := range out {
					if !s.OK() {
						b.Fatalf("agent %d: %s", i, s.Err)
					}
				}
			}
		})
	}
}

// BenchmarkGoSNMPGet1000 is the obvious alternative the poller replaced: a
// gosnmp.GoSNMP with Connect, Get and Close per agent, 256 at a time. Each
// Connect allocates a 64 KiB receive buffer, 64 MB per round.
func BenchmarkGoSNMPGet1000(b *testing.B) {
	agents := startAgents(b, 1, 1000)
	targets := targetsOf(agents)
	for b.Loop() {
		sem := make(chan struct{}, DefaultConcurrency)
		var wg sync.WaitGroup
		for _, t := range targets {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				ap := netip.MustParseAddrPort(t.Addr)
				g := &gosnmp.GoSNMP{Target: ap.Addr().String(), Port: ap.Port(), Community: t.Community,
					Version: gosnmp.Version2c, Timeout: time.Second, MaxOids: len(loadOIDs)}
				if err := g.Connect(); err != nil {
					b.Error(err)
					return
				}
				defer g.Close()
				if _, err := g.Get(loadOIDs); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
	}
}
