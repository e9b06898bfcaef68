// Package db holds mdc's database activities: they read, fence, promote and
// repoint the MariaDB (or MySQL-compatible) GTID primary/replica pair of the
// platform's sites over SQL, as the admin account of each site.
//
// The admin account needs exactly lab/mariadb.AdminPrivileges (REPLICA
// MONITOR, BINLOG MONITOR, REPLICATION SLAVE ADMIN, RELOAD, READ_ONLY ADMIN,
// CONNECTION ADMIN, PROCESS): no SUPER and no rights on the app's tables, so
// the activities can stop the app (read_only stops every account without
// SUPER) but never read or change its data.
//
// How the workflows use it (FailoverSite, planned switchover uk -> us):
//
//	st   := ReplicationStatus{Site: "uk"}                 // GTIDBinlogPos of the old primary
//	        Fence{Site: "uk", KillSessions: true, AppUser: "mdc_app"}
//	        WaitForGTID{Site: "us", GTID: st.GTIDBinlogPos, Timeout: 30s}
//	        Promote{Site: "us", MaxLag: 0}                // caught up: Lag 0
//	        Repoint{Site: "uk", PrimarySite: "us"}        // the old primary replicates
//
// Disaster (uk lost): Fence{Site: "uk"} fails with Unavailable, so the
// workflow records uk as unfenced and fences its traffic instead; then
// Promote{Site: "us", MaxLag: policy RPO, PrimaryGTID: the last GTIDBinlogPos
// it saw at uk} either refuses with ReplicaLagTooHigh (nothing changed) or
// promotes and returns the measured lag, which the workflow records as RPO.
//
// # How Promote measures lag
//
// The admin account cannot read the app's tables, and neither SHOW BINLOG
// EVENTS nor SHOW RELAYLOG EVENTS show event times, so the age of the data a
// promotion would lose is measured from replication state only. The lag is
// the RPO: what the new primary will lack, not how far behind it applies.
// Promote first works out which primary transactions the replica would lack
// after applying its relay log (a running SQL thread is drained before
// promotion, up to DefaultDrainTimeout or the activity's deadline, else a
// retryable Timeout; a stopped one is not restarted, because an operator
// may have stopped it before a bad event). The primary's position is its
// live @@gtid_binlog_pos when the site at Master_Host answers, else
// PrimaryGTID merged with what the replica received (Gtid_IO_Pos), else,
// while the IO thread is connected, Gtid_IO_Pos. The result's LagSource
// says which measure applied:
//
//   - caught-up: nothing is missing (GTID comparison), lag 0. A replica that
//     applies slowly but has received everything is caught-up: draining
//     costs time (RTO), not data.
//   - seconds-behind-master: transactions are missing and the SQL thread is
//     busy applying: Seconds_Behind_Master, the age of the event it is on.
//   - idle-time: transactions are missing (or cannot be counted: the primary
//     is unreachable and no PrimaryGTID was given) and the SQL thread has
//     applied all it received: the time since it last applied an event (the
//     Slave_SQL thread's TIME_MS in the processlist, which restarts when it
//     goes idle). For a primary that kept writing this is the age of the
//     first lost transaction, give or take the replication delay; for one
//     that was idle it overestimates, which errs towards refusing.
//   - unknown: transactions are missing and the SQL thread is stopped, so no
//     clock is available: LagSeconds is -1 and Promote refuses unless Force
//     (or MaxLag is 0).
//   - not-replicating: the server has no replication configured (an
//     interrupted promotion, a restarted fenced primary): lag 0 unless
//     PrimaryGTID shows missing transactions, which makes it unknown.
//
// MissingTransactions counts the missing GTIDs by sequence number (exact
// under gtid_strict_mode), or is -1 when they cannot be counted.
package db
