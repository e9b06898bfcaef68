// Package dns holds mdc's DNS activities: PowerDNS Authoritative servers
// driven over their HTTP API (package pdnsapi), and checked with real DNS
// queries (github.com/miekg/dns).
//
// Each site has one or more authoritative servers (SiteConfig). Changes go
// to every server of the site, because each pdns in mdc has its own
// database: there is no zone transfer between them. Every change is
// idempotent: a server that already has the wanted records is not
// patched, so its SOA serial does not move, and the result says
// "unchanged".
//
// How the workflows use it:
//
//   - ProvisionSite publishes the service name with SetGeoRecord: clients
//     in each site's subnets get that site's load balancer, and with a
//     HealthCheck they get the closest healthy site.
//   - DNSCutover (planned): ReadRecord to learn the current TTL, SetTTL to
//     a short one, a durable timer of the old TTL, SetRecord (or
//     SetGeoRecord) to the new address, Verify on every authoritative
//     server, then SetTTL back to the old TTL.
//   - FailoverSite (disaster): SetRecord/SetGeoRecord on the surviving
//     site's servers with AllowUnreachable, then Verify with
//     AllowUnreachable, which proves the change on every server that still
//     answers and lists the ones that did not.
//
// Errors are apperrors types: BadInput (nothing was changed), NotFound (the
// zone or record is missing on a server), AuthFailed (a server refused its
// API key), Rejected (pdns refused the change), Unavailable (a server did
// not answer; retry) and Timeout (Verify's deadline passed; the error's
// details hold the VerifyResult).
package dns
