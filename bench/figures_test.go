package bench

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFiguresSummariseMedianMinMaxAndTarget(t *testing.T) {
	fs := newFigures("s")
	target, goal := atMost(0.5)
	fs.target("overhead", "s", "", target, goal)
	for _, v := range []float64{0.7, 0.3, 0.4, 0.2} {
		fs.add("overhead", "s", v)
	}
	fs.add("odd", "ms", 3)
	fs.add("odd", "ms", 1)
	fs.add("odd", "ms", 2)
	fs.get("never", "s")
	for _, f := range fs.list {
		f.summarise()
	}
	o := fs.byName["overhead"]
	require.Equal(t, 0.35, o.Median, "even count: the mean of the middle two")
	require.Equal(t, 0.2, o.Min)
	require.Equal(t, 0.7, o.Max)
	require.Equal(t, "<= 0.5", o.Target)
	require.True(t, *o.Met)
	require.Equal(t, 2.0, fs.byName["odd"].Median)
	require.Nil(t, fs.byName["odd"].Met, "no target, no verdict")

	r := &Results{Runs: 4, Figures: fs.list}
	var b bytes.Buffer
	r.PrintTable(&b)
	require.Contains(t, b.String(), "s: overhead")
	require.Contains(t, b.String(), "met")
	require.Regexp(t, `s: never\s+-\s+-\s+-\s+0`, b.String(), "a figure without samples shows dashes")
	path := filepath.Join(t.TempDir(), "r.json")
	require.NoError(t, r.WriteJSON(path), "no NaN in the JSON")

	fs.byName["overhead"].Samples = []float64{0.9}
	fs.byName["overhead"].summarise()
	require.False(t, *fs.byName["overhead"].Met)
	b.Reset()
	r.PrintTable(&b)
	require.Contains(t, b.String(), "MISSED")
	var back Results
	raw, err := json.Marshal(r)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &back))
	require.Len(t, back.Figures, 3)
}

// The lines the trigger and SNMP scenarios read from their packages' own
// tests, as those tests print them: a change of format fails here first.
func TestScenarioOutputParsers(t *testing.T) {
	m := throughputLine.FindStringSubmatch("    throughput_test.go:64: signals/s: direct client 591, via JetStream trigger 418, ratio 0.71 (target >= 0.9)")
	require.Equal(t, []string{"591", "418", "0.71"}, m[1:])

	table := strings.Join([]string{
		"        1,000 agents                     concurrent   sequential    ratio",
		"        loopback, in-process agents           122ms        116ms     1.0x",
		"        1ms RTT (relay)                       145ms       1.363s     9.4x",
		"        5ms RTT (relay)                       127ms       5.681s    44.7x",
		"        (median of 1 rounds; sequential rows at RTT over fewer rounds; default Concurrency 256)",
	}, "\n")
	rows := pollRow.FindAllStringSubmatch(table, -1)
	require.Len(t, rows, 3)
	require.Equal(t, []string{"loopback, in-process agents", "122ms", "116ms"}, rows[0][1:])
	require.Equal(t, []string{"5ms RTT (relay)", "127ms", "5.681s"}, rows[2][1:])
}
