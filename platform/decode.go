package platform

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// pos is a 1-based line and column in the file.
type pos struct{ line, col int }

// Limits that keep hostile or broken input cheap: aliases can make a small
// file expand into a huge tree, and one systematic mistake can produce
// thousands of errors nobody reads past the first screen of.
const (
	maxNodes  = 100_000
	maxErrors = 100
)

// parser walks the YAML node tree into a Platform by reflection. Walking the
// nodes ourselves (rather than node.Decode) gives every error a position, lets
// unknown fields and type mismatches be collected instead of stopping at the
// first, and records which fields were present so that defaults fill only
// what the file left out (min: 0 stays 0).
type parser struct {
	file      string
	errs      []FieldError
	present   map[string]bool // paths given a non-null value
	pos       map[string]pos  // where to point for a path
	budget    int
	exhausted int // index in errs of the "too many nodes" error, or -1
	expanding map[*yaml.Node]bool
}

func newParser(file string) *parser {
	return &parser{
		file:      file,
		present:   map[string]bool{},
		pos:       map[string]pos{"": {1, 1}},
		budget:    maxNodes,
		exhausted: -1,
		expanding: map[*yaml.Node]bool{},
	}
}

// failAt records a problem at an explicit position.
func (p *parser) failAt(at pos, field, format string, args ...any) {
	p.errs = append(p.errs, FieldError{File: p.file, Line: at.line, Column: at.col, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// result sorts the problems into file order and caps their number, so that
// one systematic mistake does not bury the report.
func (p *parser) result() *ValidationError {
	if len(p.errs) == 0 {
		return nil
	}
	sort.SliceStable(p.errs, func(i, j int) bool {
		a, b := p.errs[i], p.errs[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	if len(p.errs) > maxErrors {
		more := len(p.errs) - maxErrors
		p.errs = append(p.errs[:maxErrors:maxErrors], FieldError{File: p.file, Msg: fmt.Sprintf("%d more errors not shown; fix the ones above first", more)})
	}
	return &ValidationError{Errors: p.errs}
}

// fail records a problem with a field, pointing at the field's value or, when
// the field is absent, at its nearest present ancestor.
func (p *parser) fail(field, format string, args ...any) {
	p.failAt(p.where(field), field, format, args...)
}

// where finds the position to blame for a path.
func (p *parser) where(path string) pos {
	for {
		if at, ok := p.pos[path]; ok {
			return at
		}
		path = parentPath(path)
	}
}

// parentPath strips the last ".name" or "[i]" from a path.
func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

func nodePos(n *yaml.Node) pos { return pos{n.Line, n.Column} }

// isNull reports whether a (resolved) node is an explicit or implicit null.
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// spend counts one more node visited and reports whether the walk may go on;
// the first time the budget runs out it records why.
func (p *parser) spend(n *yaml.Node, path string) bool {
	if p.budget > 0 {
		p.budget--
		return true
	}
	if p.exhausted < 0 {
		p.failAt(nodePos(n), path, "the file expands to more than %d nodes (through aliases?); simplify it", maxNodes)
		p.exhausted = len(p.errs) - 1
	}
	return false
}

// value decodes node n into v, reporting problems under path.
func (p *parser) value(n *yaml.Node, v reflect.Value, path string) {
	if !p.spend(n, path) {
		return
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil || p.expanding[n.Alias] {
			p.failAt(nodePos(n), path, "alias *%s refers to a value that contains it", n.Value)
			return
		}
		p.expanding[n.Alias] = true
		p.value(n.Alias, v, path)
		delete(p.expanding, n.Alias)
		return
	}
	if isNull(n) {
		return
	}
	if u, ok := v.Addr().Interface().(yaml.Unmarshaler); ok {
		if err := u.UnmarshalYAML(n); err != nil {
			p.failAt(nodePos(n), path, "%s", err.Error())
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		p.structValue(n, v, path)
	case reflect.Slice:
		p.sliceValue(n, v, path)
	case reflect.Map:
		p.mapValue(n, v, path)
	default:
		p.scalar(n, v, path)
	}
}

// scalar decodes a string, number or boolean.
func (p *parser) scalar(n *yaml.Node, v reflect.Value, path string) {
	want := map[reflect.Kind]string{
		reflect.String: "a string", reflect.Int: "an integer",
		reflect.Float64: "a number", reflect.Bool: "true or false",
	}[v.Kind()]
	if n.Kind != yaml.ScalarNode {
		p.failAt(nodePos(n), path, "expected %s, got %s", want, kindName(n))
		return
	}
	if v.Kind() == reflect.String {
		v.SetString(n.Value)
		return
	}
	if n.Tag == "!!str" && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		p.failAt(nodePos(n), path, "expected %s, got the quoted string %q; remove the quotes", want, n.Value)
		return
	}
	tmp := reflect.New(v.Type())
	if err := n.Decode(tmp.Interface()); err != nil {
		p.failAt(nodePos(n), path, "expected %s, got %q", want, n.Value)
		return
	}
	v.Set(tmp.Elem())
}

// sliceValue decodes a YAML sequence.
func (p *parser) sliceValue(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		p.failAt(nodePos(n), path, "expected a list, got %s", kindName(n))
		return
	}
	if len(n.Content) == 0 {
		return // nil, like an absent list, so that Marshal→Parse round-trips
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		ip := fmt.Sprintf("%s[%d]", path, i)
		p.pos[ip] = nodePos(resolve(item))
		if !isNull(resolve(item)) {
			p.present[ip] = true
		}
		p.value(item, s.Index(i), ip)
	}
	v.Set(s)
}

// mapValue decodes a mapping with free-form keys (regions).
func (p *parser) mapValue(n *yaml.Node, v reflect.Value, path string) {
	pairs, ok := p.pairs(n, path)
	if !ok {
		return
	}
	if len(pairs) == 0 {
		return // nil, like an absent mapping
	}
	m := reflect.MakeMapWithSize(v.Type(), len(pairs))
	for _, kv := range pairs {
		kp := path + "." + kv.key
		p.record(kp, kv)
		elem := reflect.New(v.Type().Elem()).Elem()
		p.value(kv.val, elem, kp)
		m.SetMapIndex(reflect.ValueOf(kv.key), elem)
	}
	v.Set(m)
}

// structValue decodes a mapping into a struct by yaml tags, rejecting unknown
// keys and inline secrets.
func (p *parser) structValue(n *yaml.Node, v reflect.Value, path string) {
	pairs, ok := p.pairs(n, path)
	if !ok {
		return
	}
	fields := yamlFields(v.Type())
	for _, kv := range pairs {
		fp := joinPath(path, kv.key)
		idx, known := fields[kv.key]
		if !known {
			p.unknownField(v.Type(), fields, kv, fp)
			continue
		}
		p.record(fp, kv)
		p.value(kv.val, v.Field(idx), fp)
	}
}

// record notes where a mapping entry is and whether it holds a value: a
// scalar is blamed at its value, a collection at its key.
func (p *parser) record(path string, kv pair) {
	val := resolve(kv.val)
	if val.Kind == yaml.ScalarNode {
		p.pos[path] = nodePos(val)
	} else {
		p.pos[path] = nodePos(kv.keyNode)
	}
	if !isNull(val) {
		p.present[path] = true
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// pair is one key and value of a mapping.
type pair struct {
	key     string
	keyNode *yaml.Node
	val     *yaml.Node
}

// pairs lists a mapping's entries, applying merge keys (<<: *base) the way
// YAML does: keys written in the mapping win over merged ones.
func (p *parser) pairs(n *yaml.Node, path string) ([]pair, bool) {
	if n.Kind != yaml.MappingNode {
		p.failAt(nodePos(n), path, "expected a mapping of fields, got %s", kindName(n))
		return nil, false
	}
	var out, merged []pair
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		rk := resolve(k)
		if rk.Kind != yaml.ScalarNode {
			p.failAt(nodePos(k), path, "expected a field name, got %s", kindName(rk))
			continue
		}
		if rk.Tag == "!!merge" {
			merged = append(merged, p.mergeSources(val, path)...)
			continue
		}
		if first, dup := seen[rk.Value]; dup {
			p.failAt(nodePos(k), joinPath(path, rk.Value), "duplicate key; first defined at line %d", first.Line)
			continue
		}
		seen[rk.Value] = k
		out = append(out, pair{key: rk.Value, keyNode: k, val: val})
	}
	for _, m := range merged {
		if _, ok := seen[m.key]; !ok {
			seen[m.key] = m.keyNode
			out = append(out, m)
		}
	}
	return out, true
}

// mergeSources expands the value of a merge key: a mapping or a list of them.
func (p *parser) mergeSources(val *yaml.Node, path string) []pair {
	if !p.spend(val, path) {
		return nil
	}
	rv := resolve(val)
	if p.expanding[rv] {
		p.failAt(nodePos(val), path, "merge refers to a mapping that contains it")
		return nil
	}
	p.expanding[rv] = true
	defer delete(p.expanding, rv)
	switch rv.Kind {
	case yaml.MappingNode:
		pairs, _ := p.pairs(rv, path)
		return pairs
	case yaml.SequenceNode:
		var out []pair
		seen := map[string]bool{}
		for _, item := range rv.Content {
			if resolve(item).Kind != yaml.MappingNode {
				p.failAt(nodePos(item), path, "merge (<<) expects mappings, got %s", kindName(resolve(item)))
				continue
			}
			for _, kv := range p.mergeSources(item, path) {
				if !seen[kv.key] {
					seen[kv.key] = true
					out = append(out, kv)
				}
			}
		}
		return out
	}
	p.failAt(nodePos(val), path, "merge (<<) expects a mapping or a list of mappings, got %s", kindName(rv))
	return nil
}

// yamlFields maps a struct's yaml names to field indexes.
func yamlFields(t reflect.Type) map[string]int {
	out := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		out[name] = i
	}
	return out
}

// secretAliases are keys, beyond "<x>" for a field "<x>_env", that carry a
// secret inline and the field that must be used instead.
var secretAliases = map[reflect.Type]map[string]string{
	reflect.TypeOf(VCenter{}):   {"user": "username_env"},
	reflect.TypeOf(DNSServer{}): {"key": "api_key_env", "apikey": "api_key_env", "api-key": "api_key_env"},
	reflect.TypeOf(Database{}):  {"password": "dsn_env", "user": "dsn_env", "username": "dsn_env"},
	reflect.TypeOf(SNMP{}):      {"community_string": "community_env"},
}

// unknownField reports a key the struct does not have, with a dedicated
// message for secrets written inline (whose value is never echoed).
func (p *parser) unknownField(t reflect.Type, fields map[string]int, kv pair, path string) {
	at := nodePos(kv.keyNode)
	envField := secretAliases[t][kv.key]
	if _, ok := fields[kv.key+"_env"]; ok {
		envField = kv.key + "_env"
	}
	if envField != "" {
		p.failAt(at, path, "inline secrets are not allowed; put the value in an environment variable and name it in %s", envField)
		return
	}
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool { return fields[names[i]] < fields[names[j]] })
	msg := "unknown field"
	if s := closest(kv.key, names); s != "" {
		msg += fmt.Sprintf("; did you mean %s?", s)
	}
	p.failAt(at, path, "%s (known fields: %s)", msg, strings.Join(names, ", "))
}

// closest returns the candidate within edit distance 2 of s, if any.
func closest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
