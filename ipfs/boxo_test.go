package nudbipfs

import (
	"bytes"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/ipfs/boxo/blockservice"
	chunker "github.com/ipfs/boxo/chunker"
	offline "github.com/ipfs/boxo/exchange/offline"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs/importer"
	unixfsio "github.com/ipfs/boxo/ipld/unixfs/io"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/nudbgo/nudb/internal/testfs"
	"github.com/nudbgo/nudb/rotate"
)

// End to end through code nobody here wrote: boxo's UnixFS importer
// writes a 64 MiB file (and a 4 MiB one) through a blockservice and DAG
// service backed by the nudb blockstore; boxo's UnixFS reader reads both
// back byte for byte after the set is closed and reopened. Then the big
// file is dropped from the live set, garbage is collected by rotation
// (twice: the default two generations keep the newest period), and the
// disk space the big file took returns while the small file still reads.
func TestBoxoUnixFSEndToEnd(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "blocks")
	set, err := rotate.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	dag := func(set *rotate.Set) ipld.DAGService {
		bs, err := NewBlockstore(set)
		if err != nil {
			t.Fatal(err)
		}
		return merkledag.NewDAGService(blockservice.New(bs, offline.Exchange(bs)))
	}
	big, small := randomBytes(1, 64<<20), randomBytes(2, 4<<20)
	var roots []cid.Cid
	ds := dag(set)
	for _, data := range [][]byte{big, small} {
		root, err := importer.BuildDagFromReader(ds, chunker.NewSizeSplitter(bytes.NewReader(data), 256<<10))
		if err != nil {
			t.Fatal(err)
		}
		roots = append(roots, root.Cid())
	}
	if err := set.Close(); err != nil {
		t.Fatal(err)
	}
	if set, err = rotate.Open(dir, nil); err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	ds = dag(set)
	readBack := func(root cid.Cid, want []byte) {
		t.Helper()
		node, err := ds.Get(ctx, root)
		if err != nil {
			t.Fatal(err)
		}
		r, err := unixfsio.NewDagReader(ctx, node, ds)
		if err != nil {
			t.Fatal(err)
		}
		got := sha256.New()
		if n, err := io.Copy(got, r); err != nil || n != int64(len(want)) {
			t.Fatalf("read %d bytes: %v", n, err)
		}
		if sum := sha256.Sum256(want); !bytes.Equal(got.Sum(nil), sum[:]) {
			t.Fatal("the file read back through boxo differs")
		}
	}
	readBack(roots[0], big)
	readBack(roots[1], small)

	// The small file's DAG is the live set; the big one is unpinned.
	var live []cid.Cid
	err = merkledag.Walk(ctx, merkledag.GetLinksDirect(ds), roots[1], func(c cid.Cid) bool {
		live = append(live, c)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	bs, _ := NewBlockstore(set)
	before := testfs.DirAllocated(t, dir)
	for range 2 {
		rep, err := bs.CollectGarbage(ctx, func(yield func(cid.Cid) bool) {
			for _, c := range live {
				if !yield(c) {
					return
				}
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("GC: retired %v, copied %d, dropped %d, freed %d MiB", rep.Retired, rep.Copied, rep.Dropped, rep.BytesFreed>>20)
	}
	after := testfs.DirAllocated(t, dir)
	t.Logf("disk: %d MiB before GC, %d MiB after", before>>20, after>>20)
	if before-after < 60<<20 {
		t.Fatalf("GC freed %d MiB of the 64 MiB file", (before-after)>>20)
	}
	if ok, _ := bs.Has(ctx, roots[0]); ok {
		t.Fatal("the dropped file's root is still there")
	}
	readBack(roots[1], small)
}

func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 0))
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}
