package cli

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/embedded"
)

// Every way to start a monitor wrongly ends at once with an error that
// says what to change, and a non-zero exit.
func TestMonitorRefusesBadInput(t *testing.T) {
	example, err := filepath.Abs(filepath.Join("..", "..", "platform", "testdata", "example.yaml"))
	require.NoError(t, err)
	t.Setenv("MDC_PLATFORM_FILE", example)
	t.Setenv("MDC_SITE", "")
	port, err := embedded.FreePort("127.0.0.1")
	require.NoError(t, err)
	nowhere := "nats://127.0.0.1:" + strconv.Itoa(port)
	t.Setenv("MDC_NATS_URL", nowhere)

	code, _, errOut := run(t, "monitor")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "name the site this monitor runs at with --site (or MDC_SITE), or run the witness with --witness")

	code, _, errOut = run(t, "monitor", "--site", "uk", "--witness")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "--site uk and --witness: a monitor is one observer")

	code, _, errOut = run(t, "monitor", "--site", "fr")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, `--site "fr": not a site of `+example+", which has uk, us")

	code, _, errOut = run(t, "monitor", "--site", "uk", "--poll-interval", "0s")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "--poll-interval 0s: expected a positive duration")

	// The site's own secrets are required, and named.
	code, _, errOut = run(t, "monitor", "--site", "uk")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "monitor for site uk needs the site's vCenter credentials")
	require.Contains(t, errOut, "MDC_UK_VC_USERNAME")

	// The witness needs no secret, but it needs NATS.
	code, _, errOut = run(t, "monitor", "--witness")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "connect to NATS at "+nowhere)
	require.Contains(t, errOut, "MDC_NATS_URL")

	// MDC_SITE is the default site.
	t.Setenv("MDC_SITE", "fr")
	code, _, errOut = run(t, "monitor")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, `--site "fr"`)

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	b, err := os.ReadFile(example)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(bad, []byte(strings.Replace(string(b), "misses:", "misses: many\n  xmisses:", 1)), 0o600))
	t.Setenv("MDC_PLATFORM_FILE", bad)
	code, _, errOut = run(t, "monitor", "--witness")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "bad.yaml:")
	require.Contains(t, errOut, "failover.misses")
}
