package benchkit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/nudbgo/nudb"
	"github.com/nudbgo/nudb/internal/killchild"
)

// Nudb is the driver for nudb itself. Its zero value runs nudb at its
// defaults; every field set is printed in the report's settings.
type Nudb struct {
	// RecoveryWindow for reopening after a crash (0: the default minute).
	RecoveryWindow time.Duration
}

// Name implements Driver.
func (Nudb) Name() string { return "nudb" }

// Settings implements Describer.
func (d Nudb) Settings() string {
	s := "defaults; Sync per mode (always: SyncAlways, interval: SyncInterval, never: SyncNever, write-behind: SyncWriteBehind); IOEngine per row; load through InsertBatch, 1000 items a batch"
	if d.RecoveryWindow != 0 {
		s += fmt.Sprintf("; RecoveryWindow %v", d.RecoveryWindow)
	}
	return s
}

// Survives implements Describer.
func (Nudb) Survives(mode string) string {
	switch mode {
	case "always":
		return "a power loss"
	case "write-behind":
		return "neither: held in memory until written behind (at most WriteBehindBytes, 4 MiB)"
	}
	return "a process crash (in the kernel when acknowledged)"
}

// Variants implements Driver: io_uring on a file runs everything; pwrite
// and the raw device run the write and fetch workloads.
func (Nudb) Variants() []Variant {
	return []Variant{
		{Engine: "io_uring", Target: "file", Full: true},
		{Engine: "pwrite", Target: "file"},
		{Engine: "io_uring", Target: "device"},
	}
}

// Modes implements Driver.
func (Nudb) Modes() []string { return []string{"always", "interval", "never", "write-behind"} }

func nudbPaths(v Variant, path, dir string) (data, key string) {
	if v.Target == "device" {
		return path, filepath.Join(dir, "nudb.key")
	}
	return filepath.Join(path, "data"), filepath.Join(path, "key")
}

var nudbModes = map[string]nudb.SyncMode{"always": nudb.SyncAlways, "interval": nudb.SyncInterval, "never": nudb.SyncNever,
	"write-behind": nudb.SyncWriteBehind}

// Open implements Driver.
func (d Nudb) Open(v Variant, path, dir, mode string, fresh bool) (DB, error) {
	data, key := nudbPaths(v, path, dir)
	if fresh {
		if v.Target != "device" {
			os.MkdirAll(path, 0o755)
		}
		if err := nudb.Create(data, key, &nudb.Options{Overwrite: true}); err != nil {
			return nil, err
		}
	}
	opts := &nudb.Options{Sync: nudbModes[mode], RecoveryWindow: d.RecoveryWindow}
	if v.Engine == "pwrite" {
		opts.IOEngine = nudb.IOEnginePwrite
	}
	s, err := nudb.Open(data, key, opts)
	if err != nil {
		return nil, err
	}
	return &nudbDB{s: s}, nil
}

// Rebuild implements Rebuilder: it returns the log's bytes (what a
// rebuild must read), not the bytes read, which count re-read chunk
// overlaps and the preallocated space past the log.
func (Nudb) Rebuild(path, dir string) (int64, error) {
	data, key := nudbPaths(Variant{Target: "file"}, path, dir)
	rep, err := nudb.Rebuild(data, key, nil)
	info, ierr := nudb.Inspect(data, key)
	if err == nil {
		err = ierr
	}
	return rep.End - int64(info.BlockSize), err
}

// WaitUnlocked implements Unlocker: a killed process's io_uring is torn
// down asynchronously and holds the data file's lock for a moment.
func (Nudb) WaitUnlocked(path, dir string) error {
	data, _ := nudbPaths(Variant{Target: "file"}, path, dir)
	if st, err := os.Stat(path); err == nil && !st.IsDir() {
		data = path
	}
	_, err := killchild.WaitUnlocked(data)
	return err
}

type nudbDB struct {
	s *nudb.Store
}

func (db *nudbDB) Load(n int, item func(i int) ([]byte, []byte), progress func(int)) error {
	return loadBatched(n, 1000, item, progress, func(keys, values [][]byte) error {
		var b nudb.Batch
		for j := range keys {
			b.Put(keys[j], values[j])
		}
		_, err := db.s.InsertBatch(&b)
		return err
	})
}

func (db *nudbDB) Put(k, v []byte) error { return db.s.Insert(k, v) }

func (db *nudbDB) Get(k []byte) (bool, error) {
	err := db.s.FetchFunc(k, func([]byte) {})
	if errors.Is(err, nudb.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (db *nudbDB) Count() (int, error) { return int(db.s.Stats().Items), nil }

// BytesWritten implements ByteCounter: the record bytes written since Open.
func (db *nudbDB) BytesWritten() int64 { return int64(db.s.Stats().BytesWritten) }

func (db *nudbDB) Close() error { return db.s.Close() }

// Stats exposes the store's counters (bytes written, recovery).
func (db *nudbDB) Stats() nudb.Stats { return db.s.Stats() }

type nudbStats = nudb.Stats
