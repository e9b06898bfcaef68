// Package triggers turns platform events from NATS JetStream into Temporal
// workflow starts and signals.
//
// A Trigger is a durable JetStream pull consumer ("mdc-trigger") on the
// MDC_EVENTS stream (see package events). Each message is decoded strictly
// and its site checked against the platform file; what can never be valid
// (malformed JSON, unknown type, subject not matching the event, unknown
// site or service, oversize, a site vote without a usable observer) is
// copied to MDC_DEADLETTER with the reason in a header and terminated. A
// valid event is handled by its rule and acknowledged only after NATS and
// Temporal accepted what the rule does; when they do not answer the message
// is NAKed with an exponential delay (0.5 s doubling to MaxBackoff) and
// redelivered without limit, so no event is lost.
//
// # Rules
//
// The rules are the platform file's triggers section (platform.TriggerRule):
// one rule per event type, each an action on a workflow. Only combinations
// the trigger can build inputs for pass validation, and the workflow ID and
// conflict policy are fixed per workflow so that duplicates fold into one
// workflow. An event type without a rule keeps its default, which is also
// the whole behaviour when the section is absent:
//
//   - site.down: start FailoverSite (the observer quorum below). Workflow
//     ID "failover-<site>", disaster mode, towards the rule's targets entry
//     for the site, else the primary site, else the first other site
//     (platform.FailoverTarget); the input comes from
//     TemporalStarter.FailoverInput (DisasterFailoverInput by default).
//   - node.load: signal-with-start Autoscale "autoscale-<service>-<site>"
//     with the "load" signal and a LoadSample{Node: subject, Load1,
//     ObservedAt}; the service is the payload's "service", or the platform
//     file's only service.
//   - site.up, node.health, host.disconnected, vm.powered_off: record.
//
// "action: record" acknowledges and counts an event (Stats.Recorded) and
// starts nothing; it is how an operator turns automatic failover (or
// autoscaling) off. Messages on mdc.events.failover.> and
// mdc.events.replication.> are the workflows' own events (FailoverSite's
// outcome, ReplicateVM's RPO violation); they are acked and counted as
// ignored.
//
// # Observer quorum
//
// With the site.down rule active, site.down and site.up events are votes: the
// latest observation of each observer about each site is kept in the
// JetStream key-value bucket MDC_SITE_VOTES under <site>.<observer> (state,
// observed_at, since, primary_gtid, serving, event ID), so a restarted trigger, or a
// second one, counts the same votes. Writes are compare-and-set on the key's
// revision, and an observation older (by observed_at) than the stored one
// never replaces it. site.up withdraws its observer's vote. A down vote
// counts while it is younger than failover.VoteLifetime() (4 ×
// detection_interval × misses, at least 12 detection intervals; monitors
// re-publish site.down while a site stays down), so the vote of an observer
// that went quiet, or a backlog replayed after the trigger was away, cannot
// fail a site over.
//
// After each down vote the trigger counts the site's current down votes:
// fewer than failover.observer_quorum distinct observers is a quorum wait
// (nothing starts, whatever one observer says); a quorum starts
// FailoverSite with DetectedAt = the earliest since (else observed_at)
// among the counted votes, which starts the RTO clock at the first missed
// heartbeat, PrimaryGTID = the freshest primary_gtid among them, which
// lets the promotion count the transactions lost, and ServingAtFailedSite =
// the most nodes per service among their serving counts, which the
// failover starts at the target when the failed vCenter is gone too.
//
// Duplicates and flapping fold into one failover at three levels:
//   - the incident: the quorum that started (or joined) a failover is kept
//     under _incident.<site> with the time a quorum was last seen; a quorum
//     again within the vote lifetime (re-published votes, a site flapping
//     down, up, down) belongs to the same incident and is counted as
//     deduplicated without calling Temporal;
//   - the running run: a new incident while failover-<site> runs joins it;
//   - the block period: a new incident less than failover.block_period after
//     a run that failed the site over (search attribute MdcOutcome
//     failed-over) folds into that run, as the workflow's anti-flapping step
//     would refuse a new one. A run that ended without failing over (site
//     reachable, refused, failed) does not block: the new quorum is a new
//     question, and the workflow confirms the failure with its own probes.
//
// The start uses workflows.FailoverStartOptions (conflict policy
// USE_EXISTING, reuse policy ALLOW_DUPLICATE, search attributes MdcSite,
// MdcTargetSite, MdcMode), so triggers racing each other still make one run.
// A site's votes are handled in order by one handler of a trigger.
//
// # Delivery and counters
//
// Delivery is at least once: a vote is idempotent, a start is idempotent
// through its workflow ID, but a signal whose ack was lost (NATS restart at
// that instant) is sent again; Autoscale treats a sample as the node's
// latest load, so a repeated sample changes nothing. Stats counts processed,
// started (failovers), signalled, deduplicated, recorded, ignored, rejected
// and retried events and the votes recorded, stale votes and quorum waits;
// they are logged every StatsInterval when they changed, and when the
// trigger stops.
package triggers
