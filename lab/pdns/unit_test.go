package pdns

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSetGeoAValidatesBeforeCallingTheAPI(t *testing.T) {
	// Nothing listens here: each error must come from validation.
	c := NewClient("http://127.0.0.1:1", "k")
	ctx := context.Background()
	require.ErrorContains(t, c.SetGeoA(ctx, "mdc.test.", "www.other.test.", 30, nil, "127.1.0.2"), "not inside zone mdc.test.")
	require.ErrorContains(t, c.SetGeoA(ctx, "mdc.test.", "www.mdc.test.", -1, nil, "127.1.0.2"), "TTL -1 must be positive")
	require.ErrorContains(t, c.SetGeoA(ctx, "mdc.test.", "www.mdc.test.", 30, nil, ""), "fallback")
	require.ErrorContains(t, c.EnsureZone(ctx, "", "ns1."), "must both be non-empty")
}

func TestOptionsValidate(t *testing.T) {
	require.NoError(t, Options{Dir: "/x", DNSAddr: "127.0.0.1:53", APIAddr: "127.0.0.1:8081", APIKey: "k"}.validate())
	err := Options{DNSAddr: "127.0.0.1", APIKey: "has space"}.validate()
	require.ErrorContains(t, err, "Dir is empty")
	require.ErrorContains(t, err, `DNSAddr "127.0.0.1" is not ip:port`)
	require.ErrorContains(t, err, `APIAddr "" is not ip:port`)
	require.ErrorContains(t, err, "APIKey must be non-empty")
	require.NotContains(t, err.Error(), "has space")
}

func TestReadSchema(t *testing.T) {
	dir := t.TempDir()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte("CREATE TABLE x (id INTEGER);\n"))
	require.NoError(t, zw.Close())
	gzPath := filepath.Join(dir, "schema.sql.gz")
	require.NoError(t, os.WriteFile(gzPath, gz.Bytes(), 0o644))

	b, from, err := readSchema([]string{filepath.Join(dir, "missing.sql"), gzPath})
	require.NoError(t, err)
	require.Equal(t, gzPath, from)
	require.Equal(t, "CREATE TABLE x (id INTEGER);\n", string(b))

	_, _, err = readSchema([]string{filepath.Join(dir, "missing.sql")})
	require.ErrorContains(t, err, "install pdns-backend-sqlite3")

	// The installed Debian schema is found and defines the records table.
	skipShort(t)
	b, _, err = readSchema(schemaPaths)
	require.NoError(t, err)
	require.Contains(t, string(b), "CREATE TABLE records")
}

func TestEnsureDBKeepsExistingDatabase(t *testing.T) {
	skipShort(t) // needs Debian's schema and the sqlite3 command
	path := filepath.Join(t.TempDir(), dbFile)
	require.NoError(t, ensureDB(context.Background(), path))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.NotZero(t, fi.Size())
	require.NoError(t, os.WriteFile(path, []byte("kept"), 0o644))
	require.NoError(t, ensureDB(context.Background(), path))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "kept", string(b))
}
