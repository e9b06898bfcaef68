package workers

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/microdc/mdc/platform"
)

func exampleEnv(except ...string) platform.Env {
	vals := map[string]string{
		"MDC_UK_VC_USERNAME": "u", "MDC_UK_VC_PASSWORD": "vc-secret", "MDC_UK_PDNS_API_KEY": "pdns-secret",
		"MDC_UK_DB_DSN": "mdc_admin:db-secret@tcp(127.1.0.1:3306)/", "MDC_REPL_USER": "repl", "MDC_REPL_PASSWORD": "r",
		"MDC_SNMP_COMMUNITY": "c", "MDC_US_VC_USERNAME": "u", "MDC_US_VC_PASSWORD": "p", "MDC_US_PDNS_API_KEY": "k",
		"MDC_US_DB_DSN": "mdc_admin:x@tcp(127.2.0.1:3306)/",
	}
	for _, e := range except {
		delete(vals, e)
	}
	return func(k string) (string, bool) { v, ok := vals[k]; return v, ok }
}

func examplePlatform(t *testing.T) *platform.Platform {
	p, err := platform.Parse("example.yaml", platform.Example)
	require.NoError(t, err)
	return p
}

func TestBuildDepsRegistersEveryActivityOnceWithoutNameClashes(t *testing.T) {
	d, err := BuildDeps(examplePlatform(t), exampleEnv(), []string{"uk", "us"})
	require.NoError(t, err)
	require.NotNil(t, d.DNS)
	require.NotNil(t, d.LB)
	require.NotNil(t, d.SNMP)
	require.NotNil(t, d.Health)
	require.NotNil(t, d.VSphere)
	require.NotNil(t, d.DB)
	// Activity names are method names: two structs with a method of the
	// same name would make registration panic.
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	require.NotPanics(t, func() {
		RegisterActivities(env, d)
		RegisterWorkflows(env)
	})
}

func TestBuildDepsNeedsOnlyItsOwnSitesSecrets(t *testing.T) {
	// The uk worker does not know us's passwords, and need not.
	_, err := BuildDeps(examplePlatform(t), exampleEnv("MDC_US_VC_PASSWORD", "MDC_US_DB_DSN"), []string{"uk"})
	require.NoError(t, err)
}

func TestBuildDepsNamesTheMissingVariableNotTheSecrets(t *testing.T) {
	_, err := BuildDeps(examplePlatform(t), exampleEnv("MDC_UK_PDNS_API_KEY"), []string{"uk"})
	require.Error(t, err)
	require.Contains(t, err.Error(), "MDC_UK_PDNS_API_KEY")
	for _, secret := range []string{"vc-secret", "db-secret"} {
		require.False(t, strings.Contains(err.Error(), secret), "error leaks %s: %v", secret, err)
	}
}

func TestBuildDepsRejectsAnUnknownSite(t *testing.T) {
	_, err := BuildDeps(examplePlatform(t), exampleEnv(), []string{"mars"})
	require.Error(t, err)
	require.Contains(t, err.Error(), "mars")
}
