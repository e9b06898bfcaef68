package triggers

import "sync/atomic"

// Stats are the trigger's counters since it started.
type Stats struct {
	// Processed messages: acked or dead-lettered (not the NAKed attempts).
	Processed int64
	// Started FailoverSite runs this trigger created (failovers started).
	Started int64
	// Signalled Autoscale workflows (node.load samples delivered).
	Signalled int64
	// Deduplicated site.down events whose quorum was already covered: by
	// the site's current incident, the running failover, or one that failed
	// the site over within the block period.
	Deduplicated int64
	// Recorded events whose rule is record (acked, no workflow action).
	Recorded int64
	// Ignored messages: the workflows' own events (mdc.events.failover.>, mdc.events.replication.>).
	Ignored int64
	// Rejected messages, dead-lettered with their reason.
	Rejected int64
	// Retried deliveries, NAKed because Temporal (or NATS) did not accept them.
	Retried int64
	// VotesRecorded site.down and site.up events stored as their observer's vote.
	VotesRecorded int64
	// VotesStale votes older than the observer's stored vote (not stored).
	VotesStale int64
	// QuorumWaits site.down votes after which fewer than failover.observer_quorum
	// observers currently reported the site down (nothing started).
	QuorumWaits int64
}

type counters struct {
	processed, started, signalled, deduplicated, recorded, ignored, rejected, retried atomic.Int64
	votesRecorded, votesStale, quorumWaits                                            atomic.Int64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Processed: c.processed.Load(), Started: c.started.Load(), Signalled: c.signalled.Load(),
		Deduplicated: c.deduplicated.Load(), Recorded: c.recorded.Load(), Ignored: c.ignored.Load(),
		Rejected: c.rejected.Load(), Retried: c.retried.Load(),
		VotesRecorded: c.votesRecorded.Load(), VotesStale: c.votesStale.Load(), QuorumWaits: c.quorumWaits.Load(),
	}
}
