package db

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/apperrors"
)

func TestSiteConfigHidesSecrets(t *testing.T) {
	c := SiteConfig{Address: "127.1.0.1:3306", DSN: "mdc_admin:dsn-Secret@tcp(127.1.0.1:3306)/", ReplicationUser: "mdc_repl", ReplicationPassword: "repl-Secret"}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(format, c)
		require.NotContains(t, out, "Secret", format)
		require.Contains(t, out, "127.1.0.1:3306", format)
	}
	out := fmt.Sprintf("%v", map[string]SiteConfig{"uk": c})
	require.NotContains(t, out, "Secret")
}

func TestNewRejectsBadConfigWithoutLeaking(t *testing.T) {
	a := New(map[string]SiteConfig{
		"unterminated": {Address: "127.1.0.1:3306", DSN: "mdc_admin:pw-Secret@tcp(127.1.0.1:3306/"},
		"badparam":     {Address: "127.1.0.1:3306", DSN: "mdc_admin:pw-Secret@tcp(127.1.0.1:3306)/?parseTime=pw-Secret"},
		"noaddr":       {Address: "", DSN: "mdc_admin:pw-Secret@tcp(127.1.0.1:3306)/"},
		"badport":      {Address: "127.1.0.1:99999", DSN: "mdc_admin:pw-Secret@tcp(127.1.0.1:3306)/"},
		"ok":           {Address: "[::1]:3306", DSN: "mdc_admin:pw-Secret@tcp(127.1.0.1:3306)/"},
	})
	defer Close(a)
	for _, name := range []string{"unterminated", "badparam", "noaddr", "badport"} {
		_, err := a.site(name)
		require.True(t, apperrors.Is(err, apperrors.TypeBadInput), "%s: %v", name, err)
		require.NotContains(t, err.Error(), "Secret", name)
		require.Contains(t, err.Error(), "fix it in the platform file")
	}
	s, err := a.site("ok")
	require.NoError(t, err)
	require.Equal(t, "::1", s.host)
	require.Equal(t, DefaultReadTimeout, s.read)
	require.Same(t, s, a.siteAt("0:0::1", 3306))
	require.Nil(t, a.siteAt("::1", 3307))
}

func TestFailClassifies(t *testing.T) {
	s := newSite("uk", SiteConfig{Address: "127.1.0.1:3306", DSN: "mdc_admin:pw-Secret@tcp(127.1.0.1:3306)/", ReplicationPassword: "repl-Secret"})
	defer s.pool.Close()
	cases := []struct {
		err  error
		want string
	}{
		{&mysql.MySQLError{Number: errAccessDenied, Message: "Access denied for user 'mdc_admin'@'127.0.0.1' (using password: YES)"}, apperrors.TypeAuth},
		{&mysql.MySQLError{Number: errSpecificAccessDenied, Message: "you need the READ_ONLY ADMIN privilege"}, apperrors.TypeAuth},
		{&mysql.MySQLError{Number: errTooManyConnections, Message: "Too many connections"}, apperrors.TypeUnavailable},
		{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, apperrors.TypeUnavailable},
		{mysql.ErrInvalidConn, apperrors.TypeUnavailable},
		{context.DeadlineExceeded, apperrors.TypeUnavailable},
		{&mysql.MySQLError{Number: 1064, Message: "syntax error near 'repl-Secret'"}, ""},
		{errors.New("odd"), ""},
	}
	for _, c := range cases {
		err := s.fail(c.err, "test")
		require.Equal(t, c.want, apperrors.TypeOf(err), "%v", c.err)
		require.Contains(t, err.Error(), "site uk (127.1.0.1:3306): test")
		requireNoSecretsIn(t, err)
	}
	// A redacted server error keeps its number.
	var me *mysql.MySQLError
	require.True(t, errors.As(s.fail(&mysql.MySQLError{Number: 1064, Message: "near 'repl-Secret'"}, "x"), &me))
	require.EqualValues(t, 1064, me.Number)
	require.Equal(t, "near '<redacted>'", me.Message)
}

func requireNoSecretsIn(t *testing.T, err error) {
	t.Helper()
	for e := err; e != nil; e = errors.Unwrap(e) {
		require.NotContains(t, e.Error(), "Secret")
	}
}
