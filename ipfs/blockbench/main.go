// Command blockbench compares the nudb blockstore with boxo blockstores
// over the datastores Kubo uses (go-ds-flatfs, its default for /blocks,
// and go-ds-leveldb), in one run, on blocks of 256 KiB:
//
//	go run ./blockbench            (from the ipfs module)
//	go run ./blockbench -blocks 2048 -dir /mnt/disk
//
// Every store is durable per Put, as its experts run it: nudb at its
// defaults (SyncAlways: RWF_DSYNC per group commit), flatfs as Kubo
// configures it (sync true, next-to-last/2 sharding), leveldb with
// go-ds-leveldb's defaults (synced writes). Each blockstore is boxo's
// plain blockstore.NewBlockstore over the datastore (NoPrefix for flatfs,
// whose keys must be bare), without Kubo's bloom and ARC caches (nudb gets
// none either). A raw baseline, "write 256 KiB + fdatasync" to a plain
// file, runs in the same process, so the figures read as ratios on a noisy
// machine. The order of the stores rotates with -seed.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ipfs/boxo/blockstore"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	flatfs "github.com/ipfs/go-ds-flatfs"
	leveldb "github.com/ipfs/go-ds-leveldb"
	mh "github.com/multiformats/go-multihash"
	"golang.org/x/sys/unix"

	nudbipfs "github.com/nudbgo/nudb/ipfs"
	"github.com/nudbgo/nudb/rotate"
)

type store struct {
	name  string
	open  func(dir string) (blockstore.Blockstore, func() error, error)
	notes string
}

var stores = []store{
	{"nudb", func(dir string) (blockstore.Blockstore, func() error, error) {
		set, err := rotate.Open(dir, nil)
		if err != nil {
			return nil, nil, err
		}
		bs, err := nudbipfs.NewBlockstore(set)
		return bs, set.Close, err
	}, "defaults (SyncAlways, 2 generations)"},
	{"flatfs", func(dir string) (blockstore.Blockstore, func() error, error) {
		d, err := flatfs.CreateOrOpen(dir, flatfs.NextToLast(2), true)
		if err != nil {
			return nil, nil, err
		}
		return blockstore.NewBlockstore(d, blockstore.NoPrefix()), d.Close, nil
	}, "sync true, next-to-last/2 (Kubo's default)"},
	{"leveldb", func(dir string) (blockstore.Blockstore, func() error, error) {
		d, err := leveldb.NewDatastore(dir, nil)
		if err != nil {
			return nil, nil, err
		}
		return blockstore.NewBlockstore(d), d.Close, nil
	}, "go-ds-leveldb defaults (synced writes)"},
}

type result map[string]float64 // workload -> ops/s

func main() {
	n := flag.Int("blocks", 1024, "blocks to put (each store)")
	size := flag.Int("size", 256<<10, "block size in bytes")
	batch := flag.Int("batch", 16, "blocks per PutMany")
	base := flag.String("dir", os.TempDir(), "directory for the stores (a disk, not tmpfs)")
	minTime := flag.Duration("time", time.Second, "minimum time per read cell")
	seed := flag.Uint64("seed", uint64(time.Now().UnixNano()), "rotates the order of the stores")
	flag.Parse()
	dir, err := os.MkdirTemp(*base, "blockbench-")
	check(err)
	defer os.RemoveAll(dir)

	bl := makeBlocks(*n, *size)
	order := rand.New(rand.NewPCG(*seed, 0)).Perm(len(stores))
	fmt.Printf("blockbench: %d blocks of %d KiB per store, PutMany of %d, reads ≥ %v per cell, seed %d, order", *n, *size>>10, *batch, *minTime, *seed)
	for _, i := range order {
		fmt.Printf(" %s", stores[i].name)
	}
	fmt.Println()
	raw := rawBaseline(dir, bl)
	results := map[string]result{}
	for _, i := range order {
		st := stores[i]
		results[st.name] = run(st, filepath.Join(dir, st.name), bl, *batch, *minTime)
	}
	workloads := []string{"put", "putmany", "get", "has", "has-miss", "getsize"}
	fmt.Printf("\n| workload | raw write+fdatasync | nudb | flatfs | leveldb | nudb ÷ best peer | nudb ÷ raw |\n|---|---|---|---|---|---|---|\n")
	for _, w := range workloads {
		best := max(results["flatfs"][w], results["leveldb"][w])
		rawCell, rawRatio := "", ""
		if w == "put" || w == "putmany" {
			rawCell, rawRatio = fmt.Sprintf("%.0f/s", raw), fmt.Sprintf("%.2f", results["nudb"][w]/raw)
		}
		fmt.Printf("| %s | %s | %.0f/s | %.0f/s | %.0f/s | **%.2f** | %s |\n", w, rawCell,
			results["nudb"][w], results["flatfs"][w], results["leveldb"][w], results["nudb"][w]/best, rawRatio)
	}
	fmt.Println()
	for _, st := range stores {
		fmt.Printf("- %s: %s\n", st.name, st.notes)
	}
}

