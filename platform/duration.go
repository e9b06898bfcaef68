package platform

import (
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// UnmarshalYAML reads a duration written with a unit ("30s", "5m", "1h30m").
// A bare number is rejected rather than guessed at: 30 could mean seconds or
// nanoseconds, and picking wrong silently changes a failover timer.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("expected a duration such as \"30s\" or \"5m\", got %s", kindName(n))
	}
	switch n.Tag {
	case "!!null":
		d.Duration = 0
		return nil
	case "!!int", "!!float":
		return fmt.Errorf("expected a duration with a unit, got the bare number %s; write %q for seconds or %q for minutes",
			n.Value, n.Value+"s", n.Value+"m")
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("expected a duration such as \"30s\", \"5m\" or \"1h30m\", got %q", n.Value)
	}
	d.Duration = v
	return nil
}

// MarshalYAML writes the duration in the shortest form ParseDuration reads
// back ("5m" rather than "5m0s").
func (d Duration) MarshalYAML() (any, error) {
	return d.String(), nil
}

// String formats the duration like time.Duration.String without trailing
// zero units: "1m", "1h30m", "2s".
func (d Duration) String() string {
	s := d.Duration.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// kindName describes a node's kind for error messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	if n.Tag == "!!null" {
		return "nothing"
	}
	return fmt.Sprintf("%q", n.Value)
}
