package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// cleanEnv unsets every MDC_ variable (restoring them afterwards) so that
// the test sees only what it sets with t.Setenv.
func cleanEnv(t *testing.T) {
	t.Helper()
	for _, name := range append(Names(), "XDG_STATE_HOME") {
		t.Setenv(name, "") // registers the restore
		require.NoError(t, os.Unsetenv(name))
	}
}

func TestDefaults(t *testing.T) {
	cleanEnv(t)
	c, err := Load()
	require.NoError(t, err)
	home, _ := os.UserHomeDir()
	stateDir := stateDirFor(os.Geteuid(), "", home)
	require.Equal(t, &Config{
		TemporalAddress: "127.0.0.1:7233", TemporalNamespace: "default",
		NATSURL:  "nats://127.0.0.1:4222",
		StateDir: stateDir, PlatformFile: filepath.Join(stateDir, "lab", "platform.yaml"),
		TaskQueue: "mdc", LogLevel: "info", LogFormat: "text",
	}, c)
	for _, s := range c.Redacted() {
		require.True(t, s.Default, s.Name)
	}
}

func TestStateDirRule(t *testing.T) {
	require.Equal(t, "/var/lib/mdc", stateDirFor(0, "/xdg", "/home/ann"))
	require.Equal(t, "/xdg/mdc", stateDirFor(1000, "/xdg", "/home/ann"))
	require.Equal(t, "/home/ann/.local/state/mdc", stateDirFor(1000, "", "/home/ann"))
	require.Equal(t, "/home/ann/.local/state/mdc", stateDirFor(1000, "relative", "/home/ann"), "XDG says ignore relative paths")
	require.Equal(t, "", stateDirFor(1000, "", ""))
}

func TestOverrides(t *testing.T) {
	cleanEnv(t)
	t.Setenv("MDC_TEMPORAL_ADDRESS", "temporal.internal:7233")
	t.Setenv("MDC_TEMPORAL_NAMESPACE", "mdc-prod")
	t.Setenv("MDC_NATS_URL", "nats://10.0.0.1:4222, tls://10.0.0.2:4222")
	t.Setenv("MDC_STATE_DIR", "/srv/mdc")
	t.Setenv("MDC_SITE", "uk")
	t.Setenv("MDC_TASK_QUEUE", "mdc-test")
	t.Setenv("MDC_LOG_LEVEL", "DEBUG")
	t.Setenv("MDC_LOG_FORMAT", "json")
	c, err := Load()
	require.NoError(t, err)
	require.Equal(t, "temporal.internal:7233", c.TemporalAddress)
	require.Equal(t, "mdc-prod", c.TemporalNamespace)
	require.Equal(t, "/srv/mdc", c.StateDir)
	require.Equal(t, "/srv/mdc/lab/platform.yaml", c.PlatformFile, "platform file follows the state dir")
	require.Equal(t, "uk", c.Site)
	require.Equal(t, "mdc-test", c.TaskQueue)
	require.Equal(t, "debug", c.LogLevel, "levels are case-insensitive")
	require.Equal(t, "json", c.LogFormat)

	t.Setenv("MDC_PLATFORM_FILE", "./platform.yaml")
	c, err = Load()
	require.NoError(t, err)
	require.Equal(t, "./platform.yaml", c.PlatformFile)

	byName := map[string]Setting{}
	for _, s := range c.Redacted() {
		byName[s.Name] = s
	}
	require.False(t, byName["MDC_SITE"].Default)
	require.Equal(t, "uk", byName["MDC_SITE"].Value)
	require.True(t, byName["MDC_TEMPORAL_TLS_CA"].Default)
	require.Equal(t, "/srv/mdc/lab/platform.yaml", byName["MDC_PLATFORM_FILE"].DefaultValue)
}

