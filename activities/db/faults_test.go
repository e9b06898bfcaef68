package db

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/apperrors"
	"github.com/microdc/mdc/lab/mariadb"
)

// muteServer accepts TCP connections at muteAddr and never answers, like a
// hung server; it closes when the test ends.
func muteServer(t *testing.T) {
	t.Helper()
	l, err := net.Listen("tcp", muteAddr)
	require.NoError(t, err)
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
}

// TestFaults covers bad input, refused credentials, unreachable and hung
// servers and unsafe requests, each with its typed error and no change.
func TestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two real mariadbd")
	}
	pr := startPair(t)
	muteServer(t)
	ctx := context.Background()
	wrong := siteConfig(replicaAddr)
	wrong.DSN = mariadb.DSN(users.AdminUser, "wrong-Secret-pw", replicaAddr, "")
	wrongRepl := siteConfig(replicaAddr)
	wrongRepl.ReplicationPassword = "wrong-Secret-repl"
	// The hung server's DSN sets 1s timeouts: the activities keep a DSN's own.
	mute := siteConfig(muteAddr)
	mc := mysql.NewConfig()
	mc.User, mc.Passwd, mc.Net, mc.Addr = users.AdminUser, users.AdminPassword, "tcp", muteAddr
	mc.Timeout, mc.ReadTimeout, mc.WriteTimeout = time.Second, time.Second, time.Second
	mute.DSN = mc.FormatDSN()
	acts := New(map[string]SiteConfig{
		"uk": siteConfig(primaryAddr), "us": siteConfig(replicaAddr),
		"badpw": wrong, "badrepl": wrongRepl,
		"dead": siteConfig(deadAddr), "mute": mute,
		"garbled": {Address: "127.43.0.7:3306", DSN: "mdc_admin:Secret@tcp(127.43.0.7:3306/"},
		"noport":  {Address: "127.43.0.7", DSN: siteConfig(primaryAddr).DSN},
	})
	t.Cleanup(func() { Close(acts) })
	ukBefore, usBefore := status(t, acts, "uk"), status(t, acts, "us")
	requireNothingChanged := func(t *testing.T) {
		t.Helper()
		uk, us := status(t, acts, "uk"), status(t, acts, "us")
		require.Equal(t, ukBefore.Role, uk.Role)
		require.Equal(t, ukBefore.ReadOnly, uk.ReadOnly)
		require.Equal(t, ukBefore.GTIDBinlogPos, uk.GTIDBinlogPos)
		require.Equal(t, usBefore.Role, us.Role)
		require.Equal(t, usBefore.ReadOnly, us.ReadOnly)
		require.True(t, us.IORunning && us.SQLRunning)
	}

	// Every operation, with a site given by name.
	ops := map[string]func(site string) error{
		"ReplicationStatus": func(s string) error {
			_, err := acts.ReplicationStatus(ctx, ReplicationStatusInput{Site: s})
			return err
		},
		"WriteCheck": func(s string) error { _, err := acts.WriteCheck(ctx, WriteCheckInput{Site: s}); return err },
		"WaitForGTID": func(s string) error {
			_, err := acts.WaitForGTID(ctx, WaitForGTIDInput{Site: s, GTID: "0-1-1", Timeout: time.Second})
			return err
		},
		"Fence": func(s string) error {
			_, err := acts.Fence(ctx, FenceInput{Site: s, KillSessions: true, AppUser: users.AppUser})
			return err
		},
		"Promote": func(s string) error {
			_, err := acts.Promote(ctx, PromoteInput{Site: s, MaxLag: time.Second})
			return err
		},
		"Repoint": func(s string) error {
			_, err := acts.Repoint(ctx, RepointInput{Site: s, PrimarySite: "uk"})
			return err
		},
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			err := op("mars")
			requireAppErr(t, err, apperrors.TypeBadInput)
			require.ErrorContains(t, err, `unknown site "mars": configured sites are badpw, badrepl, dead, garbled, mute, noport, uk, us`)

			for _, bad := range []string{"garbled", "noport"} {
				err = op(bad)
				requireAppErr(t, err, apperrors.TypeBadInput)
				require.ErrorContains(t, err, "fix it in the platform file")
			}

			err = op("badpw")
			requireAppErr(t, err, apperrors.TypeAuth)
			require.ErrorContains(t, err, "rejected the admin user \"mdc_admin\"")

			start := time.Now()
			requireAppErr(t, op("dead"), apperrors.TypeUnavailable)
			require.Less(t, time.Since(start), 3*time.Second, "nothing listens: fail at once")

			start = time.Now()
			requireAppErr(t, op("mute"), apperrors.TypeUnavailable)
			took := time.Since(start)
			require.Less(t, took, 4*time.Second, "a hung server fails within the client timeouts")
			t.Logf("TIMING %s against a hung server: Unavailable after %v", name, took.Round(time.Millisecond))
			requireNothingChanged(t)
		})
	}

	t.Run("malformed input", func(t *testing.T) {
		for _, g := range []string{"abc", "0-1", "0-1-x", "0-1-2,0-1-3", "-1-2-3", ""} {
			_, err := acts.WaitForGTID(ctx, WaitForGTIDInput{Site: "us", GTID: g})
			requireAppErr(t, err, apperrors.TypeBadInput, "GTID %q", g)
		}
		_, err := acts.WaitForGTID(ctx, WaitForGTIDInput{Site: "us", GTID: "0-1-1", Timeout: -time.Second})
		requireAppErr(t, err, apperrors.TypeBadInput)
		_, err = acts.Promote(ctx, PromoteInput{Site: "us", PrimaryGTID: "abc"})
		requireAppErr(t, err, apperrors.TypeBadInput)
		require.ErrorContains(t, err, `"abc" is not a MariaDB GTID`)
		_, err = acts.Promote(ctx, PromoteInput{Site: "us", MaxLag: -time.Second})
		requireAppErr(t, err, apperrors.TypeBadInput)
		_, err = acts.Repoint(ctx, RepointInput{Site: "us", PrimarySite: "us"})
		requireAppErr(t, err, apperrors.TypeBadInput)
		_, err = acts.Repoint(ctx, RepointInput{Site: "us", PrimarySite: "mars"})
		requireAppErr(t, err, apperrors.TypeBadInput)
		for _, u := range []string{"", "mdc app", "x'y", users.AdminUser, "root"} {
			_, err = acts.Fence(ctx, FenceInput{Site: "uk", KillSessions: true, AppUser: u})
			requireAppErr(t, err, apperrors.TypeBadInput, "AppUser %q", u)
		}
		requireNothingChanged(t)
	})

	t.Run("unsafe requests", func(t *testing.T) {
		// Promoting the replica while the primary takes writes splits the data.
		_, err := acts.Promote(ctx, PromoteInput{Site: "us", Force: true})
		requireAppErr(t, err, apperrors.TypeConflict)
		require.ErrorContains(t, err, "site uk (127.43.0.1:3306) is writable")
		// The primary following its own replica would be a ring.
		_, err = acts.Repoint(ctx, RepointInput{Site: "uk", PrimarySite: "us"})
		requireAppErr(t, err, apperrors.TypeConflict)
		require.ErrorContains(t, err, "itself replicates from")
		requireNothingChanged(t)
	})

	t.Run("wrong replication password", func(t *testing.T) {
		// Already replicating from uk: Repoint has nothing to do, whatever
		// the configured password. Stopped, it must log in, and is refused.
		r, err := acts.Repoint(ctx, RepointInput{Site: "badrepl", PrimarySite: "uk"})
		require.NoError(t, err)
		require.False(t, r.Changed)
		usRoot := rootDB(t, pr.us)
		mustExec(t, usRoot, "STOP SLAVE")
		_, err = acts.Repoint(ctx, RepointInput{Site: "badrepl", PrimarySite: "uk"})
		requireAppErr(t, err, apperrors.TypeAuth)
		require.ErrorContains(t, err, "refused replication user \"mdc_repl\"")
		require.ErrorContains(t, err, "nothing changed")
		require.NotContains(t, err.Error(), "wrong-Secret-repl")
		st := requireUnchangedReplica(t, acts, "us", "uk")
		require.Equal(t, "No", st.IOState, "refused credentials leave replication as it was")
		mustExec(t, usRoot, "START SLAVE")
		eventually(t, 10*time.Second, "us replicates again", func() bool {
			st := status(t, acts, "us")
			return st.IORunning && st.SQLRunning
		})
		requireNothingChanged(t)
	})

	t.Run("wait times out", func(t *testing.T) {
		start := time.Now()
		_, err := acts.WaitForGTID(ctx, WaitForGTIDInput{Site: "us", GTID: bumpGTID(t, ukBefore.GTIDBinlogPos, 1000), Timeout: 1500 * time.Millisecond})
		ae := requireAppErr(t, err, apperrors.TypeTimeout)
		require.False(t, ae.NonRetryable())
		took := time.Since(start)
		require.GreaterOrEqual(t, took, 1500*time.Millisecond)
		require.Less(t, took, 4*time.Second)
		require.ErrorContains(t, err, "its gtid_slave_pos is \""+ukBefore.GTIDBinlogPos+"\" (missing 1000 transactions)")
		require.ErrorContains(t, err, "Slave_IO_Running=Yes")
	})

	t.Run("server stopped", func(t *testing.T) {
		require.NoError(t, pr.us.Stop())
		start := time.Now()
		for name, op := range ops {
			if name == "Repoint" {
				continue // repoints us itself; below
			}
			requireAppErr(t, op("us"), apperrors.TypeUnavailable, name)
		}
		_, err := acts.Repoint(ctx, RepointInput{Site: "us", PrimarySite: "uk"})
		requireAppErr(t, err, apperrors.TypeUnavailable)
		_, err = acts.Repoint(ctx, RepointInput{Site: "uk", PrimarySite: "us"})
		requireAppErr(t, err, apperrors.TypeUnavailable)
		require.Less(t, time.Since(start), 5*time.Second)
	})
}
