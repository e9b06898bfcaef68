package mariadb

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"
)

func TestDSNHasTimeoutsAndRoundTrips(t *testing.T) {
	pw := `p@ss:w/o'rd\x`
	c, err := mysql.ParseDSN(DSN("app", pw, "127.41.0.1:3306", "mdc_app"))
	require.NoError(t, err)
	require.Equal(t, "app", c.User)
	require.Equal(t, pw, c.Passwd)
	require.Equal(t, "tcp", c.Net)
	require.Equal(t, "127.41.0.1:3306", c.Addr)
	require.Equal(t, "mdc_app", c.DBName)
	require.Equal(t, 2*time.Second, c.Timeout)
	require.Equal(t, 5*time.Second, c.ReadTimeout)
	require.Equal(t, 5*time.Second, c.WriteTimeout)
	require.True(t, c.ParseTime)
}

func TestRenderConfigIsSelfContained(t *testing.T) {
	o := testOptions("/x", "127.41.0.1:3306", 7)
	cnf := renderConfig(o, layout("/x"))
	for _, want := range []string{
		"[mariadbd]", "datadir=/x/data", "socket=/x/mariadbd.sock", "bind-address=127.41.0.1",
		"port=3306", "server-id=7", "log-bin=binlog", "log-slave-updates=ON", "binlog-format=ROW",
		"gtid-strict-mode=ON", "read-only=ON", "innodb-buffer-pool-size=32M",
		"performance-schema=OFF", "skip-name-resolve", "innodb-use-native-aio=0",
	} {
		require.Contains(t, strings.Split(cnf, "\n"), want)
	}
	require.NotContains(t, cnf, "Secret", "no password belongs in my.cnf")
}

func TestValidateNamesEachProblemWithoutPasswords(t *testing.T) {
	o := testOptions("", "localhost:3306", 0)
	o.Database = "mdc-app"
	o.Users.AppUser = o.Users.AdminUser
	o.Users.ReplPassword = ""
	err := o.validate()
	require.Error(t, err)
	for _, want := range []string{"Dir is empty", "literal IP", "ServerID", `Database "mdc-app"`, `AppUser "mdc_admin" is also`, "ReplUser's password: is empty"} {
		require.ErrorContains(t, err, want)
	}
	require.NotContains(t, err.Error(), o.Users.AdminPassword)
	require.NoError(t, testOptions("/x", "127.41.0.1:3306", 1).validate())
}

func TestStartRejectsOverlongSocketPath(t *testing.T) {
	o := testOptions("/"+strings.Repeat("d", 120), "127.41.0.1:3306", 1)
	_, err := Start(context.Background(), o)
	require.ErrorContains(t, err, "use a shorter Dir")
}

func TestQuoteString(t *testing.T) {
	require.Equal(t, `'it\'s a \\ test'`, quoteString(`it's a \ test`))
	require.Equal(t, "`a``b`", quoteIdent("a`b"))
}

func TestRedactKeepsErrorNumber(t *testing.T) {
	err := redact(&mysql.MySQLError{Number: 1064, Message: "near 'hunter2' at line 1"}, "hunter2")
	var me *mysql.MySQLError
	require.ErrorAs(t, err, &me)
	require.Equal(t, uint16(1064), me.Number)
	require.NotContains(t, err.Error(), "hunter2")
	require.NotContains(t, redact(errors.New("x hunter2"), "hunter2").Error(), "hunter2")
	plain := errors.New("no secret here")
	require.Same(t, plain, redact(plain, "hunter2"))
}

// TestStartFailureShowsServerLog: a port that is taken makes mariadbd exit,
// and Start says why instead of timing out, even though something answers
// on Addr.
func TestStartFailureShowsServerLog(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real mariadbd")
	}
	addr := "127.41.0.9:3306"
	l, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err = Start(ctx, testOptions(filepath.Join(t.TempDir(), "db"), addr, 9))
	// The listener above accepts TCP, so only the socket check sees the exit.
	require.ErrorContains(t, err, "mariadb "+addr+" exited while starting")
	require.ErrorContains(t, err, "Address already in use")
}
