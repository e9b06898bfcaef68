package platform

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"regexp"
	"strconv"

	"gopkg.in/yaml.v3"
)

// Example is the documented reference platform file (testdata/example.yaml):
// every field, with a comment saying what it is for.
//
//go:embed testdata/example.yaml
var Example []byte

// Load reads, decodes, defaults and validates the platform file at path.
// Problems in the file come back as a *ValidationError naming path.
func Load(path string) (*Platform, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read platform file: %w: point MDC_PLATFORM_FILE at your platform file (`mdc dev` writes its lab's and exports it in <state>/lab/lab.env; `mdc validate` checks one)", err)
	}
	if err != nil {
		return nil, fmt.Errorf("read platform file: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes, defaults and validates a platform file; name is used in
// error positions. Every problem found is returned in one *ValidationError.
func Parse(name string, data []byte) (*Platform, error) {
	p := newParser(name)
	root, ok := p.document(data)
	if !ok {
		return nil, p.result()
	}
	var pl Platform
	p.value(root, reflect.ValueOf(&pl).Elem(), "")
	if p.exhausted >= 0 {
		// The tree was cut short, so any other finding would be partial.
		return nil, &ValidationError{Errors: p.errs[p.exhausted : p.exhausted+1]}
	}
	decoded := len(p.errs)
	applyDefaults(&pl, func(path string, _ bool) bool { return !p.present[path] })
	p.validate(&pl)
	p.dropFollowOnErrors(decoded)
	if err := p.result(); err != nil {
		return nil, err
	}
	return &pl, nil
}

// dropFollowOnErrors removes validation errors about fields that failed to
// decode (or lie inside one): such a field holds a zero value, and the
// complaint about it goes away with the fix for the decoding error.
func (p *parser) dropFollowOnErrors(decoded int) {
	bad := map[string]bool{}
	for _, e := range p.errs[:decoded] {
		if e.Field != "" {
			bad[e.Field] = true
		}
	}
	kept := p.errs[:decoded]
	for _, e := range p.errs[decoded:] {
		follow := false
		for f := e.Field; f != "" && !follow; f = parentPath(f) {
			follow = bad[f]
		}
		if !follow {
			kept = append(kept, e)
		}
	}
	p.errs = kept
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// document parses data as exactly one YAML document whose top level is a
// mapping, recording syntax problems with the line YAML reports.
func (p *parser) document(data []byte) (*yaml.Node, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.failAt(pos{1, 1}, "", "the file is empty; it must describe at least one site (see platform/testdata/example.yaml)")
		} else {
			p.syntax(err)
		}
		return nil, false
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		p.failAt(nodePos(&extra), "", "a second YAML document starts here; a platform file is one document, remove the '---' separator")
		return nil, false
	case !errors.Is(err, io.EOF):
		p.syntax(err)
		return nil, false
	}
	if len(doc.Content) != 1 {
		p.failAt(pos{1, 1}, "", "expected a YAML document")
		return nil, false
	}
	root := doc.Content[0]
	if resolve(root).Kind != yaml.MappingNode {
		p.failAt(nodePos(root), "", "expected a mapping with version, name, regions, sites, services, failover, replication and triggers at the top level, got %s", kindName(resolve(root)))
		return nil, false
	}
	return root, true
}

// syntax records a YAML syntax error, pulling out the line number yaml.v3
// embeds in its message.
func (p *parser) syntax(err error) {
	msg := err.Error()
	line := 0
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else if len(msg) > 6 && msg[:6] == "yaml: " {
		msg = msg[6:]
	}
	p.failAt(pos{line, 0}, "", "invalid YAML: %s", msg)
}

// Marshal writes a platform file that Parse reads back to an equal Platform.
// Every field is written, defaults included.
func Marshal(p *Platform) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(p); err != nil {
		return nil, fmt.Errorf("marshal platform: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("marshal platform: %w", err)
	}
	return buf.Bytes(), nil
}

// Site returns the site with the given name.
func (p *Platform) Site(name string) (*Site, bool) {
	for i := range p.Sites {
		if p.Sites[i].Name == name {
			return &p.Sites[i], true
		}
	}
	return nil, false
}

// Service returns the service with the given name.
func (p *Platform) Service(name string) (*Service, bool) {
	for i := range p.Services {
		if p.Services[i].Name == name {
			return &p.Services[i], true
		}
	}
	return nil, false
}

// PrimarySite returns the site whose database role is primary in the file
// (as provisioned; after a failover the live primary may differ), or nil.
func (p *Platform) PrimarySite() *Site {
	for i := range p.Sites {
		if p.Sites[i].Database.Role == "primary" {
			return &p.Sites[i]
		}
	}
	return nil
}

// SiteNames returns the site names in file order.
func (p *Platform) SiteNames() []string {
	names := make([]string, len(p.Sites))
	for i, s := range p.Sites {
		names[i] = s.Name
	}
	return names
}

// siteIndex finds a site's position, for field paths in messages.
func (p *Platform) siteIndex(name string) (int, error) {
	for i := range p.Sites {
		if p.Sites[i].Name == name {
			return i, nil
		}
	}
	return 0, fmt.Errorf("unknown site %q; %s", name, known("sites", p.SiteNames()))
}
