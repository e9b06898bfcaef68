package haproxy

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/haproxyapi"
)

func TestParseShowProc(t *testing.T) {
	out := `#<PID>          <type>          <reloads>       <uptime>        <version>
11319           master          2 [failed: 1]   0d00h00m04s     2.6.12-1+deb12u4
# workers
11429           worker          0               0d00h00m01s     2.6.12-1+deb12u4
11322           worker          1               0d00h00m04s     2.6.12-1+deb12u4
# programs
`
	pi, err := parseShowProc(out)
	require.NoError(t, err)
	require.Equal(t, procInfo{failedReloads: 1, worker: 11429}, pi)

	_, err = parseShowProc("Unknown command.\n")
	require.ErrorContains(t, err, "no master line")
}

func TestValidate(t *testing.T) {
	o := testOptions("/tmp/x", Server{Name: "n1", Addr: "127.31.0.10:8080"})
	require.NoError(t, o.validate())

	o = Options{Backend: "be web", HealthPath: "healthz", RuntimeAPI: "127.0.0.1", Servers: []Server{{Name: "a", Addr: "1.2.3.4:80"}, {Name: "a", Addr: "x"}}}
	err := o.validate()
	require.Error(t, err)
	for _, want := range []string{"Dir is empty", "RuntimeAPI \"127.0.0.1\"", "Frontend \"\"", "Backend \"be web\"", "HealthPath \"healthz\"", "\"a\" is used twice", "server a address \"x\""} {
		require.ErrorContains(t, err, want)
	}
}

func TestConfigFiles(t *testing.T) {
	o := testOptions("/srv/lab/uk", Server{Name: "n1", Addr: "127.31.0.10:8080"})
	f := o.configFiles()
	require.Contains(t, f["00-global.cfg"], "stats socket ipv4@127.31.0.1:9999 level admin expose-fd listeners")
	require.Contains(t, f["00-global.cfg"], "stats socket /srv/lab/uk/admin.sock")
	require.Contains(t, f["10-frontend.cfg"], "bind 127.31.0.2:8080")
	require.Contains(t, f["10-frontend.cfg"], "default_backend be_web")
	be := f["20-backend-be_web.cfg"]
	require.Contains(t, be, "option httpchk GET /healthz")
	require.Contains(t, be, "server n1 127.31.0.10:8080 check inter 500ms fall 2 rise 1\n")
	// The file mdc's activities rewrite parses back to the same servers.
	parsed, err := haproxyapi.ParseBackendFile("be_web", be)
	require.NoError(t, err)
	require.Equal(t, be, parsed.Render())
}
