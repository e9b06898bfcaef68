package tests

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"unicode/utf16"
)

// secretScanner looks for secrets in logs and workflow histories: the
// values it is given, in every form a careless log line or payload would
// carry them (raw, JSON- or URL-escaped, base64 in any alignment, and inside
// base64 blobs such as Temporal's payloads, which it decodes), and, when
// the values are unknown (histories recorded from labs long gone), text
// shaped like a credential.
type secretScanner struct {
	needles []secretNeedle
	// shapes find credentials whose value is not known.
	shapes []secretShape
}

type secretNeedle struct {
	secret, form string
	b            []byte
}

type secretShape struct {
	name string
	re   *regexp.Regexp
}

// secretFinding is one secret found: which, in what form, where.
type secretFinding struct {
	File, Secret, Form, Context string
}

func (f secretFinding) String() string {
	return fmt.Sprintf("%s: %s (%s) near %q", f.File, f.Secret, f.Form, f.Context)
}

// credentialShapes are what mdc's credentials look like in text: a Go
// MySQL DSN with a password, the lab's generated tokens (24 hex digits; the
// SNMP community is "mdc" and 8), and JSON fields named like secrets with a
// value. Temporal's own IDs are UUIDs (dashes) or 32+ hex digits, which the
// boundaries keep out.
var credentialShapes = []secretShape{
	{"DSN with a password", regexp.MustCompile(`[A-Za-z0-9_.-]+:[^@\s"'/:]{3,}@(tcp|unix)\(`)},
	{"lab token (24 hex digits)", regexp.MustCompile(`(^|[^0-9A-Za-z_-])[0-9a-f]{24}([^0-9A-Za-z_-]|$)`)},
	{"lab SNMP community", regexp.MustCompile(`(^|[^0-9A-Za-z])mdc[0-9a-f]{8}([^0-9A-Za-z]|$)`)},
	{"secret-named field with a value", regexp.MustCompile(`(?i)"[a-z_]*(password|passwd|apikey|api_key|secret|token|community|dsn)"\s*:\s*"[^"]+"`)},
}

// newSecretScanner scans for the given secrets (name → value); values
// shorter than 6 characters are too common to look for and are skipped.
// withShapes adds credentialShapes.
func newSecretScanner(secrets map[string]string, withShapes bool) *secretScanner {
	s := &secretScanner{}
	names := make([]string, 0, len(secrets))
	for n := range secrets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		v := secrets[name]
		if len(v) < 6 {
			continue
		}
		add := func(form, enc string) {
			for _, n := range s.needles {
				if n.secret == name && string(n.b) == enc {
					return
				}
			}
			s.needles = append(s.needles, secretNeedle{name, form, []byte(enc)})
		}
		add("raw", v)
		for _, j := range jsonForms(v) {
			add("JSON-escaped", j)
		}
		add("URL query-escaped", url.QueryEscape(v))
		add("URL path-escaped", url.PathEscape(v))
		for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
			for k := 0; k < 3; k++ {
				if core := base64Core(enc, v, k); len(core) >= 8 {
					add(fmt.Sprintf("base64 (offset %d)", k), core)
				}
			}
		}
	}
	if withShapes {
		s.shapes = credentialShapes
	}
	return s
}

// jsonForms are the ways a JSON encoder may write v inside a string: with
// or without HTML escapes (Go's default turns & into \u0026), and with
// everything outside ASCII as \u escapes.
func jsonForms(v string) []string {
	var out []string
	for _, html := range []bool{true, false} {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		_ = enc.Encode(v)
		j := strings.TrimSuffix(b.String(), "\n")
		j = j[1 : len(j)-1]
		var ascii strings.Builder
		for _, r := range j {
			switch {
			case r < 0x80:
				ascii.WriteRune(r)
			case r > 0xffff:
				r1, r2 := utf16.EncodeRune(r)
				fmt.Fprintf(&ascii, "\\u%04x\\u%04x", r1, r2)
			default:
				fmt.Fprintf(&ascii, "\\u%04x", r)
			}
		}
		out = append(out, j, ascii.String())
	}
	return out
}

// base64Core is the part of the base64 encoding of v, preceded by k other
// bytes, that depends on v alone: what any base64 text containing v at that
// alignment contains.
func base64Core(enc *base64.Encoding, v string, k int) string {
	e := enc.EncodeToString(append(make([]byte, k), v...))
	start := (8*k + 5) / 6
	end := 8 * (k + len(v)) / 6
	if end <= start {
		return ""
	}
	return e[start:end]
}

