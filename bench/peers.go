package main

import (
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/akrylysov/pogreb"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/iand/gonudb"
	bolt "go.etcd.io/bbolt"

	"github.com/nudbgo/nudb/benchkit"
)

// Each peer runs on a regular file (they cannot use a raw device), with the
// setting closest to each durability mode, and bulk-loads the idiomatic way.

var fileOnly = []benchkit.Variant{{Target: "file", Full: true}}

func fresh(path string, isFresh bool) {
	if isFresh {
		os.RemoveAll(path)
	}
	os.MkdirAll(path, 0o755)
}

// ---- pogreb: no batches; BackgroundSyncInterval -1 syncs every write.

type pogrebDriver struct{}

func (pogrebDriver) Name() string                 { return "pogreb" }
func (pogrebDriver) Variants() []benchkit.Variant { return fileOnly }
func (pogrebDriver) Modes() []string              { return []string{"always", "interval", "never"} }
func (pogrebDriver) Settings() string {
	return "BackgroundSyncInterval per mode (always: -1, fsync on every Put; interval: 1s; never: 0); pogreb has no batches"
}
func (pogrebDriver) Survives(mode string) string {
	if mode == "always" {
		return "a power loss"
	}
	return "a process crash (written to the segment file by Put)"
}
func (pogrebDriver) NotApplicable(workload string) string {
	if workload == "rebuild" {
		return "pogreb rebuilds its index file itself when it opens after a crash; it has no rebuild call"
	}
	return ""
}

func (pogrebDriver) Open(_ benchkit.Variant, path, _ string, mode string, isFresh bool) (benchkit.DB, error) {
	fresh(path, isFresh)
	sync := map[string]time.Duration{"always": -1, "interval": time.Second, "never": 0}[mode]
	db, err := pogreb.Open(path, &pogreb.Options{BackgroundSyncInterval: sync})
	if err != nil {
		return nil, err
	}
	return pogrebDB{db}, nil
}

type pogrebDB struct{ db *pogreb.DB }

func (p pogrebDB) Load(n int, item func(int) ([]byte, []byte), progress func(int)) error {
	for i := 0; i < n; i++ {
		k, v := item(i)
		if err := p.db.Put(k, v); err != nil {
			return err
		}
		if progress != nil && (i+1)%1000 == 0 {
			progress(i + 1)
		}
	}
	return nil
}
func (p pogrebDB) Put(k, v []byte) error { return p.db.Put(k, v) }
func (p pogrebDB) Get(k []byte) (bool, error) {
	v, err := p.db.Get(k)
	return v != nil, err
}
func (p pogrebDB) Count() (int, error) { return int(p.db.Count()), nil }
func (p pogrebDB) Close() error        { return p.db.Close() }

// ---- bbolt: one bucket; NoFreelistSync and the map freelist, as bbolt's
// own docs advise for write-heavy use; a load commits 100,000 items a
// transaction; concurrent durable writers go through db.Batch (commits
// shared, 1 ms MaxBatchDelay), a single one through Update.

type bboltDriver struct{}

var bucket = []byte("b")

func (bboltDriver) Name() string                 { return "bbolt" }
func (bboltDriver) Variants() []benchkit.Variant { return fileOnly }
func (bboltDriver) Modes() []string              { return []string{"always", "never"} }
func (bboltDriver) Settings() string {
	return "NoFreelistSync, FreelistMapType, NoSync per mode (always: off, never: on), MaxBatchDelay 1ms; load: 100,000 items a transaction; 16 writers: db.Batch"
}
func (bboltDriver) Survives(mode string) string {
	if mode == "always" {
		return "a power loss"
	}
	return "a process crash (NoSync: the commit's pwrites reach the kernel)"
}
func (bboltDriver) NotApplicable(workload string) string {
	if workload == "rebuild" {
		return "bbolt's B+tree is its data; there is no separate index to rebuild"
	}
	return ""
}

func (bboltDriver) Open(_ benchkit.Variant, path, _ string, mode string, isFresh bool) (benchkit.DB, error) {
	fresh(path, isFresh)
	db, err := bolt.Open(filepath.Join(path, "bolt.db"), 0o644, &bolt.Options{NoSync: mode != "always", Timeout: 5 * time.Second,
		NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, err
	}
	db.MaxBatchDelay = time.Millisecond
	err = db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucketIfNotExists(bucket); return err })
	return &bboltDB{db: db}, err
}

type bboltDB struct {
	db    *bolt.DB
	batch bool // several writers: share commits through db.Batch
}

// SetWriters implements benchkit.WriterHint.
func (b *bboltDB) SetWriters(n int) { b.batch = n > 1 }

