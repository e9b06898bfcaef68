package triggers

import "sync/atomic"

// Stats are the trigger's counters since it started.
type Stats struct {
	// Processed messages: acked or dead-lettered (not the NAKed attempts).
	Processed int64
	// Started workflows (FailoverSite runs this trigger created).
	Started int64
	// Signalled Autoscale workflows (node.load samples delivered).
	Signalled int64
	// Deduplicated starts that folded into an already-running workflow.
	Deduplicated int64
	// Recorded events of types no rule acts on (acked, no action).
	Recorded int64
	// Ignored messages on subjects the trigger does not own (mdc.events.failover.>).
	Ignored int64
	// Rejected messages, dead-lettered with their reason.
	Rejected int64
	// Retried deliveries, NAKed because Temporal (or NATS) did not accept them.
	Retried int64
}

type counters struct {
	processed, started, signalled, deduplicated, recorded, ignored, rejected, retried atomic.Int64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Processed: c.processed.Load(), Started: c.started.Load(), Signalled: c.signalled.Load(),
		Deduplicated: c.deduplicated.Load(), Recorded: c.recorded.Load(), Ignored: c.ignored.Load(),
		Rejected: c.rejected.Load(), Retried: c.retried.Load(),
	}
}
