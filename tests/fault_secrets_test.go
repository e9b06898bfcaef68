package tests

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The scanner the fault tests run over their logs and histories finds a
// secret planted in each form it claims to see, and nothing in clean text:
// without this negative control, "0 found" would prove nothing.
func TestFaultSecretScannerFindsPlantedSecrets(t *testing.T) {
	secrets := map[string]string{
		"MDC_LAB_PDNS_API_KEY":         "3f1c0a9be27d44c1a8e0b6d2",
		"MDC_LAB_SNMP_COMMUNITY":       "mdc5e0c7a1b",
		"MDC_LAB_UK_DB_DSN":            "mdc_admin:9c4e1d2f3a5b6c7d8e9f0a1b@tcp(127.1.0.1:3306)/?parseTime=true&timeout=2s",
		"secrets.json db_app_password": "p@ss w/rd+&=?#%ünicode",
	}
	s := newSecretScanner(secrets, false)
	payload := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.StdEncoding.EncodeToString(b)
	}
	planted := []struct{ name, text, secret string }{
		{"raw in a log line", `level=INFO msg="calling pdns" key=3f1c0a9be27d44c1a8e0b6d2`, "MDC_LAB_PDNS_API_KEY"},
		{"DSN in an error", `error="dial mdc_admin:9c4e1d2f3a5b6c7d8e9f0a1b@tcp(127.1.0.1:3306)/?parseTime=true&timeout=2s: refused"`, "MDC_LAB_UK_DB_DSN"},
		{"JSON-escaped", `{"msg":"x","v":"p@ss w/rd+&=?#%\u00fcnicode"}`, "secrets.json db_app_password"},
		{"URL query-escaped", "GET /api?key=" + url.QueryEscape("p@ss w/rd+&=?#%ünicode"), "secrets.json db_app_password"},
		{"URL path-escaped", "GET /x/" + url.PathEscape("p@ss w/rd+&=?#%ünicode") + "/y", "secrets.json db_app_password"},
		{"base64 alone", "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("mdc:mdc5e0c7a1b")), "MDC_LAB_SNMP_COMMUNITY"},
		{"base64, URL alphabet, odd offset", base64.RawURLEncoding.EncodeToString([]byte("xy3f1c0a9be27d44c1a8e0b6d2z")), "MDC_LAB_PDNS_API_KEY"},
		{"in a Temporal payload", `{"payloads":[{"metadata":{"encoding":"anNvbi9wbGFpbg=="},"data":"` +
			payload(map[string]string{"Site": "uk", "Community": "mdc5e0c7a1b"}) + `"}]}`, "MDC_LAB_SNMP_COMMUNITY"},
		{"in a payload inside base64", base64.StdEncoding.EncodeToString([]byte(`{"data":"` + payload(map[string]string{"DSN": secrets["MDC_LAB_UK_DB_DSN"]}) + `"}`)), "MDC_LAB_UK_DB_DSN"},
	}
	for _, p := range planted {
		found := s.scan(p.name, []byte(p.text))
		var names []string
		for _, f := range found {
			names = append(names, f.Secret)
		}
		require.Contains(t, names, p.secret, "%s: %q", p.name, p.text)
	}

	clean := `level=INFO msg="promoted" site=us gtid=0-1-42 run=01a201da-6ce3-7a12-9a76-9de933369967 checksum=0123456789abcdef0123456789abcdef
{"payloads":[{"data":"` + payload(map[string]string{"Site": "uk", "Name": "www.mdc.test."}) + `"}]}`
	require.Empty(t, s.scan("clean", []byte(clean)))

	// Shapes find credentials whose values are unknown, and not IDs.
	shapes := newSecretScanner(nil, true)
	for _, text := range []string{
		`{"DSN":"app:hunter22@tcp(10.0.0.1:3306)/shop"}`,
		`community 7a2b9c0d1e3f4a5b6c7d8e9f was used`,
		`snmp mdc0a1b2c3d`,
		`{"ReplicationPassword":"whatever"}`,
	} {
		require.NotEmpty(t, shapes.scan("shape", []byte(text)), text)
	}
	require.Empty(t, shapes.scan("clean", []byte(clean)))
}

// The histories kept for the replay tests were recorded from labs whose
// secrets are long gone, so they are searched for what a credential looks
// like (a DSN with a password, a lab token, a secret-named field with a
// value), in the JSON and inside every payload.
func TestFaultStoredHistoriesHoldNoSecrets(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(filepath.Dir(file)), "workflows", "testdata", "histories")
	findings, files, size, err := newSecretScanner(nil, true).scanFiles(filepath.Join(dir, "*.json"))
	require.NoError(t, err)
	require.Positive(t, files, "no histories in %s", dir)
	var b strings.Builder
	for _, f := range findings {
		b.WriteString("\n  " + f.String())
	}
	require.Empty(t, findings, "credentials in recorded histories:%s", b.String())
	t.Logf("%d recorded histories (%d bytes): no credential", files, size)
}
