package nudbipfs

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	mh "github.com/multiformats/go-multihash"

	"github.com/nudbgo/nudb/rotate"
)

func newBlockstore(t testing.TB, opts *rotate.Options) *Blockstore {
	t.Helper()
	bs, err := NewBlockstore(openSet(t, t.TempDir(), opts))
	if err != nil {
		t.Fatal(err)
	}
	return bs
}

// testBlock is a raw block of n pseudo-random bytes (seeded by i), CIDv1
// with the codec given.
func testBlock(t testing.TB, i, n int, codec uint64) blocks.Block {
	data := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(i), uint64(n)))
	for j := range data {
		data[j] = byte(r.Uint32())
	}
	h, err := mh.Sum(data, mh.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := blocks.NewBlockWithCid(data, cid.NewCidV1(codec, h))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Every Blockstore method against blocks of several sizes: what is put is
// got back (Get, View, GetSize without reading), a missing block is
// ipld.ErrNotFound, blocks are keyed by multihash (another codec finds the
// same block), DeleteBlock hides a block, AllKeysChan lists each block
// once, and a cancelled context stops it.
func TestBlockstore(t *testing.T) {
	ctx := t.Context()
	bs := newBlockstore(t, nil)
	var bl []blocks.Block
	for i, n := range []int{0, 1, 100, 65535, 65536, 256 << 10, 1 << 20} {
		bl = append(bl, testBlock(t, i, n, cid.Raw))
	}
	if err := bs.Put(ctx, bl[0]); err != nil {
		t.Fatal(err)
	}
	if err := bs.PutMany(ctx, bl); err != nil { // bl[0] again: skipped
		t.Fatal(err)
	}
	if err := bs.Put(ctx, bl[1]); err != nil {
		t.Fatalf("put of a stored block: %v", err)
	}
	for _, b := range bl {
		got, err := bs.Get(ctx, b.Cid())
		if err != nil || !bytes.Equal(got.RawData(), b.RawData()) || !got.Cid().Equals(b.Cid()) {
			t.Fatalf("get %s: %v", b.Cid(), err)
		}
		if n, err := bs.GetSize(ctx, b.Cid()); err != nil || n != len(b.RawData()) {
			t.Fatalf("GetSize %s: %d %v, want %d", b.Cid(), n, err, len(b.RawData()))
		}
		if ok, err := bs.Has(ctx, b.Cid()); !ok || err != nil {
			t.Fatalf("has %s: %v %v", b.Cid(), ok, err)
		}
		sentinel := errors.New("from the callback")
		if err := bs.View(ctx, b.Cid(), func(v []byte) error {
			if !bytes.Equal(v, b.RawData()) {
				t.Fatal("View saw other bytes")
			}
			return sentinel
		}); !errors.Is(err, sentinel) {
			t.Fatalf("View did not return the callback's error: %v", err)
		}
		dagCid := cid.NewCidV1(cid.DagProtobuf, b.Cid().Hash())
		if ok, _ := bs.Has(ctx, dagCid); !ok {
			t.Fatal("the same multihash under another codec is not found")
		}
	}
	missing := testBlock(t, 99, 10, cid.Raw).Cid()
	if _, err := bs.Get(ctx, missing); !ipld.IsNotFound(err) {
		t.Fatalf("get of a missing block: %v", err)
	}
	if n, err := bs.GetSize(ctx, missing); !ipld.IsNotFound(err) || n != -1 {
		t.Fatalf("GetSize of a missing block: %d %v", n, err)
	}
	if err := bs.DeleteBlock(ctx, bl[2].Cid()); err != nil {
		t.Fatal(err)
	}
	if ok, _ := bs.Has(ctx, bl[2].Cid()); ok {
		t.Fatal("a deleted block is still there")
	}
	ch, errFn, err := bs.AllKeysChanWithErr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for c := range ch {
		listed = append(listed, c.Hash().String())
	}
	if err := errFn(); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i, b := range bl {
		if i != 2 {
			want = append(want, b.Cid().Hash().String())
		}
	}
	slices.Sort(listed)
	slices.Sort(want)
	if !slices.Equal(listed, want) {
		t.Fatalf("AllKeysChan listed %d keys, want %d", len(listed), len(want))
	}
	cctx, cancel := context.WithCancel(ctx)
	ch, errFn, _ = bs.AllKeysChanWithErr(cctx)
	<-ch
	cancel()
	for range ch {
	}
	if err := errFn(); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled AllKeysChan ended with %v", err)
	}
}

// CollectGarbage keeps the live blocks and the ones put during it, drops
// the rest, and the deleted ones stay gone.
func TestCollectGarbage(t *testing.T) {
	ctx := t.Context()
	bs := newBlockstore(t, &rotate.Options{Generations: 1})
	var all []blocks.Block
	for i := range 200 {
		all = append(all, testBlock(t, i, 1000+i, cid.Raw))
	}
	if err := bs.PutMany(ctx, all); err != nil {
		t.Fatal(err)
	}
	live := func(yield func(cid.Cid) bool) {
		for i := 0; i < len(all); i += 3 {
			if !yield(all[i].Cid()) {
				return
			}
		}
	}
	bs.DeleteBlock(ctx, all[3].Cid())
	rep, err := bs.CollectGarbage(ctx, live)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range all {
		ok, _ := bs.Has(ctx, b.Cid())
		if want := i%3 == 0 && i != 3; ok != want {
			t.Fatalf("block %d: has %v, want %v (%+v)", i, ok, want, rep)
		}
	}
	if rep.Copied != 66 || rep.Deleted != 1 || rep.Dropped != 133 {
		t.Fatalf("report %+v", rep)
	}
}
