package pdns

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// dbFile is the sqlite3 database's name inside Options.Dir.
const dbFile = "pdns.sqlite3"

// schemaPaths are where Debian's pdns-backend-sqlite3 puts the schema. The
// /usr/share/doc copy is a symlink to the first and vanishes on images that
// strip documentation; the .gz names cover packagings that compress it.
var schemaPaths = []string{
	"/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql",
	"/usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql",
	"/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql.gz",
	"/usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql.gz",
}

// readSchema returns the first schema found in paths, gunzipped if needed.
func readSchema(paths []string) ([]byte, string, error) {
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, p, fmt.Errorf("pdns: read schema %s: %w", p, err)
		}
		if strings.HasSuffix(p, ".gz") {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				return nil, p, fmt.Errorf("pdns: schema %s is not gzip: %w", p, err)
			}
			if b, err = io.ReadAll(zr); err != nil {
				return nil, p, fmt.Errorf("pdns: gunzip schema %s: %w", p, err)
			}
		}
		return b, p, nil
	}
	return nil, "", fmt.Errorf("pdns: sqlite3 schema not found in %s (install pdns-backend-sqlite3)", strings.Join(paths, ", "))
}

// ensureDB creates the database at path from the schema unless it exists.
// It is built under a temporary name and renamed, so a failed creation
// leaves nothing that a later start would take for a good database.
func ensureDB(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("pdns: database %s: %w", path, err)
	}
	schema, from, err := readSchema(schemaPaths)
	if err != nil {
		return err
	}
	if _, err := exec.LookPath("sqlite3"); err != nil {
		return fmt.Errorf("pdns: the sqlite3 command is needed to create %s (apt-get install sqlite3): %w", path, err)
	}
	tmp := path + ".new"
	_ = os.Remove(tmp)
	cmd := exec.CommandContext(ctx, "sqlite3", "-bail", tmp)
	cmd.Stdin = bytes.NewReader(schema)
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("pdns: create database %s from %s: %w: %s", path, from, err, strings.TrimSpace(string(out)))
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("pdns: create database %s: %w", path, err)
	}
	return nil
}
