package platform

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// FuzzParse checks that no input makes Parse panic, that every failure is a
// *ValidationError, and that whatever Parse accepts survives Marshal→Parse.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("testdata/*.yaml")
	require.NoError(f, err)
	base := ""
	for _, file := range files {
		data, err := os.ReadFile(file)
		require.NoError(f, err)
		f.Add(data)
		if filepath.Base(file) == "base.yaml" {
			base = string(data)
		}
	}
	for _, tc := range badCases {
		if tc.whole != nil {
			f.Add([]byte(*tc.whole))
		} else {
			f.Add([]byte(strings.Replace(base, tc.old, tc.new, 1)))
		}
	}
	f.Add([]byte("a: &a [*a, *a]\nsites: &s [*s]\n"))
	f.Add([]byte("failover: &f {<<: [*f, *f]}\n"))

	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz.yaml", data)
		if err != nil {
			var verr *ValidationError
			require.ErrorAs(t, err, &verr)
			require.NotEmpty(t, verr.Errors)
			return
		}
		out, err := Marshal(p)
		require.NoError(t, err)
		back, err := Parse("marshalled.yaml", out)
		require.NoError(t, err, "marshalled form of an accepted file was rejected:\n%s", out)
		require.Equal(t, p, back)
	})
}

// Aliases let a small file name a huge tree; the parser must stop early
// rather than expand it (or compare every subnet with every other).
func TestAliasExpansionIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("regions:\n  r0: &r\n    subnets: [")
	for i := 0; i < 1000; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("10.0.0.0/8")
	}
	b.WriteString("]\n")
	for i := 1; i < 300; i++ {
		b.WriteString("  r" + strings.Repeat("x", i%5) + string(rune('a'+i%26)) + strings.Repeat("y", i/26) + ": *r\n")
	}
	start := time.Now()
	_, err := Parse("bomb.yaml", []byte(b.String()))
	t.Logf("parsed %d bytes in %s", b.Len(), time.Since(start))
	var verr *ValidationError
	require.ErrorAs(t, err, &verr)
	require.Len(t, verr.Errors, 1)
	require.Contains(t, err.Error(), ": regions.")
	require.Contains(t, err.Error(), "the file expands to more than 100000 nodes (through aliases?); simplify it")
}

func TestMergeExpansionIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("x0: &m0 {mode: automatic}\n")
	for i := 1; i < 12; i++ {
		refs := strings.Repeat(fmt.Sprintf("*m%d, ", i-1), 9)
		fmt.Fprintf(&b, "x%d: &m%d {<<: [%s]}\n", i, i, refs[:len(refs)-2])
	}
	b.WriteString("failover: {<<: *m11}\n")
	_, err := Parse("merge.yaml", []byte(b.String()))
	var verr *ValidationError
	require.ErrorAs(t, err, &verr)
	require.Len(t, verr.Errors, 1)
	require.Contains(t, err.Error(), "the file expands to more than 100000 nodes (through aliases?); simplify it")
}
