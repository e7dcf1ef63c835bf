package nudbipfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"

	"github.com/nudbgo/nudb"
	"github.com/nudbgo/nudb/rotate"
)

// Datastore is a go-datastore Batching datastore over a rotate.Set, for
// content-addressed mounts such as Kubo's /blocks. Each datastore key is
// hashed (SHA-256) to the store's 32-byte key; the key itself is kept with
// the value, so Query lists keys and a read checks it found the key asked
// for.
type Datastore struct {
	set *rotate.Set
}

var _ ds.Batching = (*Datastore)(nil)

// NewDatastore serves a datastore from set, whose key size must be 32.
// Close closes the set.
func NewDatastore(set *rotate.Set) (*Datastore, error) {
	if err := checkKeySize(set); err != nil {
		return nil, err
	}
	return &Datastore{set: set}, nil
}

func checkKeySize(set *rotate.Set) error {
	if set.KeySize() != 32 {
		return fmt.Errorf("%w: the set's keys are %d bytes, the IPFS adapters need 32", nudb.ErrInvalidOptions, set.KeySize())
	}
	return nil
}

// Set is the set of generations the datastore writes to.
func (d *Datastore) Set() *rotate.Set { return d.set }

func dsKey(k ds.Key) (name []byte, key [32]byte) {
	name = k.Bytes()
	return name, storeKey(name)
}

// view calls fn with the data stored under k.
func (d *Datastore) view(k ds.Key, fn func(data []byte)) error {
	err := viewNamed(d.set, k.Bytes(), func(b []byte) error { fn(b); return nil })
	if errors.Is(err, nudb.ErrNotFound) {
		return ds.ErrNotFound
	}
	return err
}

// Get returns a copy of the value stored under k.
func (d *Datastore) Get(ctx context.Context, k ds.Key) ([]byte, error) {
	var v []byte
	err := d.view(k, func(b []byte) { v = bytes.Clone(b) })
	return v, err
}

// Has reports whether k is stored.
func (d *Datastore) Has(ctx context.Context, k ds.Key) (bool, error) {
	_, key := dsKey(k)
	return d.set.Exists(key[:])
}

// GetSize returns the length of k's value without reading it.
func (d *Datastore) GetSize(ctx context.Context, k ds.Key) (int, error) {
	n, err := sizeNamed(d.set, k.Bytes())
	if errors.Is(err, nudb.ErrNotFound) {
		return -1, ds.ErrNotFound
	}
	return n, err
}

// Put stores value under k. Putting the value a key holds again writes
// nothing (the common case of a content-addressed mount). Putting another
// value replaces it as a Delete and a Put would (rotate.Set.Insert): the
// new value wins at once and across restarts, and when the newest
// generation held the old value it costs a new generation, so the adapter
// suits mounts whose values rarely change.
func (d *Datastore) Put(ctx context.Context, k ds.Key, value []byte) error {
	name, key := dsKey(k)
	v := frame(name, value)
	err := d.set.Insert(key[:], v)
	if !errors.Is(err, nudb.ErrKeyExists) {
		return err
	}
	if same, err := d.holds(k, value); same || err != nil {
		return err
	}
	if err := d.set.Delete(key[:]); err != nil {
		return err
	}
	return d.set.Insert(key[:], v)
}

// holds reports whether k holds value.
func (d *Datastore) holds(k ds.Key, value []byte) (bool, error) {
	same := false
	err := d.view(k, func(b []byte) { same = bytes.Equal(b, value) })
	if errors.Is(err, ds.ErrNotFound) {
		return false, nil
	}
	return same, err
}

// Delete removes k (rotate.Set.Delete: hidden at once, dropped by the
// next rotation that retires it). Deleting an absent key does nothing.
func (d *Datastore) Delete(ctx context.Context, k ds.Key) error {
	_, key := dsKey(k)
	return d.set.Delete(key[:])
}

// Sync makes every Put and Delete durable (all prefixes: the set syncs as
// a whole).
func (d *Datastore) Sync(ctx context.Context, prefix ds.Key) error { return d.set.Sync() }

// Close closes the set.
func (d *Datastore) Close() error { return d.set.Close() }

// Query walks the set (rotate.Set.VisitContext) and applies the query's
// prefix, filters, orders, offset and limit to what it yields
// (query.NaiveQueryApply). The walk streams: only orders make it hold the
// results. Close the results to end a walk early: a walk in progress
// holds off the end of a rotation.
func (d *Datastore) Query(ctx context.Context, q query.Query) (query.Results, error) {
	walk := query.ResultsWithContext(q, func(qctx context.Context, out chan<- query.Result) {
		err := d.set.VisitContext(qctx, func(_, v []byte) error {
			name, data, err := unframe(v)
			if err != nil {
				return err
			}
			e := query.Entry{Key: string(name), Size: len(data)}
			if !q.KeysOnly {
				e.Value = bytes.Clone(data)
			}
			select {
			case out <- query.Result{Entry: e}:
				return nil
			case <-qctx.Done():
				return qctx.Err()
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		if err != nil && !errors.Is(err, context.Canceled) {
			select {
			case out <- query.Result{Error: err}:
			case <-qctx.Done():
			case <-ctx.Done():
			}
		}
	})
	return query.NaiveQueryApply(q, walk), nil
}

// Batch returns a batch whose puts go into one InsertBatch at Commit.
func (d *Datastore) Batch(ctx context.Context) (ds.Batch, error) {
	return &batch{d: d, ops: map[string]batchOp{}}, nil
}

type batchOp struct {
	value  []byte
	delete bool
}

// batch keeps the last operation per key; Commit applies the deletes,
// then the puts with one InsertBatch.
type batch struct {
	d   *Datastore
	ops map[string]batchOp
}

func (b *batch) Put(ctx context.Context, k ds.Key, value []byte) error {
	b.ops[k.String()] = batchOp{value: bytes.Clone(value)}
	return nil
}

func (b *batch) Delete(ctx context.Context, k ds.Key) error {
	b.ops[k.String()] = batchOp{delete: true}
	return nil
}

func (b *batch) Commit(ctx context.Context) error {
	var dels [][]byte
	var puts nudb.Batch
	var stored []ds.Key
	for s, op := range b.ops {
		k := ds.RawKey(s)
		name, key := dsKey(k)
		if op.delete {
			dels = append(dels, key[:])
			continue
		}
		if ok, err := b.d.set.Exists(key[:]); err != nil {
			return err
		} else if ok {
			stored = append(stored, k)
			continue
		}
		puts.Put(key[:], frame(name, op.value))
	}
	if err := b.d.set.Delete(dels...); err != nil {
		return err
	}
	if _, err := b.d.set.InsertBatch(&puts); err != nil {
		return err
	}
	// Keys stored already go through Put, which writes nothing when they
	// hold the value put and replaces it otherwise.
	for _, k := range stored {
		if err := b.d.Put(ctx, k, b.ops[k.String()].value); err != nil {
			return err
		}
	}
	clear(b.ops)
	return nil
}

// CollectGarbage rotates the set, keeping every key not deleted: what
// Delete hid leaves the disk once the generations holding it are retired
// (two calls with the default two generations). Kubo's GC deletes the
// unpinned blocks one by one; call this after it, or on a timer.
func (d *Datastore) CollectGarbage(ctx context.Context) (rotate.Report, error) {
	return d.set.Rotate(ctx, nil)
}
