package tests

import (
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"
)

// Bad process configuration is refused before any command runs, naming the
// variable and what it expects.
func TestBadEnvironmentIsRefusedWithTheVariableNamed(t *testing.T) {
	cmd := exec.Command(mdcBinary(t), "config")
	cmd.Env = append(os.Environ(), "MDC_LOG_LEVEL=loud")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 2, ee.ExitCode())
	require.Contains(t, string(out), "MDC_LOG_LEVEL")
	require.Contains(t, string(out), `"loud"`)
}
