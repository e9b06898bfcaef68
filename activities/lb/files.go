package lb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// writeAtomic replaces path with data so that a reader (HAProxy or nginx
// starting, `nginx -t`) sees the old file or the new one, never half of one:
// write a temporary file in the same directory, fsync, rename, fsync the
// directory. The temporary name ends in .tmp so that neither HAProxy
// (*.cfg) nor an nginx include glob picks it up.
func writeAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// lockDir takes an exclusive flock on a lock file in dir, so that two
// activities (in this worker or another one on the machine) never
// read-modify-write the same config file at once. It polls rather than
// blocks so that ctx can end the wait; unlock releases it.
func lockDir(ctx context.Context, dir, name string) (unlock func(), err error) {
	path := filepath.Join(dir, "."+name+".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file %s: %w", path, err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil // closing releases the lock
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: another mdc activity holds it: %w", path, err)
		}
	}
}
