// Package monitor is `mdc monitor`: it watches the platform and publishes
// what it sees as events (package events) on NATS JetStream. It decides
// nothing; the trigger and the workflows do.
//
// A Monitor is one observer: a site's monitor (observer name = the site's
// name) or the witness (observer name "witness"), which runs somewhere else
// and only watches the sites from outside. Its loops, each stopped by the
// context given to Run:
//
//   - load (site observer only): every PollInterval, SNMP laLoad of every
//     node of the site's services, polled at once (activities/snmp's
//     Poller). The nodes are the site's powered-on, non-template VMs tagged
//     with a service of the platform file and the site, with their guest IPs,
//     listed from vCenter every DiscoverInterval: a copy ScaleOut adds is
//     tagged like the others and is found, one ScaleIn powered off drops out.
//     node.load is published when a node's band changes (below in_load,
//     between, at or above out_load) and otherwise every Heartbeat per node.
//     Entering a band is published at once (Autoscale's window starts at the
//     crossing); leaving one needs the load to clear the threshold by
//     Hysteresis, so a load wavering around 2.0 is one event, not one per
//     poll. Steady state is 1/Heartbeat events per node (2 a minute with the
//     30 s default).
//   - health (site observer only): every HealthInterval, HTTP GET of each
//     node's health_path and of the site's LB frontend (subject
//     "<site>-lb"); node.health on every change and otherwise every
//     Heartbeat.
//   - heartbeats (both): every failover.detection_interval, a probe of every
//     other site (a site observer does not watch itself; the witness watches
//     all). A probe asks the LB frontend, the LB runtime API, each DNS server
//     and the database at once (activities/health ProbeSite); a heartbeat is
//     missed when NONE of them answers, the same test FailoverSite's own
//     confirmation applies, so a half-dead site never counts as down. After
//     failover.misses consecutive misses, site.down (payload: misses,
//     since = when the first missed heartbeat was due, primary_gtid = the
//     last gtid_binlog_pos sampled from the site's database while it was up
//     and writable, when its DSN is available; serving = the web nodes per
//     service counted in the site's vCenter while it answered, when its
//     vCenter credentials are available). While the site stays down
//     site.down is published again every RepublishEvery heartbeats under a
//     new ID, so that a trigger that restarted (or a vote that expired)
//     regains this observer's vote; after failover.misses consecutive
//     answers, site.up. Only this monitor's own observations ever go out
//     under its observer name: a blip seen here is one vote, never a quorum.
//   - vSphere events (site observer only): an event history collector on the
//     site's vCenter for HostDisconnectedEvent and VmPoweredOffEvent, read
//     every EventInterval: host.disconnected and vm.powered_off (subject =
//     host or VM name). The last event key seen survives reconnects, and a
//     new collector starts at the last event's time, so nothing is missed
//     or repeated across a vCenter restart; the event ID is derived from the
//     vCenter event, so a re-read event is a JetStream duplicate anyway.
//
// A dead site (its vCenter, nodes and services gone) makes the loops fail
// quietly: one warning when something stops answering, one info line when
// it answers again, debug lines in between, and reconnects with backoff.
// Events are published with the event ID as the JetStream message ID; a
// state change (band, health, site up/down) is only taken as reported once
// the stream acknowledged it, so a NATS outage delays events but loses none.
// Counters of published events by type are in Stats and logged every
// StatsInterval.
package monitor