// base64Token is a run of base64 text long enough to hide a secret.
var base64Token = regexp.MustCompile(`[A-Za-z0-9+/_-]{16,}={0,2}`)

// scan reports every secret in data (named name in findings), looking
// also inside what base64 tokens in data decode to, two levels deep.
func (s *secretScanner) scan(name string, data []byte) []secretFinding {
	return s.scanDepth(name, data, 2)
}

func (s *secretScanner) scanDepth(name string, data []byte, depth int) []secretFinding {
	var out []secretFinding
	for _, n := range s.needles {
		if i := bytes.Index(data, n.b); i >= 0 {
			out = append(out, secretFinding{name, n.secret, n.form, snippet(data, i, len(n.b))})
		}
	}
	for _, sh := range s.shapes {
		if loc := sh.re.FindIndex(data); loc != nil {
			out = append(out, secretFinding{name, sh.name, "shape", snippet(data, loc[0], loc[1]-loc[0])})
		}
	}
	if depth == 0 {
		return out
	}
	for _, tok := range base64Token.FindAll(data, -1) {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
			dec, err := enc.DecodeString(string(tok))
			if err != nil {
				continue
			}
			for _, f := range s.scanDepth(name, dec, depth-1) {
				f.Form = "inside base64: " + f.Form
				out = append(out, f)
			}
			break
		}
	}
	return out
}

// snippet is the text around a finding, secret included: the report goes
// to a test log that only ever sees lab secrets.
func snippet(data []byte, i, n int) string {
	from, to := max(i-40, 0), min(i+n+40, len(data))
	return string(data[from:to])
}

// scanFiles scans every file matching the globs; it returns the findings
// and how many files and bytes it read.
func (s *secretScanner) scanFiles(globs ...string) (findings []secretFinding, files int, size int64, err error) {
	for _, g := range globs {
		paths, err := filepath.Glob(g)
		if err != nil {
			return nil, 0, 0, err
		}
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				return nil, 0, 0, err
			}
			files++
			size += int64(len(b))
			findings = append(findings, s.scan(p, b)...)
		}
	}
	return findings, files, size, nil
}

// labSecrets are the lab's credentials by name: what lab.env exports (the
// platform file's secrets, DSNs included) and the passwords in its
// secrets.json that only the lab itself uses.
func labSecrets(env map[string]string, labDir string) (map[string]string, error) {
	out := map[string]string{}
	for k, v := range env {
		if strings.HasSuffix(k, "_USER") {
			continue // account names are not secret
		}
		out[k] = v
	}
	b, err := os.ReadFile(filepath.Join(labDir, "secrets.json"))
	if err != nil {
		return nil, err
	}
	var sec map[string]string
	if err := json.Unmarshal(b, &sec); err != nil {
		return nil, err
	}
	for k, v := range sec {
		if !strings.HasSuffix(k, "_user") {
			out["secrets.json "+k] = v
		}
	}
	return out, nil
}

// scanForSecrets scans every log of the stack and its workers and every
// exported history for the lab's secrets; a finding fails the test.
func (fs *faultStack) scanForSecrets() {
	t := fs.t
	if fs.lab == nil {
		return
	}
	secrets, err := labSecrets(fs.lab.Env(), fs.lab.Dir())
	if err != nil {
		t.Errorf("secrets scan: %v", err)
		return
	}
	// Logs: the known values. Histories: the values and credential shapes.
	// mdc's own logs (the stack, the workers) and the lab components'
	// (HAProxy, PowerDNS, MariaDB), which mdc talks to with the secrets.
	logs, nLogs, logBytes, err := newSecretScanner(secrets, false).scanFiles(filepath.Join(fs.logDir, "*.log"),
		filepath.Join(fs.lab.Dir(), "sites", "*", "*", "*.log"))
	if err != nil {
		t.Errorf("secrets scan: %v", err)
		return
	}
	hists, nHists, histBytes, err := newSecretScanner(secrets, true).scanFiles(filepath.Join(fs.logDir, "histories", "*.json"))
	if err != nil {
		t.Errorf("secrets scan: %v", err)
		return
	}
	if nLogs == 0 || logBytes == 0 {
		t.Errorf("secrets scan: no log was written to %s: the scan would prove nothing", fs.logDir)
	}
	for _, f := range append(logs, hists...) {
		t.Errorf("secret found: %s", f)
	}
	t.Logf("secrets scan: %d secrets (and their encodings) in %d logs (%d bytes) and %d histories (%d bytes): %d found",
		len(secrets), nLogs, logBytes, nHists, histBytes, len(logs)+len(hists))
}
