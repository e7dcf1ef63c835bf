package nudb

import (
	"bytes"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nudbgo/nudb/datafile"
	"github.com/nudbgo/nudb/internal/ioengine"
	"github.com/nudbgo/nudb/keyfile"
)

// readBuffers serves item reads. The data file, a regular file or a block
// device, is mapped read-only (MAP_SHARED over the page cache, reserved far
// past its end so it never needs a remap): a fetch is a memory copy, not a
// system call, and a device serves repeated reads from memory like a file.
// Readers only read below the written watermark, and the kernel keeps the
// page cache coherent with the writes: buffered writes go through it, and an
// O_DIRECT write invalidates the cached pages it covers, so the mapping never
// shows a stale record. Where the mapping is refused, or past its end, reads
// go through the buffered descriptor into pooled heap buffers.
type readBuffers struct {
	df     *ioengine.File
	g      datafile.Geometry
	mapped []byte    // read-only mapping of the data file, or nil
	heap   sync.Pool // *[]byte
}

// dataMapReserve is the virtual range mapped for a data file.
const dataMapReserve = 1 << 40

func (rb *readBuffers) init(df *ioengine.File, g datafile.Geometry) {
	rb.df, rb.g = df, g
	rb.heap.New = func() any { b := make([]byte, 4096); return &b }
	if m, err := unix.Mmap(df.BufFd, 0, dataMapReserve, unix.PROT_READ, unix.MAP_SHARED); err == nil {
		rb.mapped = m
	}
}

func (rb *readBuffers) free() {
	if rb.mapped != nil {
		unix.Munmap(rb.mapped)
		rb.mapped = nil
	}
}

// read calls fn with the n bytes at off.
func (rb *readBuffers) read(off int64, n int, fn func(b []byte) error) (err error) {
	if rb.mapped != nil && off >= 0 && off+int64(n) <= int64(len(rb.mapped)) {
		// A fault (the file cut short under us by someone else) must become
		// an error, not a crash of the program embedding the store.
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%w: reading %d bytes at %d faulted: %v", ErrCorrupt, n, off, r)
			}
		}()
		return fn(rb.mapped[off : off+int64(n)])
	}
	bp := rb.heap.Get().(*[]byte)
	if cap(*bp) < n {
		*bp = make([]byte, n)
	}
	b := (*bp)[:n]
	_, err = rb.df.ReadAt(b, off)
	if err == nil {
		err = fn(b)
	}
	rb.heap.Put(bp)
	return err
}

var errKeyMismatch = errors.New("key mismatch")

// readItem reads the item at c and calls fn with its value if its key is
// key. It returns errKeyMismatch for another key, ErrCorrupt when the item
// fails its CRC.
func (s *Store) readItem(c keyfile.Candidate, key []byte, fn func(value []byte), sizeOnly *int) error {
	k := s.geom.KeySize
	if sizeOnly != nil {
		// ValueSize: the key and the length field, not the value.
		return s.reads.read(c.Offset, datafile.ItemSize(k, 0), func(b []byte) (err error) {
			if !bytes.Equal(b[:k], key) {
				return errKeyMismatch
			}
			*sizeOnly, err = datafile.ValueLen(b, k)
			if err != nil {
				return fmt.Errorf("item at %d: %w", c.Offset, err)
			}
			return nil
		})
	}
	size := c.Size
	if size == keyfile.SizeUnknown {
		// The slot only holds 16 bits of the length: read it first.
		err := s.reads.read(c.Offset, datafile.ItemSize(k, 0), func(b []byte) (err error) {
			size, err = datafile.ValueLen(b, k)
			return err
		})
		if err != nil {
			return fmt.Errorf("item at %d: %w", c.Offset, err)
		}
	}
	return s.reads.read(c.Offset, datafile.ItemSize(k, size), func(b []byte) error {
		if !bytes.Equal(b[:k], key) {
			// A different key with the same 64-bit hash, or damage; the CRC
			// decides which only if nothing else matches.
			if _, _, _, err := datafile.DecodeItem(b, k); err != nil {
				return fmt.Errorf("item at %d: %w", c.Offset, err)
			}
			return errKeyMismatch
		}
		_, v, _, err := datafile.DecodeItem(b, k)
		if err != nil {
			return fmt.Errorf("item at %d: %w", c.Offset, err)
		}
		if fn != nil {
			fn(v)
		}
		return nil
	})
}

// lookup finds key through the index and calls fn with its value.
func (s *Store) lookup(h uint64, key []byte, fn func(value []byte)) error {
	_, err := s.lookupItem(h, key, fn, nil, false)
	return err
}

// lookupItem is lookup that also returns where the item is. A read-only
// store follows a writer in another process: a miss while the writer's
// table geometry moved is looked up again (see keyfile.OpenFollower).
// probe: the key is most likely absent (keyfile.File.Probe).
func (s *Store) lookupItem(h uint64, key []byte, fn func(value []byte), size *int, probe bool) (keyfile.Candidate, error) {
	for try := 0; ; try++ {
		g := s.kf.Geometry()
		c, err := s.lookupOnce(h, key, fn, size, probe)
		if s.w != nil || !errors.Is(err, ErrNotFound) || try == followRetries || s.kf.Geometry() == g {
			return c, err
		}
	}
}

