package events

import (
	"testing"
)

// FuzzDecode checks that Decode never panics and that whatever it accepts
// re-encodes and decodes to the same event.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"version":1,"id":"a","type":"site.down","site":"uk","observed_at":"2024-05-01T12:00:00Z"}`,
		`{"version":1,"id":"a","type":"site.up","site":"uk","observed_at":"2024-05-01T12:00:00Z","payload":{"misses":2}}`,
		`{"version":1,"id":"b","type":"site.down","site":"uk","observer":"us","observed_at":"2024-05-01T12:00:00Z","payload":{"misses":3,"serving":{"web":2}}}`,
		`{"version":1,"id":"a","type":"node.load","site":"uk","subject":"n","observed_at":"2024-05-01T12:00:00Z","payload":{"load1":2.5,"service":"web"}}`,
		`{"version":1,"id":"a","type":"node.health","site":"uk","subject":"n","observed_at":"2024-05-01T12:00:00Z","payload":{"healthy":true}}`,
		`{"version":1,"id":"a","type":"vm.powered_off","site":"uk","subject":"v","observed_at":"2024-05-01T12:00:00Z","payload":null}`,
		`{"version":2}`, `[]`, `null`, `{}`, ``, `{"payload":{"load1":-0}}`, "{\"id\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := Decode(data)
		if err != nil {
			return
		}
		b, err := Encode(ev)
		if err != nil {
			t.Fatalf("decoded event does not re-encode: %v", err)
		}
		if _, err := Decode(b); err != nil {
			t.Fatalf("re-encoded event does not decode: %v", err)
		}
	})
}
