// Package triggers turns platform events from NATS JetStream into Temporal
// workflow starts and signals.
//
// A Trigger is a durable JetStream pull consumer ("mdc-trigger") on the
// MDC_EVENTS stream (see package events). Each message is decoded strictly
// and its site checked against the platform file; what can never be valid
// (malformed JSON, unknown type, subject not matching the event, unknown
// site or service, oversize) is copied to MDC_DEADLETTER with the reason in
// a header and terminated. A valid event is mapped by the rules below and
// acknowledged only after Temporal accepted the action; when Temporal does
// not answer the message is NAKed with an exponential delay (0.5 s doubling
// to MaxBackoff) and redelivered without limit, so no event is lost.
//
// Rules (in code until the platform file has a rules section):
//
//   - site.down → start FailoverSite for the site with workflow ID
//     "failover-<site>" and conflict policy USE_EXISTING: a duplicate event
//     or a flapping site folds into the running failover (counted as
//     deduplicated). The input comes from Options.FailoverInput, which the
//     wiring provides (mdc trigger uses workflows.NewFailoverSiteInput in
//     disaster mode towards another site); the workflow itself confirms the
//     failure with its observer quorum and anti-flapping block.
//   - node.load → signal-with-start Autoscale "autoscale-<service>-<site>"
//     with the "load" signal and a LoadSample{Node: subject, Load1,
//     ObservedAt}; the service is the payload's "service", or the platform
//     file's only service.
//   - site.up, node.health, host.disconnected, vm.powered_off → acked and
//     counted as recorded; no workflow acts on them yet.
//   - Messages on mdc.events.failover.> are the workflows' own outcome
//     events (activities/events); they are acked and counted as ignored.
//
// Delivery is at least once: a start is idempotent through its workflow
// ID, but a signal whose ack was lost (NATS restart at that instant) is
// sent again; Autoscale treats a sample as the node's latest load, so a
// repeated sample changes nothing.
package triggers