func (b *bboltDB) Load(n int, item func(int) ([]byte, []byte), progress func(int)) error {
	per := 100_000
	if progress != nil {
		per = 1000 // the crash child reports each commit
	}
	for i := 0; i < n; {
		err := b.db.Update(func(tx *bolt.Tx) error {
			bk := tx.Bucket(bucket)
			for end := min(i+per, n); i < end; i++ {
				k, v := item(i)
				if err := bk.Put(k, v); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if progress != nil {
			progress(i)
		}
	}
	return nil
}
func (b *bboltDB) Put(k, v []byte) error {
	put := func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put(k, v) }
	if b.batch {
		return b.db.Batch(put)
	}
	return b.db.Update(put)
}
func (b *bboltDB) Get(k []byte) (found bool, err error) {
	err = b.db.View(func(tx *bolt.Tx) error { found = tx.Bucket(bucket).Get(k) != nil; return nil })
	return
}
func (b *bboltDB) Count() (n int, err error) {
	err = b.db.View(func(tx *bolt.Tx) error { n = tx.Bucket(bucket).Stats().KeyN; return nil })
	return
}
func (b *bboltDB) Close() error { return b.db.Close() }

// ---- badger: conflict detection and compression off (unique keys,
// random values); WriteBatch for a load; SyncWrites for durability.

type badgerDriver struct{}

func (badgerDriver) Name() string                 { return "badger" }
func (badgerDriver) Variants() []benchkit.Variant { return fileOnly }
func (badgerDriver) Modes() []string              { return []string{"always", "never"} }
func (badgerDriver) Settings() string {
	return "DetectConflicts off, Compression none, SyncWrites per mode (always: on), logger off; load: one WriteBatch"
}
func (badgerDriver) Survives(mode string) string {
	if mode == "always" {
		return "a power loss"
	}
	return "a process crash (the memtable's WAL is a shared mapping)"
}
func (badgerDriver) NotApplicable(workload string) string {
	if workload == "rebuild" {
		return "badger's LSM tree is its index and replays its own WAL; there is no rebuild call"
	}
	return ""
}

func (badgerDriver) Open(_ benchkit.Variant, path, _ string, mode string, isFresh bool) (benchkit.DB, error) {
	fresh(path, isFresh)
	opts := badger.DefaultOptions(path).WithSyncWrites(mode == "always").WithLogger(nil).
		WithDetectConflicts(false).WithCompression(options.None)
	db, err := badger.Open(opts)
	if err != nil {
		return nil, err
	}
	return badgerDB{db}, nil
}

type badgerDB struct{ db *badger.DB }

// Load writes through one WriteBatch. The crash child (progress set)
// flushes a batch per 1000 items and counts an item only after its
// batch's Flush returned: an item in an unflushed batch is not written.
func (b badgerDB) Load(n int, item func(int) ([]byte, []byte), progress func(int)) error {
	per := n
	if progress != nil {
		per = 1000
	}
	for i := 0; i < n; {
		wb := b.db.NewWriteBatch()
		for end := min(i+per, n); i < end; i++ {
			k, v := item(i)
			// The batch keeps the slices until it commits.
			if err := wb.Set(append([]byte(nil), k...), append([]byte(nil), v...)); err != nil {
				wb.Cancel()
				return err
			}
		}
		if err := wb.Flush(); err != nil {
			return err
		}
		if progress != nil {
			progress(i)
		}
	}
	return nil
}
func (b badgerDB) Put(k, v []byte) error {
	return b.db.Update(func(txn *badger.Txn) error { return txn.Set(k, v) })
}
func (b badgerDB) Get(k []byte) (found bool, err error) {
	err = b.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(k)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		found = err == nil
		return err
	})
	return
}
func (b badgerDB) Count() (n int, err error) {
	err = b.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	return
}
func (b badgerDB) Close() error { return b.db.Close() }

// ---- pebble, configured as its operators do for point lookups of random
// values: a block cache that holds the working set, Bloom filters on every
// level, 64 MB memtables, no compression. A load commits batches of 1000
// NoSync (sorted SSTable ingestion, pebble's bulk path, needs sorted keys:
// these arrive unsorted); durable writes Sync (pebble commits concurrent
// syncs together).

type pebbleDriver struct{}

func (pebbleDriver) Name() string                 { return "pebble" }
func (pebbleDriver) Variants() []benchkit.Variant { return fileOnly }
func (pebbleDriver) Modes() []string              { return []string{"always", "never"} }
func (pebbleDriver) Settings() string {
	return "Cache 512 MiB, bloom.FilterPolicy(10) on every level, MemTableSize 64 MiB, no compression, logger off; Sync per mode (always: pebble.Sync, never: pebble.NoSync); load: batches of 1000 NoSync"
}
func (pebbleDriver) Survives(mode string) string {
	if mode == "always" {
		return "a power loss"
	}
	return "neither: NoSync leaves the WAL's tail in pebble's buffer until its flush goroutine writes it"
}
func (pebbleDriver) NotApplicable(workload string) string {
	if workload == "rebuild" {
		return "pebble's LSM tree is its index and replays its own WAL; there is no rebuild call"
	}
	return ""
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(format)
}

