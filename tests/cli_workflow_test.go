package tests

import (
	"encoding/json"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"
)

// The CLI starts a workflow against a running stack, follows it to the end
// and reports it as JSON; status finds it afterwards.
func TestCLIStartsAndFollowsAWorkflow(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the lab")
	}
	st := startStack(t, 79)
	env := append(os.Environ(), "MDC_TEMPORAL_ADDRESS="+st.Temporal.Address, "MDC_PLATFORM_FILE="+st.Lab.PlatformPath())
	mdc := func(args ...string) (string, int) {
		cmd := exec.Command(mdcBinary(t), args...)
		cmd.Env = env
		out, err := cmd.Output()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
			out = append(out, ee.Stderr...)
		} else {
			require.NoError(t, err)
		}
		return string(out), code
	}

	out, code := mdc("dns-cutover", "us", "--mode", "disaster", "--follow", "--json")
	require.Equal(t, 0, code, out)
	var doc struct {
		WorkflowID string `json:"workflow_id"`
		Result     struct{ Mode string }
		Error      string
	}
	require.NoError(t, json.Unmarshal([]byte(out), &doc), out)
	require.Equal(t, "disaster", doc.Result.Mode)
	require.Empty(t, doc.Error)

	out, code = mdc("status", doc.WorkflowID, "--json")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, `"status":"Completed"`)
	require.Contains(t, out, `"Name":"verify"`)

	out, code = mdc("status", "no-such-workflow")
	require.Equal(t, 1, code)
	require.Contains(t, out, "no-such-workflow")

	out, code = mdc("dns-cutover", "mars")
	require.Equal(t, 2, code)
	require.Contains(t, out, `unknown site "mars"`)
}

// mdc scale starts Autoscale if needed, applies a manual scale within the
// policy's bounds, refuses one outside them, and shows the state.
func TestCLIScale(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the lab")
	}
	st := startStack(t, 75)
	env := append(os.Environ(), "MDC_TEMPORAL_ADDRESS="+st.Temporal.Address, "MDC_PLATFORM_FILE="+st.Lab.PlatformPath())
	mdc := func(args ...string) (string, int) {
		cmd := exec.Command(mdcBinary(t), args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		}
		require.NoError(t, err)
		return string(out), 0
	}
	out, code := mdc("scale", "us", "--replicas", "3")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "web at us: 2 -> 3 replicas, added")

	out, code = mdc("scale", "us", "--replicas", "99")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "99")

	out, code = mdc("scale", "us")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "web at us: 3 replicas (2 base, 1 extra)")

	out, code = mdc("scale", "mars", "--replicas", "2")
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "mars")
}
