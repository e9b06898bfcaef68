package tests

import (
	"os"
	"path/filepath"
	"testing"
)

// TestMain removes the mdc binary mdcBinary built for this test process
// (a quarter of a gigabyte in a temp dir of its own) once the tests end.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildErr == nil && binPath != "" {
		_ = os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}
