package platform

import (
	"errors"
	"fmt"
)

// Env looks up an environment variable; callers pass os.LookupEnv, tests a
// map. Only the process entry point should read the real environment.
type Env func(name string) (value string, ok bool)

// ResolveSecret returns the value of the environment variable envName, which
// the platform field at path field names. Errors say which field named which
// variable and never contain the value.
func ResolveSecret(field, envName string, env Env) (string, error) {
	if envName == "" {
		return "", fmt.Errorf("%s is empty; name the environment variable that holds the secret", field)
	}
	v, ok := env(envName)
	if !ok {
		return "", fmt.Errorf("%s names %s, which is not set in mdc's environment", field, envName)
	}
	if v == "" {
		return "", fmt.Errorf("%s names %s, which is set but empty in mdc's environment", field, envName)
	}
	return v, nil
}

// VCenterCredentials resolves the user name and password for a site's vCenter.
func (p *Platform) VCenterCredentials(site string, env Env) (username, password string, err error) {
	i, err := p.siteIndex(site)
	if err != nil {
		return "", "", err
	}
	vc := p.Sites[i].VCenter
	at := fmt.Sprintf("sites[%d].vcenter.", i)
	username, uerr := ResolveSecret(at+"username_env", vc.UsernameEnv, env)
	password, perr := ResolveSecret(at+"password_env", vc.PasswordEnv, env)
	if err := errors.Join(uerr, perr); err != nil {
		return "", "", err
	}
	return username, password, nil
}

// DNSAPIKey resolves the API key of a site's PowerDNS server (by index).
func (p *Platform) DNSAPIKey(site string, server int, env Env) (string, error) {
	i, err := p.siteIndex(site)
	if err != nil {
		return "", err
	}
	servers := p.Sites[i].DNS.Servers
	if server < 0 || server >= len(servers) {
		return "", fmt.Errorf("site %q has %d DNS servers; there is no server %d", site, len(servers), server)
	}
	return ResolveSecret(fmt.Sprintf("sites[%d].dns.servers[%d].api_key_env", i, server), servers[server].APIKeyEnv, env)
}

// DatabaseDSN resolves the admin DSN of a site's database.
func (p *Platform) DatabaseDSN(site string, env Env) (string, error) {
	i, err := p.siteIndex(site)
	if err != nil {
		return "", err
	}
	return ResolveSecret(fmt.Sprintf("sites[%d].database.dsn_env", i), p.Sites[i].Database.DSNEnv, env)
}

// ReplicationCredentials resolves the account a site's database uses to
// replicate from a primary.
func (p *Platform) ReplicationCredentials(site string, env Env) (user, password string, err error) {
	i, err := p.siteIndex(site)
	if err != nil {
		return "", "", err
	}
	db := p.Sites[i].Database
	at := fmt.Sprintf("sites[%d].database.", i)
	user, uerr := ResolveSecret(at+"replication_user_env", db.ReplicationUserEnv, env)
	password, perr := ResolveSecret(at+"replication_password_env", db.ReplicationPasswordEnv, env)
	if err := errors.Join(uerr, perr); err != nil {
		return "", "", err
	}
	return user, password, nil
}

// DefaultSNMPCommunity is the community used when a site names no
// community_env: the conventional read-only one.
const DefaultSNMPCommunity = "public"

// SNMPCommunity resolves a site's SNMP community, DefaultSNMPCommunity when
// the site names no variable.
func (p *Platform) SNMPCommunity(site string, env Env) (string, error) {
	i, err := p.siteIndex(site)
	if err != nil {
		return "", err
	}
	if p.Sites[i].SNMP.CommunityEnv == "" {
		return DefaultSNMPCommunity, nil
	}
	return ResolveSecret(fmt.Sprintf("sites[%d].snmp.community_env", i), p.Sites[i].SNMP.CommunityEnv, env)
}

// CheckSecrets verifies that every environment variable the given sites (all
// sites when none are given) name is set and non-empty, reporting all that
// are missing at once; a worker calls it at start-up to fail before its
// first activity does.
func (p *Platform) CheckSecrets(env Env, sites ...string) error {
	if len(sites) == 0 {
		sites = p.SiteNames()
	}
	var errs []error
	for _, name := range sites {
		i, err := p.siteIndex(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s := &p.Sites[i]
		at := fmt.Sprintf("sites[%d].", i)
		refs := [][2]string{
			{at + "vcenter.username_env", s.VCenter.UsernameEnv},
			{at + "vcenter.password_env", s.VCenter.PasswordEnv},
			{at + "database.dsn_env", s.Database.DSNEnv},
		}
		for j, d := range s.DNS.Servers {
			refs = append(refs, [2]string{fmt.Sprintf("%sdns.servers[%d].api_key_env", at, j), d.APIKeyEnv})
		}
		optional := [][2]string{
			{at + "database.replication_user_env", s.Database.ReplicationUserEnv},
			{at + "database.replication_password_env", s.Database.ReplicationPasswordEnv},
			{at + "snmp.community_env", s.SNMP.CommunityEnv},
		}
		for _, r := range optional {
			if r[1] != "" {
				refs = append(refs, r)
			}
		}
		for _, r := range refs {
			if _, err := ResolveSecret(r[0], r[1], env); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
