package events

import (
	"bytes"
	"encoding/json"
)

// maxServing bounds a site.down's node count per service: far above any
// micro data centre, low enough that a corrupt count cannot make a
// failover clone thousands of VMs.
const maxServing = 1000

// validatePayload checks the payload's shape for the event's type.
func validatePayload(ev Event) error {
	raw := bytes.TrimSpace(ev.Payload)
	absent := len(raw) == 0 || bytes.Equal(raw, []byte("null"))
	switch ev.Type {
	case TypeSiteDown, TypeSiteUp:
		if absent {
			return nil
		}
		var p SitePayload
		if err := strictUnmarshal(raw, &p); err != nil {
			return fieldErr("payload", "%s expects {\"misses\": integer, \"since\": RFC 3339 time, \"primary_gtid\": text, \"serving\": {service: integer}} (all optional): %v", ev.Type, err)
		}
		if p.Misses != nil && *p.Misses < 0 {
			return fieldErr("payload.misses", "is %d; expected an integer >= 0", *p.Misses)
		}
		for svc, n := range p.Serving {
			if svc == "" || n < 0 || n > maxServing {
				return fieldErr("payload.serving", "has %q: %d; expected a service name and a node count from 0 to %d", svc, n, maxServing)
			}
		}
	case TypeNodeLoad:
		if ev.Subject == "" {
			return fieldErr("subject", "is missing; node.load names the node it measured")
		}
		if absent {
			return fieldErr("payload", "is missing; node.load expects {\"load1\": number >= 0, \"service\": name (optional)}")
		}
		if _, err := LoadOf(ev); err != nil {
			return err
		}
	case TypeNodeHealth:
		if ev.Subject == "" {
			return fieldErr("subject", "is missing; node.health names the node it checked")
		}
		if absent {
			return fieldErr("payload", "is missing; node.health expects {\"healthy\": boolean, \"detail\": text (optional)}")
		}
		var p HealthPayload
		if err := strictUnmarshal(raw, &p); err != nil {
			return fieldErr("payload", "node.health expects {\"healthy\": boolean, \"detail\": text (optional)}: %v", err)
		}
		if p.Healthy == nil {
			return fieldErr("payload.healthy", "is missing; expected true or false")
		}
		if p.Service != "" {
			if err := checkName("payload.service", p.Service); err != nil {
				return err
			}
		}
	case TypeHostDisconnected, TypeVMPoweredOff:
		if ev.Subject == "" {
			return fieldErr("subject", "is missing; %s names the host or VM", ev.Type)
		}
		if absent {
			return nil
		}
		var p ObjectPayload
		if err := strictUnmarshal(raw, &p); err != nil {
			return fieldErr("payload", "%s expects {\"detail\": text} (optional): %v", ev.Type, err)
		}
	}
	return nil
}

// LoadOf returns a node.load event's payload, validated: load1 present and
// >= 0, service (if any) a valid name.
func LoadOf(ev Event) (LoadPayload, error) {
	var p LoadPayload
	if err := strictUnmarshal(ev.Payload, &p); err != nil {
		return LoadPayload{}, fieldErr("payload", "node.load expects {\"load1\": number >= 0, \"service\": name (optional)}: %v", err)
	}
	if p.Load1 == nil {
		return LoadPayload{}, fieldErr("payload.load1", "is missing; expected a number >= 0")
	}
	if *p.Load1 < 0 {
		return LoadPayload{}, fieldErr("payload.load1", "is %g; expected a number >= 0", *p.Load1)
	}
	if p.Service != "" {
		if err := checkName("payload.service", p.Service); err != nil {
			return LoadPayload{}, err
		}
	}
	return p, nil
}

// NewPayload marshals a payload struct for an Event; it panics on nothing
// and returns the marshal error for types JSON cannot encode.
func NewPayload(v any) (json.RawMessage, error) {
	return json.Marshal(v)
}
