// Package triggers turns platform events from NATS JetStream into Temporal
// workflow starts and signals, with deterministic workflow IDs so that an
// event delivered twice starts one workflow. The consumer, its rules and its
// dead-letter stream arrive with the monitors (see the issue tracker); until
// then operators start workflows with the mdc CLI.
package triggers
