// Package bench is mdc's scenario benchmark: `make bench` runs it through
// cmd/mdc-bench. Each scenario runs a real thing several times (the lab,
// embedded Temporal, NATS, vcsim, HAProxy, PowerDNS, MariaDB) and measures
// one or more figures; each comparison (orchestrated against direct calls to
// the same components) is measured side by side in the same process. The
// runner prints one table and writes the same figures as JSON, every figure
// a median with its min and max over the runs.
//
// The figures answer the questions an operator asks before trusting
// automatic failover: how long a site is down (RTO, by step), what
// Temporal's orchestration adds to the raw operations, how fast Autoscale
// reacts, how many events the trigger forwards, how ProvisionSite compares
// with bare govmomi calls, how long an SNMP round takes, and what mdc costs
// in memory.
package bench