// lookupOnce is one pass of lookupItem over the index's candidates.
func (s *Store) lookupOnce(h uint64, key []byte, fn func(value []byte), size *int, probe bool) (keyfile.Candidate, error) {
	var buf [4]keyfile.Candidate
	cands := buf[:0]
	if probe {
		cands = s.kf.Probe(h, cands)
	} else {
		cands = s.kf.Lookup(h, cands)
	}
	var corrupt error
	for _, c := range cands {
		err := s.readItem(c, key, fn, size)
		switch {
		case err == nil:
			return c, nil
		case errors.Is(err, errKeyMismatch):
		case errors.Is(err, ErrCorrupt):
			corrupt = err
		default:
			return keyfile.Candidate{}, err
		}
	}
	if corrupt != nil {
		return keyfile.Candidate{}, corrupt
	}
	return keyfile.Candidate{}, ErrNotFound
}

// indexed reports whether r's key is in the index: the pending set's
// duplicate check (callers are inside the gate). A key being inserted is
// most likely new, so the index is probed, not looked up warm.
func (s *Store) indexed(r *request) (bool, error) {
	var size int
	_, err := s.lookupItem(r.hash, r.key, nil, &size, true)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// FetchFunc calls fn with the value stored under key, without allocating;
// the value is valid only during the call, and fn must not call the store
// (under SyncWriteBehind it may run under the lock of the items not yet
// written). It returns ErrNotFound when no
// item has the key, and ErrCorrupt when the stored item fails its CRC (it
// never passes fn a damaged value).
func (s *Store) FetchFunc(key []byte, fn func(value []byte)) error {
	h, c, err := s.enterKey(key)
	if err != nil {
		return err
	}
	defer s.gate.exit(c, &s.closed)
	if fn == nil {
		fn = func([]byte) {}
	}
	// Under SyncWriteBehind an acknowledged item may still wait in memory.
	// The pending set is asked first: a request leaves it only after its
	// item is indexed, so asking the index second misses nothing.
	if s.opts.Sync == SyncWriteBehind && s.pending.find(h, key, fn) {
		s.gate.count(h, true)
		return nil
	}
	err = s.lookup(h, key, fn)
	s.gate.countResult(h, err)
	return err
}

// Fetch returns a copy of the value stored under key (see FetchFunc).
func (s *Store) Fetch(key []byte) ([]byte, error) {
	var out []byte
	err := s.FetchFunc(key, func(v []byte) { out = append(make([]byte, 0, len(v)), v...) })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Exists reports whether an item has key. It reads the item's key and
// length, not its value (a value's damage is Fetch's to report), so it
// costs the same for a 16 MiB value as for an empty one.
func (s *Store) Exists(key []byte) (bool, error) {
	_, err := s.ValueSize(key)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// readGate admits fetches without a shared lock word: each fetch counts
// itself in the shard its key hash picks, so concurrent fetches on two
// cores touch different cache lines. Close sets the closed flag and then
// waits until every shard is empty before it unmaps anything. Go's atomics
// are sequentially consistent, so either a fetch sees the flag and backs
// out, or Close sees the fetch's count and waits for it.
type readGate struct {
	shards [16]struct {
		n atomic.Int64
		// hits and misses count the fetches of this shard's keys (Stats
		// sums them): on the fetch's own cache line, not a shared one.
		hits, misses atomic.Uint64
		_            [40]byte // one cache line each
	}
	drained chan struct{} // a fetch leaving after Close began
}

func (g *readGate) enter(h uint64, closed *atomic.Bool) (*atomic.Int64, bool) {
	c := &g.shards[h%uint64(len(g.shards))].n
	c.Add(1)
	if closed.Load() {
		g.exit(c, closed)
		return nil, false
	}
	return c, true
}

// countResult counts a lookup of a key with hash h by what it returned: a
// hit, a miss (ErrNotFound), or neither (any other error).
func (g *readGate) countResult(h uint64, err error) {
	switch {
	case err == nil:
		g.count(h, true)
	case errors.Is(err, ErrNotFound):
		g.count(h, false)
	}
}

// count adds a fetch of a key with hash h to its shard's hits or misses.
func (g *readGate) count(h uint64, hit bool) {
	sh := &g.shards[h%uint64(len(g.shards))]
	if hit {
		sh.hits.Add(1)
	} else {
		sh.misses.Add(1)
	}
}

// fetches sums the shards' hits and misses.
func (g *readGate) fetches() (hits, misses uint64) {
	for i := range g.shards {
		hits += g.shards[i].hits.Load()
		misses += g.shards[i].misses.Load()
	}
	return hits, misses
}

func (g *readGate) exit(c *atomic.Int64, closed *atomic.Bool) {
	if c.Add(-1) == 0 && closed.Load() {
		select {
		case g.drained <- struct{}{}:
		default:
		}
	}
}

// wait returns when no fetch is inside; closed must be set.
func (g *readGate) wait() {
	for {
		busy := false
		for i := range g.shards {
			if g.shards[i].n.Load() != 0 {
				busy = true
				break
			}
		}
		if !busy {
			return
		}
		// A leaving fetch signals; the timeout covers a signal that
		// raced with the check above.
		select {
		case <-g.drained:
		case <-time.After(time.Millisecond):
		}
	}
}
