package config

import (
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"text/tabwriter"
)

// Setting is one configuration variable as `mdc config` shows it.
type Setting struct {
	// Name is the environment variable, such as MDC_TEMPORAL_ADDRESS.
	Name string
	// Value is the effective value; a secret shows as "<redacted>" when set
	// and "" when not.
	Value string
	// Description says what the variable is for.
	Description string
	// Default reports whether the effective value is the default one.
	Default bool
	// DefaultValue is the value used when the variable is unset.
	DefaultValue string
	// Secret marks values that are never shown.
	Secret bool
}

// Redacted is placed instead of a set secret's value.
const Redacted = "<redacted>"

// field is one Config field with its tags.
type field struct {
	index  int
	name   string
	def    string
	desc   string
	secret bool
}

// fields lists Config's variables in declaration order.
func fields() []field {
	t := reflect.TypeOf(Config{})
	out := make([]field, 0, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		out = append(out, field{
			index: i, name: f.Tag.Get("envconfig"), def: f.Tag.Get("default"),
			desc: f.Tag.Get("desc"), secret: f.Tag.Get("secret") == "true",
		})
	}
	return out
}

// Names lists every variable Config reads.
func Names() []string {
	var names []string
	for _, f := range fields() {
		names = append(names, f.name)
	}
	return names
}

// Redacted lists every setting with its effective value, secrets hidden and
// passwords inside URLs masked, for `mdc config` to print.
func (c *Config) Redacted() []Setting {
	v := reflect.ValueOf(c).Elem()
	var out []Setting
	for _, f := range fields() {
		val := v.Field(f.index).String()
		def := f.def
		switch f.name {
		case "MDC_STATE_DIR":
			def, _ = DefaultStateDir()
		case "MDC_PLATFORM_FILE":
			def = DefaultPlatformFile(c.StateDir)
		}
		s := Setting{Name: f.name, DefaultValue: def, Description: f.desc, Secret: f.secret, Default: val == def}
		switch {
		case f.secret && val != "":
			s.Value = Redacted
		case f.secret:
			s.Value = ""
		case f.name == "MDC_NATS_URL":
			s.Value = redactURLList(val)
		default:
			s.Value = val
		}
		out = append(out, s)
	}
	return out
}

// redactURLList masks user information in a comma-separated URL list.
func redactURLList(list string) string {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil {
			parts[i] = redactURL(u)
		} else if strings.Contains(p, "@") {
			parts[i] = Redacted
		}
	}
	return strings.Join(parts, ",")
}

// Usage describes every variable with its default, for help output.
func Usage() string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "VARIABLE\tDEFAULT\tDESCRIPTION")
	for _, f := range fields() {
		def := f.def
		switch {
		case f.name == "MDC_STATE_DIR":
			def = "(see description)"
		case f.name == "MDC_PLATFORM_FILE":
			def = "(see description)"
		case f.secret:
			def = "(secret)"
		case def == "":
			def = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", f.name, def, f.desc)
	}
	_ = w.Flush()
	return b.String()
}

// String shows the configuration with secrets redacted, so that printing or
// logging a Config by accident cannot leak them.
func (c Config) String() string {
	var parts []string
	for _, s := range c.Redacted() {
		parts = append(parts, s.Name+"="+s.Value)
	}
	return "config{" + strings.Join(parts, " ") + "}"
}

// GoString is String for %#v.
func (c Config) GoString() string { return c.String() }
