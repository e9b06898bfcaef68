package platform

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func TestDurationYAML(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		out  string
	}{
		{"30s", 30 * time.Second, "30s"},
		{"5m", 5 * time.Minute, "5m"},
		{"10m", 10 * time.Minute, "10m"},
		{"1h", time.Hour, "1h"},
		{"1h30m", 90 * time.Minute, "1h30m"},
		{"90s", 90 * time.Second, "1m30s"},
		{"1h0m10s", time.Hour + 10*time.Second, "1h0m10s"},
		{"250ms", 250 * time.Millisecond, "250ms"},
		{"0s", 0, "0s"},
		{"-1m", -time.Minute, "-1m"},
	} {
		var d Duration
		require.NoError(t, yaml.Unmarshal([]byte(tc.in), &d), tc.in)
		require.Equal(t, tc.want, d.Duration, tc.in)
		out, err := yaml.Marshal(d)
		require.NoError(t, err)
		require.Equal(t, tc.out+"\n", string(out), tc.in)
	}
}

func TestDurationRejectsBareNumbers(t *testing.T) {
	var d Duration
	err := yaml.Unmarshal([]byte("30"), &d)
	require.ErrorContains(t, err, `expected a duration with a unit, got the bare number 30; write "30s" for seconds or "30m" for minutes`)
	err = yaml.Unmarshal([]byte("1.5"), &d)
	require.ErrorContains(t, err, `got the bare number 1.5`)
	err = yaml.Unmarshal([]byte("[1]"), &d)
	require.ErrorContains(t, err, `expected a duration such as "30s" or "5m", got a list`)
	err = yaml.Unmarshal([]byte("soon"), &d)
	require.ErrorContains(t, err, `expected a duration such as "30s", "5m" or "1h30m", got "soon"`)
}
