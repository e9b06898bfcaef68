package haproxyapi

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// labBackend is what the lab writes for a new HAProxy (lab/haproxy), the
// file the load-balancer activities rewrite.
const labBackend = `backend be_web
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
    server n1 127.1.0.10:8080 check inter 500ms fall 2 rise 1
`

func TestNewBackendFile(t *testing.T) {
	f := NewBackendFile("be_web", "/healthz", []Server{{Name: "n1", Addr: "127.1.0.10:8080"}})
	require.Equal(t, labBackend, f.Render())
	require.Equal(t, "20-backend-be_web.cfg", BackendFileName("be_web"))
	require.Equal(t, "add server be_web/n2 127.1.0.11:8080 check inter 500ms fall 2 rise 1",
		AddServerCommand("be_web", Server{Name: "n2", Addr: "127.1.0.11:8080"}))
}

func TestBackendFileEdits(t *testing.T) {
	// An operator's own lines and server keywords are kept.
	in := "# tuned by ops\nbackend be_web\n    balance roundrobin\n    server n1 127.1.0.10:8080 check weight 20\n    timeout server 30s\n"
	f, err := ParseBackendFile("be_web", in)
	require.NoError(t, err)
	require.Equal(t, []string{"# tuned by ops", "backend be_web", "    balance roundrobin", "    timeout server 30s"}, f.Lines)
	require.Equal(t, []ServerLine{{Name: "n1", Addr: "127.1.0.10:8080", Args: "check weight 20"}}, f.Servers)

	require.False(t, f.Set(Server{Name: "n1", Addr: "127.1.0.10:8080"}), "same address: no change")
	require.True(t, f.Set(Server{Name: "n1", Addr: "127.1.0.20:8080"}))
	require.True(t, f.Set(Server{Name: "n2", Addr: "127.1.0.11:8080"}))
	s, ok := f.Find("n1")
	require.True(t, ok)
	require.Equal(t, "check weight 20", s.Args, "moving a server keeps its keywords")
	require.Equal(t, "# tuned by ops\nbackend be_web\n    balance roundrobin\n    timeout server 30s\n"+
		"    server n1 127.1.0.20:8080 check weight 20\n"+
		"    server n2 127.1.0.11:8080 "+CheckArgs+"\n", f.Render())

	require.True(t, f.Delete("n1"))
	require.False(t, f.Delete("n1"))
	_, ok = f.Find("n1")
	require.False(t, ok)

	again, err := ParseBackendFile("be_web", f.Render())
	require.NoError(t, err)
	require.Equal(t, f, again, "render and parse round-trip")
}

func TestParseBackendFileErrors(t *testing.T) {
	for name, tc := range map[string]struct{ in, want string }{
		"other backend":  {"backend be_api\n    server a 1.2.3.4:80\n", "line 1: \"backend be_api\""},
		"two sections":   {labBackend + "frontend fe\n    bind :80\n", "line 6"},
		"no section":     {"    server a 1.2.3.4:80\n", "no `backend be_web` section"},
		"short server":   {"backend be_web\n    server a\n", "line 2: server line"},
		"empty":          {"", "no `backend be_web` section"},
		"global section": {"global\n" + labBackend, "line 1"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseBackendFile("be_web", tc.in)
			require.ErrorContains(t, err, tc.want)
		})
	}
}
