package benchkit

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/nudbgo/nudb/internal/ioengine"
	"golang.org/x/sys/unix"
)

// Limits are the machine's own numbers, measured in the same run through
// the I/O path nudb uses.
type Limits struct {
	SeqWriteMBs   float64 `json:"seq_write_mb_s"`  // O_DIRECT 1 MiB writes, io_uring, 4 in flight, into fallocated space
	FdatasyncPerS float64 `json:"fdatasync_per_s"` // 4 KiB O_DIRECT write + fdatasync, queue depth 1, zeroed space
	RandReadIOPS  float64 `json:"rand_read_iops"`  // 4 KiB O_DIRECT random reads, queue depth 1
	SeqReadMBs    float64 `json:"seq_read_mb_s"`   // 32 MiB reads through the page cache, cold (as Rebuild reads)
	// FdatasyncBesideNudb is fdatasync_per_s measured again right before
	// nudb's durable-1, the workload it is the baseline of.
	FdatasyncBesideNudb float64 `json:"fdatasync_beside_nudb_per_s"`
}

func measureLimits(dir string, fileSize int64, d time.Duration, logf func(string, ...any)) (Limits, error) {
	var l Limits
	path := filepath.Join(dir, "limits.raw")
	os.WriteFile(path, nil, 0o644)
	defer os.Remove(path)
	f, err := ioengine.OpenFile(path, ioengine.Exclusive, 0)
	if err != nil {
		return l, err
	}
	defer f.Close()
	const chunk = 1 << 20
	arena, err := ioengine.NewArena(4 * chunk)
	if err != nil {
		return l, err
	}
	defer arena.Free()
	for i := range arena.Bytes() {
		arena.Bytes()[i] = byte(i * 7)
	}

	// Sequential write: the way nudb's writer loads, 4 records in flight.
	if err := f.Grow(fileSize); err != nil {
		return l, err
	}
	eng, err := ioengine.New(ioengine.Auto, f.Fd, 8)
	if err != nil {
		return l, err
	}
	start := time.Now()
	var off int64
	var comps []ioengine.Completion
	for id := uint64(0); off < fileSize; id++ {
		for eng.Pending() >= 4 {
			if comps, err = eng.Wait(comps[:0]); err != nil {
				return l, err
			}
			for _, c := range comps {
				if c.Err != nil {
					return l, c.Err
				}
			}
		}
		buf := arena.Bytes()[(id%4)*chunk : (id%4+1)*chunk]
		if err := eng.SubmitWrite(id, buf, off, false); err != nil {
			return l, err
		}
		off += chunk
	}
	for eng.Pending() > 0 {
		if comps, err = eng.Wait(comps[:0]); err != nil {
			return l, err
		}
	}
	if err := eng.Datasync(); err != nil {
		return l, err
	}
	eng.Close()
	l.SeqWriteMBs = float64(fileSize) / time.Since(start).Seconds() / 1e6
	logf("limit: sequential O_DIRECT write %.0f MB/s", l.SeqWriteMBs)

	// Sequential read, cold, through the buffered descriptor in 32 MiB reads.
	ioengine.DropCache(f.BufFd)
	rbuf := make([]byte, 32<<20)
	start = time.Now()
	for off := int64(0); off < fileSize; off += int64(len(rbuf)) {
		n := min(int64(len(rbuf)), fileSize-off)
		if _, err := f.ReadAt(rbuf[:n], off); err != nil {
			return l, err
		}
	}
	l.SeqReadMBs = float64(fileSize) / time.Since(start).Seconds() / 1e6
	logf("limit: sequential read %.0f MB/s", l.SeqReadMBs)

	// Random 4 KiB O_DIRECT reads at queue depth 1.
	rng := rand.New(rand.NewPCG(1, 2))
	blocks := fileSize / 4096
	n := 0
	start = time.Now()
	for time.Since(start) < d {
		if _, err := unix.Pread(f.Fd, arena.Bytes()[:4096], rng.Int64N(blocks)*4096); err != nil {
			return l, fmt.Errorf("random read: %w", err)
		}
		n++
	}
	l.RandReadIOPS = float64(n) / time.Since(start).Seconds()
	logf("limit: random 4 KiB reads %.0f IOPS", l.RandReadIOPS)

	// 4 KiB write + fdatasync at queue depth 1 over written space.
	if l.FdatasyncPerS, err = writeSyncRate(f, d, blocks, arena.Bytes()[:4096]); err != nil {
		return l, err
	}
	logf("limit: 4 KiB write+fdatasync %.0f/s", l.FdatasyncPerS)
	return l, nil
}

// writeSyncRate writes 4 KiB blocks in place, each followed by fdatasync, for
// d (at most blocks of them), and returns the rate.
func writeSyncRate(f *ioengine.File, d time.Duration, blocks int64, block []byte) (float64, error) {
	n := int64(0)
	start := time.Now()
	for time.Since(start) < d && n < blocks {
		if _, err := unix.Pwrite(f.Fd, block, n*4096); err != nil {
			return 0, err
		}
		if err := ioengine.Datasync(f.Fd); err != nil {
			return 0, err
		}
		n++
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// fdatasyncRate measures writeSyncRate on a fresh, zeroed 64 MiB file in dir.
func fdatasyncRate(dir string, d time.Duration) (float64, error) {
	path := filepath.Join(dir, "fdatasync.raw")
	os.WriteFile(path, nil, 0o644)
	defer os.Remove(path)
	f, err := ioengine.OpenFile(path, ioengine.Exclusive, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	a, err := ioengine.NewArena(1 << 20)
	if err != nil {
		return 0, err
	}
	defer a.Free()
	const size = 64 << 20
	if err := f.GrowZeroed(size, a.Bytes()); err != nil {
		return 0, err
	}
	return writeSyncRate(f, d, size/4096, a.Bytes()[:4096])
}
