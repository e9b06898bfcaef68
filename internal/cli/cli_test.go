package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/config"
	"github.com/microdc/mdc/embedded"
)

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cfg, err := config.Load()
	require.NoError(t, err)
	var out, errOut bytes.Buffer
	code = Execute(context.Background(), cfg, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestValidateReportsEveryErrorWithLineAndExitsNonZero(t *testing.T) {
	good := filepath.Join("..", "..", "platform", "testdata", "example.yaml")
	code, out, _ := run(t, "validate", good)
	require.Equal(t, 0, code)
	require.Contains(t, out, "ok (2 sites")

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	b, err := os.ReadFile(filepath.Join("..", "..", "platform", "testdata", "minimal.yaml"))
	require.NoError(t, err)
	text := strings.Replace(string(b), "      password_env: MDC_LAB_VC_PASSWORD", "      password: hunter2", 1)
	text = strings.Replace(text, "runtime_api: /run/haproxy/admin.sock", "runtime_api: haproxy", 1)
	require.NoError(t, os.WriteFile(bad, []byte(text), 0o600))
	code, out, errOut := run(t, "validate", good, bad)
	require.Equal(t, 1, code)
	require.Contains(t, out, "example.yaml: ok")
	require.Contains(t, errOut, "bad.yaml:7:7: sites[0].vcenter.password: inline secrets are not allowed")
	require.Contains(t, errOut, "bad.yaml:11:20: sites[0].lb.runtime_api:")
	require.Contains(t, errOut, "1 of 2 platform files invalid")
	require.NotContains(t, errOut, "hunter2")

	code, _, errOut = run(t, "validate", filepath.Join(t.TempDir(), "missing.yaml"))
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "missing.yaml")
}

func TestConfigRedactsSecrets(t *testing.T) {
	t.Setenv("MDC_NATS_USER", "mdc")
	t.Setenv("MDC_NATS_PASSWORD", "s3cret-value")
	t.Setenv("MDC_LOG_LEVEL", "debug")
	code, out, _ := run(t, "config")
	require.Equal(t, 0, code)
	require.NotContains(t, out, "s3cret-value")
	require.Regexp(t, `MDC_NATS_PASSWORD\s+<redacted>\s+environment`, out)
	require.Regexp(t, `MDC_LOG_LEVEL\s+debug\s+environment`, out)
	require.Regexp(t, `MDC_TEMPORAL_ADDRESS\s+127.0.0.1:7233\s+default`, out)
	code, out, _ = run(t, "config", "--json")
	require.Equal(t, 0, code)
	require.NotContains(t, out, "s3cret-value")
	require.Contains(t, out, `"Name": "MDC_NATS_PASSWORD"`)
}

func TestLabCommandsWithoutALabSayHowToStartOne(t *testing.T) {
	port, err := embedded.FreePort("127.0.0.1")
	require.NoError(t, err)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	code, _, errOut := run(t, "lab", "status", "--lab-addr", addr)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "no lab answering at "+addr)
	require.Contains(t, errOut, "make dev")

	code, _, errOut = run(t, "lab", "load", "uk-web-1", "lots", "--lab-addr", addr)
	require.Equal(t, 2, code)
	require.Contains(t, errOut, `load "lots" is not a number`)
}

func TestUnknownCommandAndArgs(t *testing.T) {
	code, _, errOut := run(t, "frobnicate")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, `unknown command "frobnicate"`)
	code, _, errOut = run(t, "lab", "kill-site")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "accepts 1 arg(s), received 0")
}