// run measures one store: put (one block per call) of the first half,
// PutMany of the second, then reads over all of them, warm: one Get of
// every block first, so each store reads from its own caches and the page
// cache, whatever its writes left there.
func run(st store, dir string, bl []blocks.Block, batch int, minTime time.Duration) result {
	ctx := context.Background()
	check(os.MkdirAll(dir, 0o755))
	bs, closeFn, err := st.open(dir)
	check(err)
	defer func() { check(closeFn()) }()
	r := result{}
	half := len(bl) / 2
	start := time.Now()
	for _, b := range bl[:half] {
		check(bs.Put(ctx, b))
	}
	r["put"] = float64(half) / time.Since(start).Seconds()
	start = time.Now()
	for i := half; i < len(bl); i += batch {
		check(bs.PutMany(ctx, bl[i:min(i+batch, len(bl))]))
	}
	r["putmany"] = float64(len(bl)-half) / time.Since(start).Seconds()
	for _, b := range bl {
		_, err := bs.Get(ctx, b.Cid())
		check(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	misses := makeBlocks(64, 16)
	r["get"] = timed(minTime, func() {
		b := bl[rng.IntN(len(bl))]
		got, err := bs.Get(ctx, b.Cid())
		check(err)
		if len(got.RawData()) != len(b.RawData()) {
			panic("short block")
		}
	})
	r["has"] = timed(minTime, func() {
		ok, err := bs.Has(ctx, bl[rng.IntN(len(bl))].Cid())
		check(err)
		if !ok {
			panic("a stored block is missing")
		}
	})
	r["has-miss"] = timed(minTime, func() {
		ok, err := bs.Has(ctx, misses[rng.IntN(len(misses))].Cid())
		check(err)
		if ok {
			panic("an absent block is found")
		}
	})
	r["getsize"] = timed(minTime, func() {
		_, err := bs.GetSize(ctx, bl[rng.IntN(len(bl))].Cid())
		check(err)
	})
	fmt.Printf("%-8s put %.0f/s, putmany %.0f/s, get %.0f/s, has %.0f/s\n", st.name, r["put"], r["putmany"], r["get"], r["has"])
	return r
}

// timed runs fn for at least d and returns calls per second.
func timed(d time.Duration, fn func()) float64 {
	start := time.Now()
	n := 0
	for time.Since(start) < d {
		for range 64 {
			fn()
		}
		n += 64
	}
	return float64(n) / time.Since(start).Seconds()
}

// rawBaseline writes half the blocks to a plain file, one write and one
// fdatasync each: what "durable per Put" costs without a store.
func rawBaseline(dir string, bl []blocks.Block) float64 {
	f, err := os.Create(filepath.Join(dir, "raw"))
	check(err)
	defer f.Close()
	half := len(bl) / 2
	start := time.Now()
	for _, b := range bl[:half] {
		_, err := f.Write(b.RawData())
		check(err)
		check(unix.Fdatasync(int(f.Fd())))
	}
	return float64(half) / time.Since(start).Seconds()
}

func makeBlocks(n, size int) []blocks.Block {
	r := rand.New(rand.NewPCG(uint64(n), uint64(size)))
	bl := make([]blocks.Block, n)
	for i := range bl {
		data := make([]byte, size)
		for j := 0; j < size; j += 8 {
			v := r.Uint64()
			for k := 0; k < 8 && j+k < size; k++ {
				data[j+k] = byte(v >> (8 * k))
			}
		}
		h, err := mh.Sum(data, mh.SHA2_256, -1)
		check(err)
		bl[i], err = blocks.NewBlockWithCid(data, cid.NewCidV1(cid.Raw, h))
		check(err)
	}
	return bl
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "blockbench:", strings.TrimSpace(err.Error()))
		os.Exit(1)
	}
}
