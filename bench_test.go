//go:build linux

// The benchmarks measure the Linux I/O paths (io_uring, RWF_DSYNC, fadvise)
// against raw baselines of the same calls: Linux only.

package nudb

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/nudbgo/nudb/internal/ioengine"
	"golang.org/x/sys/unix"
)

// Benchmarks use 32-byte keys and 128-byte values. SetBytes counts the
// item's bytes in the log (key + value + 8 bytes of framing), so the MB/s
// column compares directly with BenchmarkRawODirectWrite, the disk's own
// sequential O_DIRECT bandwidth measured in the same run, and ns/op of the
// durable benchmarks with BenchmarkRawWriteDatasync.
const benchValue = 128

var benchItemBytes = int64(32 + benchValue + 8)

func benchKey(dst []byte, i uint64) []byte {
	binary.LittleEndian.PutUint64(dst, i*0x9e3779b97f4a7c15)
	binary.LittleEndian.PutUint64(dst[8:], i)
	return dst
}

func benchInsert(b *testing.B, opts *Options, parallel int) {
	ts := newStore(b, opts)
	val := make([]byte, benchValue)
	var n atomic.Uint64
	b.SetBytes(benchItemBytes)
	b.ReportAllocs()
	b.ResetTimer()
	if parallel <= 1 {
		key := make([]byte, 32)
		for i := 0; i < b.N; i++ {
			if err := ts.Insert(benchKey(key, n.Add(1)), val); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		// RunParallel runs SetParallelism × GOMAXPROCS goroutines.
		b.SetParallelism(max(1, parallel/runtime.GOMAXPROCS(0)))
		b.RunParallel(func(pb *testing.PB) {
			key := make([]byte, 32)
			for pb.Next() {
				if err := ts.Insert(benchKey(key, n.Add(1)), val); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.StopTimer()
	st := ts.Stats()
	b.ReportMetric(float64(st.Inserts)/float64(max(st.Syncs, 1)), "items/barrier")
}

func BenchmarkInsert(b *testing.B) {
	b.Run("behind/1", func(b *testing.B) { benchInsert(b, &Options{Sync: SyncWriteBehind}, 1) })
	b.Run("behind/16", func(b *testing.B) { benchInsert(b, &Options{Sync: SyncWriteBehind}, 16) })
	b.Run("never/16", func(b *testing.B) { benchInsert(b, &Options{Sync: SyncNever}, 16) })
	b.Run("always/16", func(b *testing.B) { benchInsert(b, &Options{}, 16) })
	for _, e := range engines {
		b.Run("never/1/"+e.String(), func(b *testing.B) { benchInsert(b, &Options{Sync: SyncNever, IOEngine: e}, 1) })
		b.Run("never/64/"+e.String(), func(b *testing.B) { benchInsert(b, &Options{Sync: SyncNever, IOEngine: e}, 64) })
		b.Run("always/1/"+e.String(), func(b *testing.B) { benchInsert(b, &Options{IOEngine: e}, 1) })
		b.Run("always/64/"+e.String(), func(b *testing.B) { benchInsert(b, &Options{IOEngine: e}, 64) })
	}
}

// BenchmarkInsertBatch loads through InsertBatch, 1000 items a batch: the
// bulk-load path.
func BenchmarkInsertBatch(b *testing.B) {
	for _, e := range engines {
		b.Run(e.String(), func(b *testing.B) {
			ts := newStore(b, &Options{Sync: SyncNever, IOEngine: e})
			val := make([]byte, benchValue)
			keys := make([]byte, 32*1000)
			var batch Batch
			b.SetBytes(benchItemBytes)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; {
				batch.Reset()
				for j := 0; j < 1000 && i < b.N; j, i = j+1, i+1 {
					batch.Put(benchKey(keys[j*32:j*32+32], uint64(i)), val)
				}
				if _, err := ts.InsertBatch(&batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkFetchFunc(b *testing.B) {
	const n = 1000000
	ts := newStore(b, &Options{Sync: SyncNever})
	val := make([]byte, benchValue)
	var batch Batch
	keys := make([]byte, 32*n)
	for i := 0; i < n; i++ {
		batch.Put(benchKey(keys[i*32:i*32+32], uint64(i)), val)
	}
	if _, err := ts.InsertBatch(&batch); err != nil {
		b.Fatal(err)
	}
	var sink atomic.Int64
	fn := func(v []byte) {}
	// fetch-1 runs one goroutine, fetch-2 two (GOMAXPROCS is 2 here): each
	// walks the keys from its own start, sharing nothing but the store.
	for _, par := range []int{1, 2} {
		b.Run(map[int]string{1: "1", 2: "2"}[par], func(b *testing.B) {
			b.ReportAllocs()
			var seed atomic.Uint64
			runtime.GOMAXPROCS(par)
			defer runtime.GOMAXPROCS(runtime.NumCPU())
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := seed.Add(1) * 100003
				for pb.Next() {
					i = (i + 7919) % n
					if err := ts.FetchFunc(keys[i*32:i*32+32], fn); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
	_ = sink.Load()
	b.Run("miss", func(b *testing.B) {
		b.ReportAllocs()
		key := make([]byte, 32)
		for i := 0; i < b.N; i++ {
			if err := ts.FetchFunc(benchKey(key, uint64(n+i)), fn); err != ErrNotFound {
				b.Fatal(err)
			}
		}
	})
}

// rawFile opens a fallocated O_DIRECT file for the raw baselines.
func rawFile(b *testing.B, size int64) *ioengine.File {
	path := filepath.Join(b.TempDir(), "raw")
	os.WriteFile(path, nil, 0o644)
	f, err := ioengine.OpenFile(path, ioengine.Exclusive, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	if err := f.Grow(size); err != nil {
		b.Fatal(err)
	}
	return f
}

// BenchmarkRawODirectWrite is the baseline for the insert benchmarks: the
// same bytes per op written sequentially with O_DIRECT in 1 MiB writes.
func BenchmarkRawODirectWrite(b *testing.B) {
	const chunk = 1 << 20
	a, err := ioengine.NewArena(chunk)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Free()
	total := int64(b.N) * benchItemBytes
	f := rawFile(b, (total/chunk+1)*chunk)
	b.SetBytes(benchItemBytes)
	b.ResetTimer()
	for off := int64(0); off < total; off += chunk {
		if _, err := unix.Pwrite(f.Fd, a.Bytes(), off); err != nil {
			b.Fatal(err)
		}
	}
	if err := ioengine.Datasync(f.Fd); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkRawWriteDatasync is the baseline for durable inserts: one 4 KiB
// O_DIRECT write followed by fdatasync, at queue depth 1, over space that
// was zeroed first (the best case the disk offers).
func BenchmarkRawWriteDatasync(b *testing.B) {
	a, err := ioengine.NewArena(1 << 20)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Free()
	f := rawFile(b, 0)
	if err := f.GrowZeroed(int64(b.N+1)*4096, a.Bytes()); err != nil {
		b.Fatal(err)
	}
	a4k := a.Bytes()[:4096]
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := unix.Pwrite(f.Fd, a4k, int64(i)*4096); err != nil {
			b.Fatal(err)
		}
		if err := ioengine.Datasync(f.Fd); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawBufferedWrite is the baseline for inserts under SyncNever
// and SyncInterval at one inserter: one 4 KiB record-sized pwrite through
// the page cache per op, no sync.
func BenchmarkRawBufferedWrite(b *testing.B) {
	f := rawFile(b, 0)
	block := make([]byte, 4096)
	b.SetBytes(4096)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := unix.Pwrite(f.BufFd, block, int64(i)*4096); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawDsyncOverlap measures how far parallel durable writes
// overlap on this disk: qd goroutines each write 4 KiB with RWF_DSYNC
// (what SyncAlways does per record) at distinct offsets in zeroed space.
// If ns/op at qd=N is near qd=1's ÷ N the device overlaps them and
// pipelining records in flight pays; if it stays near qd=1's, flushes
// serialise and only bigger groups help.
func BenchmarkRawDsyncOverlap(b *testing.B) {
	for _, qd := range []int{1, 2, 4, 8} {
		b.Run("qd="+strconv.Itoa(qd), func(b *testing.B) {
			a, err := ioengine.NewArena(1 << 20)
			if err != nil {
				b.Fatal(err)
			}
			defer a.Free()
			f := rawFile(b, 0)
			if err := f.GrowZeroed(int64(b.N+qd)*4096, a.Bytes()); err != nil {
				b.Fatal(err)
			}
			var next atomic.Int64
			b.ResetTimer()
			var wg sync.WaitGroup
			for g := 0; g < qd; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					buf := a.Bytes()[g*4096 : (g+1)*4096]
					for {
						i := next.Add(1) - 1
						if i >= int64(b.N) {
							return
						}
						if _, err := unix.Pwritev2(f.Fd, [][]byte{buf}, i*4096, unix.RWF_DSYNC); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
		})
	}
}

// rebuildFixture is a closed store of 300,000 benchmark items.
func rebuildFixture(b *testing.B) *testStore {
	ts := newStore(b, &Options{Sync: SyncNever})
	val := make([]byte, benchValue)
	keys := make([]byte, 32*1000)
	var batch Batch
	for i := 0; i < 300000; {
		batch.Reset()
		for j := 0; j < 1000; j, i = j+1, i+1 {
			batch.Put(benchKey(keys[j*32:j*32+32], uint64(i)), val)
		}
		if _, err := ts.InsertBatch(&batch); err != nil {
			b.Fatal(err)
		}
	}
	ts.Close()
	return ts
}

// dropCache evicts a file from the page cache, so reads come off the disk.
func dropCache(b *testing.B, path string) {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	unix.Fdatasync(int(f.Fd()))
	unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
	f.Close()
}

// BenchmarkRebuild rebuilds the key file of a 300,000-item store from a
// cold data file; MB/s is data-file bytes. Compare BenchmarkColdRead, a
// plain sequential read of the same file in 32 MiB reads.
func BenchmarkRebuild(b *testing.B) {
	ts := rebuildFixture(b)
	st, _ := os.Stat(ts.data)
	b.SetBytes(st.Size())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dropCache(b, ts.data)
		b.StartTimer()
		if _, err := Rebuild(ts.data, ts.key, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkColdRead(b *testing.B) {
	ts := rebuildFixture(b)
	st, _ := os.Stat(ts.data)
	b.SetBytes(st.Size())
	buf := make([]byte, 32<<20)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dropCache(b, ts.data)
		b.StartTimer()
		f, _ := os.Open(ts.data)
		for {
			if n, _ := f.Read(buf); n == 0 {
				break
			}
		}
		f.Close()
	}
}