// envconfig with a prefix also reads the unprefixed name; mdc must not pick
// up LOG_LEVEL or SITE meant for something else.
func TestUnprefixedVariablesAreIgnored(t *testing.T) {
	cleanEnv(t)
	t.Setenv("LOG_LEVEL", "loud")
	t.Setenv("SITE", "Elsewhere")
	t.Setenv("TEMPORAL_ADDRESS", "nope")
	c, err := Load()
	require.NoError(t, err)
	require.Equal(t, "info", c.LogLevel)
	require.Equal(t, "", c.Site)
	require.Equal(t, "127.0.0.1:7233", c.TemporalAddress)
}

func TestValidationErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"log level", map[string]string{"MDC_LOG_LEVEL": "loud"},
			`MDC_LOG_LEVEL: expected one of debug, info, warn, error, got "loud"`},
		{"log format", map[string]string{"MDC_LOG_FORMAT": "xml"},
			`MDC_LOG_FORMAT: expected one of text, json, got "xml"`},
		{"temporal address", map[string]string{"MDC_TEMPORAL_ADDRESS": "temporal"},
			`MDC_TEMPORAL_ADDRESS: expected host:port such as 127.0.0.1:7233, got "temporal"`},
		{"temporal port", map[string]string{"MDC_TEMPORAL_ADDRESS": "127.0.0.1:72330"},
			`MDC_TEMPORAL_ADDRESS: expected host:port such as 127.0.0.1:7233, got "127.0.0.1:72330"`},
		{"cert without key", map[string]string{"MDC_TEMPORAL_TLS_CERT": "/c.pem"},
			"MDC_TEMPORAL_TLS_CERT and MDC_TEMPORAL_TLS_KEY go together (a client certificate and its key); MDC_TEMPORAL_TLS_CERT is set but MDC_TEMPORAL_TLS_KEY is not"},
		{"key without cert", map[string]string{"MDC_TEMPORAL_TLS_KEY": "/k.pem"},
			"MDC_TEMPORAL_TLS_CERT and MDC_TEMPORAL_TLS_KEY go together (a client certificate and its key); MDC_TEMPORAL_TLS_KEY is set but MDC_TEMPORAL_TLS_CERT is not"},
		{"empty namespace", map[string]string{"MDC_TEMPORAL_NAMESPACE": ""},
			`MDC_TEMPORAL_NAMESPACE: is set but empty; unset it to use "default" or name a namespace`},
		{"nats scheme", map[string]string{"MDC_NATS_URL": "nats://127.0.0.1:4222,http://127.0.0.1:4223"},
			`MDC_NATS_URL: expected URLs such as nats://127.0.0.1:4222 (scheme nats, tls, ws or wss), separated by commas, got "http://127.0.0.1:4223"`},
		{"nats port", map[string]string{"MDC_NATS_URL": "nats://127.0.0.1:0"},
			`MDC_NATS_URL: expected URLs such as nats://127.0.0.1:4222 with a host and a port from 1 to 65535, got "nats://127.0.0.1:0"`},
		{"nats user without password", map[string]string{"MDC_NATS_USER": "mdc"},
			"MDC_NATS_USER and MDC_NATS_PASSWORD go together; MDC_NATS_USER is set but MDC_NATS_PASSWORD is not"},
		{"two nats auth methods", map[string]string{"MDC_NATS_CREDS_FILE": "/x.creds", "MDC_NATS_TOKEN": "t0ken"},
			"MDC_NATS_CREDS_FILE, MDC_NATS_USER/MDC_NATS_PASSWORD and MDC_NATS_TOKEN are alternative ways to authenticate to NATS; set only one"},
		{"relative state dir", map[string]string{"MDC_STATE_DIR": "state"},
			`MDC_STATE_DIR: expected an absolute path, got "state"`},
		{"empty platform file", map[string]string{"MDC_STATE_DIR": "/s", "MDC_PLATFORM_FILE": ""},
			""},
		{"site", map[string]string{"MDC_SITE": "UK"},
			`MDC_SITE: expected a site name from the platform file (lowercase letters, digits and '-'), got "UK"`},
		{"empty task queue", map[string]string{"MDC_TASK_QUEUE": ""},
			`MDC_TASK_QUEUE: is set but empty; unset it to use "mdc"`},
		{"several at once", map[string]string{"MDC_LOG_LEVEL": "loud", "MDC_LOG_FORMAT": "xml"},
			`MDC_LOG_LEVEL: expected one of debug, info, warn, error, got "loud"` + "\n" + `MDC_LOG_FORMAT: expected one of text, json, got "xml"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cleanEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			c, err := Load()
			if tc.want == "" {
				// An empty MDC_PLATFORM_FILE means "use the default", like unset.
				require.NoError(t, err)
				require.Equal(t, "/s/lab/platform.yaml", c.PlatformFile)
				return
			}
			require.Nil(t, c)
			require.EqualError(t, err, tc.want)
		})
	}
}

func TestSecretsNeverShown(t *testing.T) {
	cleanEnv(t)
	secrets := []string{"s3cr3t-pass", "s3cr3t-key", "s3cr3t-token", "s3cr3t-url"}
	t.Setenv("MDC_NATS_USER", "mdc")
	t.Setenv("MDC_NATS_PASSWORD", secrets[0])
	t.Setenv("MDC_TEMPORAL_API_KEY", secrets[1])
	t.Setenv("MDC_NATS_URL", "nats://mdc:"+secrets[3]+"@127.0.0.1:4222,nats://"+secrets[2]+"@127.0.0.2:4222")
	c, err := Load()
	require.NoError(t, err)

	var shown strings.Builder
	for _, s := range c.Redacted() {
		shown.WriteString(s.Name + "=" + s.Value + "\n")
		switch s.Name {
		case "MDC_NATS_PASSWORD", "MDC_TEMPORAL_API_KEY":
			require.Equal(t, Redacted, s.Value)
			require.True(t, s.Secret)
			require.False(t, s.Default)
		case "MDC_NATS_TOKEN":
			require.Equal(t, "", s.Value, "unset secrets show empty")
		case "MDC_NATS_URL":
			require.Equal(t, "nats://xxxxx@127.0.0.1:4222,nats://xxxxx@127.0.0.2:4222", s.Value)
		}
	}
	shown.WriteString(c.String())
	shown.WriteString(Usage())

	// Now make every check fail while the secrets are set.
	t.Setenv("MDC_NATS_TOKEN", secrets[2])
	t.Setenv("MDC_NATS_URL", "ftp://mdc:"+secrets[3]+"@127.0.0.1:4222,nats://"+secrets[2]+"@127.0.0.1:0,%zz"+secrets[3])
	t.Setenv("MDC_LOG_LEVEL", "loud")
	_, err = Load()
	require.Error(t, err)
	shown.WriteString(err.Error())
	require.Contains(t, err.Error(), `MDC_NATS_URL: expected URLs such as nats://127.0.0.1:4222 (scheme nats, tls, ws or wss), separated by commas, got "ftp://xxxxx@127.0.0.1:4222"`)

	for _, s := range secrets {
		require.NotContains(t, shown.String(), s)
	}
}

func TestUsageListsEveryVariable(t *testing.T) {
	u := Usage()
	for _, name := range Names() {
		require.Contains(t, u, name)
	}
	require.Regexp(t, `MDC_TEMPORAL_ADDRESS\s+127\.0\.0\.1:7233\s+Temporal frontend, host:port`, u)
	require.Regexp(t, `MDC_NATS_PASSWORD\s+\(secret\)\s+NATS password`, u)
	require.Len(t, Names(), 18)
}

func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	c := &Config{LogLevel: "warn", LogFormat: "json"}
	log := c.Logger(&buf)
	log.Info("hidden")
	log.Warn("shown", "site", "uk")
	require.NotContains(t, buf.String(), "hidden")
	require.Contains(t, buf.String(), `"level":"WARN","msg":"shown","site":"uk"`)

	buf.Reset()
	c = &Config{LogLevel: "debug", LogFormat: "text"}
	c.Logger(&buf).Debug("detail")
	require.Contains(t, buf.String(), "level=DEBUG msg=detail")
}
