package events

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func validLoad() Event {
	return Event{
		Version: 1, ID: "ev-1", Type: TypeNodeLoad, Site: "uk", Subject: "uk-web-1",
		Observer: "monitor-us", ObservedAt: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC),
		Payload: json.RawMessage(`{"load1":2.5,"service":"web"}`),
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	for _, ev := range []Event{
		validLoad(),
		{Version: 1, ID: "d1", Type: TypeSiteDown, Site: "uk", ObservedAt: time.Now().UTC()},
		{Version: 1, ID: "d3", Type: TypeSiteDown, Site: "uk", ObservedAt: time.Now().UTC(), Payload: json.RawMessage(`{"misses":3,"primary_gtid":"0-1-7","serving":{"web":3}}`)},
		{Version: 1, ID: "d2", Type: TypeSiteUp, Site: "uk", ObservedAt: time.Now().UTC(), Payload: json.RawMessage(`{"misses":3}`)},
		{Version: 1, ID: "h1", Type: TypeNodeHealth, Site: "us", Subject: "n1", ObservedAt: time.Now().UTC(), Payload: json.RawMessage(`{"healthy":false,"detail":"503"}`)},
		{Version: 1, ID: "x1", Type: TypeHostDisconnected, Site: "us", Subject: "esx1", ObservedAt: time.Now().UTC()},
		{Version: 1, ID: "v1", Type: TypeVMPoweredOff, Site: "us", Subject: "vm1", ObservedAt: time.Now().UTC(), Payload: json.RawMessage(`{"detail":"by admin"}`)},
	} {
		b, err := Encode(ev)
		require.NoError(t, err, ev.ID)
		got, err := Decode(b)
		require.NoError(t, err, ev.ID)
		require.Equal(t, ev.ID, got.ID)
		require.True(t, ev.ObservedAt.Equal(got.ObservedAt))
		require.JSONEq(t, string(mustJSON(t, ev)), string(mustJSON(t, got)))
	}
}

func mustJSON(t *testing.T, ev Event) []byte {
	b, err := json.Marshal(ev)
	require.NoError(t, err)
	return b
}

func TestDecodeRejects(t *testing.T) {
	base := func(mut func(m map[string]any)) []byte {
		m := map[string]any{"version": 1, "id": "e1", "type": "node.load", "site": "uk", "subject": "n1",
			"observed_at": "2024-05-01T12:00:00Z", "payload": map[string]any{"load1": 1.5}}
		mut(m)
		b, _ := json.Marshal(m)
		return b
	}
	cases := []struct {
		name, field, want string
		data              []byte
	}{
		{"not json", "", "not a valid event envelope", []byte(`{"version":1,`)},
		{"array", "", "expected a JSON object", []byte(`[1]`)},
		{"null", "", "expected a JSON object", []byte(`null`)},
		{"trailing", "", "trailing data", append(base(func(map[string]any) {}), []byte(` {}`)...)},
		{"unknown field", "", `unknown field "colour"`, base(func(m map[string]any) { m["colour"] = "red" })},
		{"version 2", "version", "version 1 only", base(func(m map[string]any) { m["version"] = 2 })},
		{"no version", "version", "is 0", base(func(m map[string]any) { delete(m, "version") })},
		{"no id", "id", "missing", base(func(m map[string]any) { delete(m, "id") })},
		{"unknown type", "type", "not a known event type", base(func(m map[string]any) { m["type"] = "site.exploded" })},
		{"no site", "site", "missing", base(func(m map[string]any) { delete(m, "site") })},
		{"bad site", "site", "lowercase", base(func(m map[string]any) { m["site"] = "UK.x" })},
		{"no time", "observed_at", "missing", base(func(m map[string]any) { delete(m, "observed_at") })},
		{"bad time", "", "not a valid event envelope", base(func(m map[string]any) { m["observed_at"] = "yesterday" })},
		{"no load payload", "payload", "missing", base(func(m map[string]any) { delete(m, "payload") })},
		{"no load1", "payload.load1", "missing", base(func(m map[string]any) { m["payload"] = map[string]any{} })},
		{"negative load", "payload.load1", ">= 0", base(func(m map[string]any) { m["payload"] = map[string]any{"load1": -1} })},
		{"string load", "payload", "load1", base(func(m map[string]any) { m["payload"] = map[string]any{"load1": "high"} })},
		{"extra payload field", "payload", "unknown field", base(func(m map[string]any) { m["payload"] = map[string]any{"load1": 1, "x": 1} })},
		{"load without node", "subject", "node", base(func(m map[string]any) { delete(m, "subject") })},
		{"misses not int", "payload", "misses", base(func(m map[string]any) {
			m["type"] = "site.down"
			m["payload"] = map[string]any{"misses": 1.5}
		})},
		{"negative serving", "payload.serving", "from 0 to 1000", base(func(m map[string]any) {
			m["type"] = "site.down"
			m["payload"] = map[string]any{"serving": map[string]any{"web": -1}}
		})},
		{"serving beyond any site", "payload.serving", "from 0 to 1000", base(func(m map[string]any) {
			m["type"] = "site.down"
			m["payload"] = map[string]any{"serving": map[string]any{"web": 100000}}
		})},
		{"serving not a count", "payload", "serving", base(func(m map[string]any) {
			m["type"] = "site.down"
			m["payload"] = map[string]any{"serving": map[string]any{"web": "three"}}
		})},
		{"health without verdict", "payload.healthy", "missing", base(func(m map[string]any) {
			m["type"] = "node.health"
			m["payload"] = map[string]any{"detail": "x"}
		})},
		{"oversize", "", "65536-byte limit", base(func(m map[string]any) {
			m["type"] = "vm.powered_off"
			m["payload"] = map[string]any{"detail": strings.Repeat("x", MaxSize)}
		})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(c.data)
			require.Error(t, err)
			var se *Error
			require.True(t, errors.As(err, &se), "%T", err)
			require.Equal(t, c.field, se.Field, err.Error())
			require.Contains(t, err.Error(), c.want)
		})
	}
}

func TestEncodeRejectsInvalidAndOversize(t *testing.T) {
	ev := validLoad()
	ev.Version = 0
	_, err := Encode(ev)
	require.ErrorContains(t, err, "version")

	ev = validLoad()
	ev.Type = TypeVMPoweredOff
	ev.Payload, _ = NewPayload(ObjectPayload{Detail: strings.Repeat("y", MaxSize)})
	_, err = Encode(ev)
	require.ErrorContains(t, err, "exceeds the 65536-byte limit")
}

func TestSubject(t *testing.T) {
	require.Equal(t, "mdc.events.site.down.uk", Subject(TypeSiteDown, "uk"))
}
