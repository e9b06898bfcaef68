package platform

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func mapEnv(m map[string]string) Env {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

func TestResolveSecret(t *testing.T) {
	env := mapEnv(map[string]string{"MDC_UK_VC_PASSWORD": "hunter2", "EMPTY": ""})
	v, err := ResolveSecret("sites[0].vcenter.password_env", "MDC_UK_VC_PASSWORD", env)
	require.NoError(t, err)
	require.Equal(t, "hunter2", v)

	_, err = ResolveSecret("sites[0].vcenter.password_env", "MDC_US_VC_PASSWORD", env)
	require.EqualError(t, err, "sites[0].vcenter.password_env names MDC_US_VC_PASSWORD, which is not set in mdc's environment")
	_, err = ResolveSecret("sites[0].vcenter.password_env", "EMPTY", env)
	require.EqualError(t, err, "sites[0].vcenter.password_env names EMPTY, which is set but empty in mdc's environment")
	_, err = ResolveSecret("sites[0].snmp.community_env", "", env)
	require.EqualError(t, err, "sites[0].snmp.community_env is empty; name the environment variable that holds the secret")
}

func TestSiteSecrets(t *testing.T) {
	p, err := Load("testdata/example.yaml")
	require.NoError(t, err)
	env := mapEnv(map[string]string{
		"MDC_UK_VC_USERNAME": "admin", "MDC_UK_VC_PASSWORD": "hunter2",
		"MDC_UK_PDNS_API_KEY": "k3y", "MDC_UK_DB_DSN": "root:pw@tcp(127.1.0.1:3306)/",
		"MDC_REPL_USER": "repl", "MDC_REPL_PASSWORD": "replpw", "MDC_SNMP_COMMUNITY": "c0mm",
	})

	user, pass, err := p.VCenterCredentials("uk", env)
	require.NoError(t, err)
	require.Equal(t, []string{"admin", "hunter2"}, []string{user, pass})
	key, err := p.DNSAPIKey("uk", 0, env)
	require.NoError(t, err)
	require.Equal(t, "k3y", key)
	dsn, err := p.DatabaseDSN("uk", env)
	require.NoError(t, err)
	require.Equal(t, "root:pw@tcp(127.1.0.1:3306)/", dsn)
	user, pass, err = p.ReplicationCredentials("uk", env)
	require.NoError(t, err)
	require.Equal(t, []string{"repl", "replpw"}, []string{user, pass})
	comm, err := p.SNMPCommunity("uk", env)
	require.NoError(t, err)
	require.Equal(t, "c0mm", comm)
	require.NoError(t, p.CheckSecrets(env, "uk"))

	_, _, err = p.VCenterCredentials("us", env)
	require.EqualError(t, err, "sites[1].vcenter.username_env names MDC_US_VC_USERNAME, which is not set in mdc's environment\n"+
		"sites[1].vcenter.password_env names MDC_US_VC_PASSWORD, which is not set in mdc's environment")
	_, err = p.DNSAPIKey("uk", 1, env)
	require.EqualError(t, err, `site "uk" has 1 DNS servers; there is no server 1`)
	_, err = p.DatabaseDSN("fr", env)
	require.EqualError(t, err, `unknown site "fr"; defined sites: uk, us`)

	err = p.CheckSecrets(env)
	require.EqualError(t, err, "sites[1].vcenter.username_env names MDC_US_VC_USERNAME, which is not set in mdc's environment\n"+
		"sites[1].vcenter.password_env names MDC_US_VC_PASSWORD, which is not set in mdc's environment\n"+
		"sites[1].database.dsn_env names MDC_US_DB_DSN, which is not set in mdc's environment\n"+
		"sites[1].dns.servers[0].api_key_env names MDC_US_PDNS_API_KEY, which is not set in mdc's environment")
	require.NotContains(t, err.Error(), "hunter2")

	p.Sites[0].SNMP.CommunityEnv = ""
	comm, err = p.SNMPCommunity("uk", env)
	require.NoError(t, err)
	require.Equal(t, DefaultSNMPCommunity, comm)
}
