package main

import (
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/akrylysov/pogreb"
	"github.com/cockroachdb/pebble/v2"
	"github.com/dgraph-io/badger/v4"
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

// ---- bbolt: one bucket; a transaction per 1000 items for a load; NoSync off
// means every commit fsyncs.

type bboltDriver struct{}

var bucket = []byte("b")

func (bboltDriver) Name() string                 { return "bbolt" }
func (bboltDriver) Variants() []benchkit.Variant { return fileOnly }
func (bboltDriver) Modes() []string              { return []string{"always", "never"} }

func (bboltDriver) Open(_ benchkit.Variant, path, _ string, mode string, isFresh bool) (benchkit.DB, error) {
	fresh(path, isFresh)
	db, err := bolt.Open(filepath.Join(path, "bolt.db"), 0o644, &bolt.Options{NoSync: mode != "always", Timeout: 5 * time.Second})
	if err != nil {
		return nil, err
	}
	err = db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucketIfNotExists(bucket); return err })
	return bboltDB{db}, err
}

type bboltDB struct{ db *bolt.DB }

func (b bboltDB) Load(n int, item func(int) ([]byte, []byte), progress func(int)) error {
	for i := 0; i < n; {
		err := b.db.Update(func(tx *bolt.Tx) error {
			bk := tx.Bucket(bucket)
			for end := min(i+1000, n); i < end; i++ {
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
func (b bboltDB) Put(k, v []byte) error {
	return b.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put(k, v) })
}
func (b bboltDB) Get(k []byte) (found bool, err error) {
	err = b.db.View(func(tx *bolt.Tx) error { found = tx.Bucket(bucket).Get(k) != nil; return nil })
	return
}
func (b bboltDB) Count() (n int, err error) {
	err = b.db.View(func(tx *bolt.Tx) error { n = tx.Bucket(bucket).Stats().KeyN; return nil })
	return
}
func (b bboltDB) Close() error { return b.db.Close() }

// ---- badger: WriteBatch for a load; SyncWrites for durability.

type badgerDriver struct{}

func (badgerDriver) Name() string                 { return "badger" }
func (badgerDriver) Variants() []benchkit.Variant { return fileOnly }
func (badgerDriver) Modes() []string              { return []string{"always", "never"} }

func (badgerDriver) Open(_ benchkit.Variant, path, _ string, mode string, isFresh bool) (benchkit.DB, error) {
	fresh(path, isFresh)
	db, err := badger.Open(badger.DefaultOptions(path).WithSyncWrites(mode == "always").WithLogger(nil))
	if err != nil {
		return nil, err
	}
	return badgerDB{db}, nil
}

type badgerDB struct{ db *badger.DB }

func (b badgerDB) Load(n int, item func(int) ([]byte, []byte), progress func(int)) error {
	wb := b.db.NewWriteBatch()
	defer wb.Cancel()
	for i := 0; i < n; i++ {
		k, v := item(i)
		// The batch keeps the slices until it commits.
		if err := wb.Set(append([]byte(nil), k...), append([]byte(nil), v...)); err != nil {
			return err
		}
		if progress != nil && (i+1)%1000 == 0 {
			progress(i + 1)
		}
	}
	return wb.Flush()
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

// ---- pebble: a batch per 1000 items committed NoSync for a load; Sync per
// write for durability (pebble commits concurrent syncs together).

type pebbleDriver struct{}

func (pebbleDriver) Name() string                 { return "pebble" }
func (pebbleDriver) Variants() []benchkit.Variant { return fileOnly }
func (pebbleDriver) Modes() []string              { return []string{"always", "never"} }

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(format)
}

func (pebbleDriver) Open(_ benchkit.Variant, path, _ string, mode string, isFresh bool) (benchkit.DB, error) {
	fresh(path, isFresh)
	db, err := pebble.Open(path, &pebble.Options{Logger: quietLogger{}})
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
func (gonudbDriver) Modes() []string              { return []string{"always", "never"} }

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