func (pebbleDriver) Open(_ benchkit.Variant, path, _ string, mode string, isFresh bool) (benchkit.DB, error) {
	fresh(path, isFresh)
	cache := pebble.NewCache(512 << 20)
	opts := &pebble.Options{Logger: quietLogger{}, Cache: cache, MemTableSize: 64 << 20}
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	opts.ApplyCompressionSettings(func() pebble.DBCompressionSettings { return pebble.DBCompressionNone })
	db, err := pebble.Open(path, opts)
	cache.Unref() // the DB holds its own reference
	if err != nil {
		return nil, err
	}
	w := pebble.NoSync
	if mode == "always" {
		w = pebble.Sync
	}
	return pebbleDB{db, w}, nil
}

type pebbleDB struct {
	db *pebble.DB
	wo *pebble.WriteOptions
}

func (p pebbleDB) Load(n int, item func(int) ([]byte, []byte), progress func(int)) error {
	for i := 0; i < n; {
		b := p.db.NewBatch()
		for end := min(i+1000, n); i < end; i++ {
			k, v := item(i)
			b.Set(k, v, nil) // copies
		}
		if err := b.Commit(pebble.NoSync); err != nil {
			return err
		}
		b.Close()
		if progress != nil {
			progress(i)
		}
	}
	return nil
}
func (p pebbleDB) Put(k, v []byte) error { return p.db.Set(k, v, p.wo) }
func (p pebbleDB) Get(k []byte) (bool, error) {
	_, closer, err := p.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, closer.Close()
}
func (p pebbleDB) Count() (n int, err error) {
	it, err := p.db.NewIter(nil)
	if err != nil {
		return 0, err
	}
	for it.First(); it.Valid(); it.Next() {
		n++
	}
	return n, it.Close()
}
func (p pebbleDB) Close() error { return p.db.Close() }

// ---- gonudb: a Go port of NuDB; inserts are buffered and flushed by a
// background sync (at least every second); Flush after each insert for
// durability.

type gonudbDriver struct{}

func (gonudbDriver) Name() string                 { return "gonudb" }
func (gonudbDriver) Variants() []benchkit.Variant { return fileOnly }
func (gonudbDriver) Modes() []string              { return []string{"never"} }
func (gonudbDriver) Settings() string {
	return "CreateStore(appnum 1, salt 1, block 4096, load factor 0.5), BackgroundSyncInterval 1s"
}
func (gonudbDriver) Survives(string) string {
	return "neither: inserts wait in memory for Flush or the background sync"
}
func (gonudbDriver) NotApplicable(workload string) string {
	switch workload {
	case "durable":
		return "gonudb has no per-write durability (Flush writes every buffered insert, no group commit)"
	case "open-crash":
		return "gonudb has no recovery: a store killed mid-write is not reopened consistently"
	case "rebuild":
		return "gonudb has no rebuild or recover tool"
	}
	return ""
}

func (gonudbDriver) Open(_ benchkit.Variant, path, _ string, mode string, isFresh bool) (benchkit.DB, error) {
	fresh(path, isFresh)
	dat, key, log := filepath.Join(path, "nudb.dat"), filepath.Join(path, "nudb.key"), filepath.Join(path, "nudb.log")
	if isFresh {
		if err := gonudb.CreateStore(dat, key, log, 1, 1, 4096, 0.5); err != nil {
			return nil, err
		}
	}
	s, err := gonudb.OpenStore(dat, key, log, &gonudb.StoreOptions{BackgroundSyncInterval: time.Second})
	if err != nil {
		return nil, err
	}
	return gonudbDB{s, mode == "always"}, nil
}

type gonudbDB struct {
	s     *gonudb.Store
	flush bool
}

func (g gonudbDB) Load(n int, item func(int) ([]byte, []byte), progress func(int)) error {
	for i := 0; i < n; i++ {
		k, v := item(i)
		if err := g.s.Insert(string(k), append([]byte(nil), v...)); err != nil {
			return err
		}
		if progress != nil && (i+1)%1000 == 0 {
			progress(i + 1)
		}
	}
	return nil
}
func (g gonudbDB) Put(k, v []byte) error {
	if err := g.s.Insert(string(k), append([]byte(nil), v...)); err != nil {
		return err
	}
	if g.flush {
		return g.s.Flush()
	}
	return nil
}
func (g gonudbDB) Get(k []byte) (bool, error) {
	_, err := g.s.Fetch(string(k))
	if errors.Is(err, gonudb.ErrKeyNotFound) {
		return false, nil
	}
	return err == nil, err
}
func (g gonudbDB) Count() (int, error) { return g.s.RecordCount(), nil }
func (g gonudbDB) Close() error        { return g.s.Close() }
