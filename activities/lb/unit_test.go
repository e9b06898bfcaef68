package lb

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/apperrors"
)

func TestIncludeRoundTrip(t *testing.T) {
	inc := ngInclude{Servers: []ngServer{
		{Name: "n1", Addr: "127.0.0.10:8080", State: ngUp},
		{Name: "n2", Addr: "127.0.0.11:8080", Params: []string{"max_fails=1", "weight=5"}, State: ngDrain},
		{Name: "n3", Addr: "127.0.0.12:8080", State: ngMaint},
	}}
	text := renderInclude("be_web", inc)
	require.Contains(t, text, "server 127.0.0.10:8080; # mdc name=n1 state=up\n")
	require.Contains(t, text, "server 127.0.0.11:8080 max_fails=1 weight=5 down; # mdc name=n2 state=drain\n")
	require.Contains(t, text, "server 127.0.0.12:8080 down; # mdc name=n3 state=maint\n")
	got, err := parseInclude(text)
	require.NoError(t, err)
	require.Equal(t, inc, got)
}

func TestParseIncludeHandWritten(t *testing.T) {
	// Lines written by hand are kept: named by address, `down` is maint,
	// and a comment claiming drain on a server that is up is ignored.
	got, err := parseInclude("  server 10.0.0.1:80 weight=2;\nserver 10.0.0.2:80 down;\n\nserver 10.0.0.3:80; # mdc name=x state=drain\n")
	require.NoError(t, err)
	require.Equal(t, []ngServer{
		{Name: "10.0.0.1:80", Addr: "10.0.0.1:80", Params: []string{"weight=2"}, State: ngUp},
		{Name: "10.0.0.2:80", Addr: "10.0.0.2:80", State: ngMaint},
		{Name: "x", Addr: "10.0.0.3:80", State: ngUp},
	}, got.Servers)

	for _, bad := range []string{"keepalive 16;", "server 10.0.0.1:80", "server;", "upstream x {"} {
		_, err := parseInclude(bad + "\n")
		require.ErrorContains(t, err, "line 1", bad)
	}
}

func TestParentOf(t *testing.T) {
	require.Equal(t, 812, parentOf("901 (nginx) S 812 812 812 0 -1 4194624"))
	require.Equal(t, 1, parentOf("5 (weird) name)) R 1 5 5 0"))
	require.Equal(t, -1, parentOf("garbage"))
}

func TestSwitched(t *testing.T) {
	before := []ngProc{{PID: 10}, {PID: 11, ShuttingDown: true}}
	require.False(t, switched(before, before), "no new worker")
	require.False(t, switched(before, []ngProc{{PID: 10}, {PID: 20}}), "old worker 10 still accepts")
	require.True(t, switched(before, []ngProc{{PID: 10, ShuttingDown: true}, {PID: 11, ShuttingDown: true}, {PID: 20}}))
	require.True(t, switched(before, []ngProc{{PID: 20}}))
}

func TestValidate(t *testing.T) {
	s, err := validateServer("uk", Server{Name: "uk-web-3", Addr: "127.1.0.12:8080"})
	require.NoError(t, err)
	require.Equal(t, Server{Name: "uk-web-3", Addr: "127.1.0.12:8080"}, s)
	s, err = validateServer("uk", Server{Name: "n_1.a:b", Addr: "[0:0::1]:80"})
	require.NoError(t, err)
	require.Equal(t, "[::1]:80", s.Addr, "canonical, as HAProxy reports it")
	for _, s := range []Server{
		{Name: "", Addr: "127.0.0.1:80"},
		{Name: "a b", Addr: "127.0.0.1:80"},
		{Name: "a;b", Addr: "127.0.0.1:80"},
		{Name: "a#b", Addr: "127.0.0.1:80"},
		{Name: string(make([]byte, 65)), Addr: "127.0.0.1:80"},
		{Name: "n1", Addr: "127.0.0.1"},
		{Name: "n1", Addr: "host:80"},
		{Name: "n1", Addr: "127.0.0.1:0"},
		{Name: "n1", Addr: "0.0.0.0:80"},
		{Name: "n1", Addr: "[::]:80"},
		{Name: "n1", Addr: "224.0.0.1:80"},
		{Name: "n1", Addr: "255.255.255.255:80"},
	} {
		_, err := validateServer("uk", s)
		requireType(t, err, apperrors.TypeBadInput, "%+v", s)
	}
}

func TestDrainDeadline(t *testing.T) {
	ctx := context.Background()
	end, err := drainDeadline(ctx, "uk", "n1", 0)
	require.NoError(t, err)
	require.WithinDuration(t, time.Now().Add(DefaultDrainDeadline), end, time.Second)
	_, err = drainDeadline(ctx, "uk", "n1", -time.Second)
	requireType(t, err, apperrors.TypeBadInput)
	// The activity's own deadline wins, with a margin to report Timeout.
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	end, err = drainDeadline(short, "uk", "n1", time.Hour)
	require.NoError(t, err)
	require.WithinDuration(t, time.Now().Add(800*time.Millisecond), end, 100*time.Millisecond)
}

func TestNginxDriverNeedsConfig(t *testing.T) {
	a := New(map[string]Driver{"us": NewNginx(NginxConfig{Site: "us", Upstream: "be_web", ConfigDir: t.TempDir()})})
	_, err := a.AddServer(context.Background(), AddServerInput{Site: "us", Name: "n1", Addr: "127.0.0.1:80"})
	requireType(t, err, apperrors.TypeRejected)
	require.Contains(t, err.Error(), "reload_command")
	_, err = a.ListServers(context.Background(), ListServersInput{Site: "us"})
	requireType(t, err, apperrors.TypeRejected)
}

// TestNginxDrainWithoutPidFile: with nothing to observe, the drain waits
// its whole deadline and reports unknown sessions.
func TestNginxDrainWithoutPidFile(t *testing.T) {
	dir := t.TempDir()
	inc := renderInclude("be_web", ngInclude{Servers: []ngServer{{Name: "n1", Addr: "127.0.0.1:80", State: ngUp}}})
	require.NoError(t, os.WriteFile(filepath.Join(dir, "be_web.servers"), []byte(inc), 0o644))
	d := NewNginx(NginxConfig{Site: "us", Upstream: "be_web", ConfigDir: dir, TestCommand: []string{"true"}, ReloadCommand: []string{"true"}})
	start := time.Now()
	res, err := d.Drain(context.Background(), "n1", 300*time.Millisecond)
	require.NoError(t, err)
	require.True(t, res.Changed)
	require.Equal(t, -1, res.Sessions)
	require.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)
	st, err := d.List(context.Background())
	require.NoError(t, err)
	require.Equal(t, []ServerStatus{{Name: "n1", Addr: "127.0.0.1:80", State: StateDrain, Sessions: -1, Persisted: true}}, st)
}
