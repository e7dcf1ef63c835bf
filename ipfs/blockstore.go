package nudbipfs

import (
	"bytes"
	"context"
	"errors"
	"iter"

	"github.com/ipfs/boxo/blockstore"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/nudbgo/nudb"
	"github.com/nudbgo/nudb/rotate"
)

// Blockstore is a boxo blockstore.Blockstore (with Viewer and
// AllKeysChanWithErrer) over a rotate.Set. Blocks are keyed by multihash,
// as boxo's own blockstore keys them: two CIDs with the same multihash and
// different codecs are one block, and AllKeysChan returns raw (0x55) CIDv1s.
type Blockstore struct {
	set *rotate.Set
}

var (
	_ blockstore.Blockstore           = (*Blockstore)(nil)
	_ blockstore.Viewer               = (*Blockstore)(nil)
	_ blockstore.AllKeysChanWithErrer = (*Blockstore)(nil)
)

// NewBlockstore serves blocks from set, whose key size must be 32. The
// caller keeps the set and closes it.
func NewBlockstore(set *rotate.Set) (*Blockstore, error) {
	if err := checkKeySize(set); err != nil {
		return nil, err
	}
	return &Blockstore{set: set}, nil
}

// Set is the set of generations the blockstore writes to.
func (bs *Blockstore) Set() *rotate.Set { return bs.set }

// Put stores a block; a block already stored is not written again.
func (bs *Blockstore) Put(ctx context.Context, b blocks.Block) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	mh := []byte(b.Cid().Hash())
	k := storeKey(mh)
	err := bs.set.Insert(k[:], frame(mh, b.RawData()))
	if errors.Is(err, nudb.ErrKeyExists) {
		return nil
	}
	return err
}

// PutMany stores blocks with one wait (rotate.Set.InsertBatch: one record
// and, under SyncAlways, one barrier for the lot, as far as they fit).
func (bs *Blockstore) PutMany(ctx context.Context, bl []blocks.Block) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var batch nudb.Batch
	keys := make([][32]byte, len(bl))
	for i, b := range bl {
		mh := []byte(b.Cid().Hash())
		keys[i] = storeKey(mh)
		batch.Put(keys[i][:], frame(mh, b.RawData()))
	}
	_, err := bs.set.InsertBatch(&batch)
	return err
}

// Has reports whether the block is stored.
func (bs *Blockstore) Has(ctx context.Context, c cid.Cid) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	k := storeKey(c.Hash())
	return bs.set.Exists(k[:])
}

// View calls fn with the block's bytes in place (valid only during the
// call); fn's error is returned. A missing block is ipld.ErrNotFound.
func (bs *Blockstore) View(ctx context.Context, c cid.Cid, fn func([]byte) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := viewNamed(bs.set, c.Hash(), fn)
	if errors.Is(err, nudb.ErrNotFound) {
		return ipld.ErrNotFound{Cid: c}
	}
	return err
}

// Get returns a copy of the block.
func (bs *Blockstore) Get(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	var data []byte
	if err := bs.View(ctx, c, func(b []byte) error { data = bytes.Clone(b); return nil }); err != nil {
		return nil, err
	}
	return blocks.NewBlockWithCid(data, c)
}

// GetSize returns the block's size from the item's length field, without
// reading the block.
func (bs *Blockstore) GetSize(ctx context.Context, c cid.Cid) (int, error) {
	if err := ctx.Err(); err != nil {
		return -1, err
	}
	n, err := sizeNamed(bs.set, c.Hash())
	if errors.Is(err, nudb.ErrNotFound) {
		return -1, ipld.ErrNotFound{Cid: c}
	}
	return n, err
}

// DeleteBlock hides the block at once and drops it at the next rotation
// that retires the generations holding it (rotate.Set.Delete). Deleting a
// block that is not stored does nothing.
func (bs *Blockstore) DeleteBlock(ctx context.Context, c cid.Cid) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	k := storeKey(c.Hash())
	return bs.set.Delete(k[:])
}

// AllKeysChan lists every stored block once as a raw CIDv1; the channel
// closes when the walk ends or ctx is done. Drain the channel or cancel
// ctx: a walk in progress holds off the end of a rotation (which waits to
// take generations out from under it).
func (bs *Blockstore) AllKeysChan(ctx context.Context) (<-chan cid.Cid, error) {
	ch, _, err := bs.AllKeysChanWithErr(ctx)
	return ch, err
}

// AllKeysChanWithErr is AllKeysChan with a function that, once the channel
// is drained, says whether the walk ended early (ctx, an I/O error, a
// damaged record).
func (bs *Blockstore) AllKeysChanWithErr(ctx context.Context) (<-chan cid.Cid, func() error, error) {
	ch := make(chan cid.Cid, 64)
	done := make(chan error, 1)
	go func() {
		defer close(ch)
		done <- bs.set.VisitContext(ctx, func(_, v []byte) error {
			mh, _, err := unframe(v)
			if err != nil {
				return err
			}
			select {
			case ch <- cid.NewCidV1(cid.Raw, bytes.Clone(mh)):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	return ch, func() error { return <-done }, nil
}

// CollectGarbage rotates the set, keeping the blocks whose multihashes
// live yields (with everything inserted while it runs): the blocks of the
// generations it retires that are not in live are dropped and their space
// returns. In Kubo terms, live is the pinned set's closure; hold the GC
// lock (blockstore.GCLocker) across the call as Kubo's GC does.
func (bs *Blockstore) CollectGarbage(ctx context.Context, live iter.Seq[cid.Cid]) (rotate.Report, error) {
	keep := map[[32]byte]struct{}{}
	for c := range live {
		keep[storeKey(c.Hash())] = struct{}{}
	}
	return bs.set.Rotate(ctx, func(k []byte) bool {
		_, ok := keep[[32]byte(k)]
		return ok
	})
}
