package nudb

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/nudbgo/nudb/keyfile"
)

// enterKey checks key, hashes it and enters the gate in the hash's shard
// (every keyed call starts so); the caller exits the gate with c.
func (s *Store) enterKey(key []byte) (h uint64, c *atomic.Int64, err error) {
	if err := s.checkKey(key); err != nil {
		return 0, nil, err
	}
	h = keyfile.Hash(s.sb.Salt, key)
	c, ok := s.gate.enter(h, &s.closed)
	if !ok {
		return 0, nil, ErrClosed
	}
	return h, c, nil
}

// enterItem checks an item and enters the gate as enterKey does.
func (s *Store) enterItem(key, value []byte) (h uint64, c *atomic.Int64, err error) {
	if s.w == nil {
		return 0, nil, ErrReadOnly
	}
	if err := checkValue(value); err != nil {
		return 0, nil, err
	}
	return s.enterKey(key)
}

// leaveInsert ends an insert call that entered at start: its latency is
// observed and it exits the gate.
func (s *Store) leaveInsert(c *atomic.Int64, start time.Time) {
	s.stats.insertLatency.since(start)
	s.gate.exit(c, &s.closed)
}

func (s *Store) checkKey(key []byte) error {
	if len(key) != s.geom.KeySize {
		return fmt.Errorf("%w: %d bytes, the store's keys are %d", ErrKeySize, len(key), s.geom.KeySize)
	}
	return nil
}

func checkValue(value []byte) error {
	if len(value) > MaxValueSize {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrValueSize, len(value), MaxValueSize)
	}
	return nil
}

func (s *Store) checkItem(key, value []byte) error {
	if err := s.checkKey(key); err != nil {
		return err
	}
	return checkValue(value)
}

// Insert stores value under key. The key must be the store's key size and
// the value at most MaxValueSize bytes (it may be empty). A key that is
// already stored, or being stored by a concurrent Insert, returns
// ErrKeyExists: of many racing inserts of one key exactly one succeeds.
//
// Insert returns when the item's record is durable (SyncAlways) or written
// (SyncInterval, SyncNever); the item is visible to Fetch from then on.
// Insert does not keep key or value after it returns.
func (s *Store) Insert(key, value []byte) error {
	h, c, err := s.enterItem(key, value)
	if err != nil {
		return err
	}
	defer s.leaveInsert(c, time.Now())
	w := s.w
	if s.opts.Sync == SyncWriteBehind {
		return s.insertBehind(key, value, h)
	}
	op := w.ops.Get().(*insertOp)
	op.req = request{key: key, value: value, hash: h, w: &op.w}
	op.w.remaining.Store(1)
	op.w.err = nil
	err = s.pending.admit(&op.req, s.indexed)
	if err == nil {
		if err = w.enqueue(&op.req); err != nil {
			s.pending.drop([]*request{&op.req})
		} else {
			w.kick()
			<-op.w.done
			err = op.w.err
		}
	}
	op.req = request{}
	w.ops.Put(op)
	return err
}

// hold copies the item into op.buf and points op's request at the copy,
// so the writer never reads the caller's slices once the call returns.
func (op *insertOp) hold(key, value []byte, h uint64) {
	n := len(key) + len(value)
	if cap(op.buf) < n {
		op.buf = make([]byte, n)
	}
	op.buf = op.buf[:n]
	copy(op.buf, key)
	copy(op.buf[len(key):], value)
	op.req = request{key: op.buf[:len(key):len(key)], value: op.buf[len(key):], hash: h, w: &op.w}
	op.w.remaining.Store(1)
	op.w.err = nil
}

// insertBehind is Insert under SyncWriteBehind: the item is copied into
// a pooled buffer, admitted (Fetch finds it in the pending set from then
// on) and queued, and Insert returns without waiting for the write, unless
// the bytes held unwritten pass WriteBehindBytes.
func (s *Store) insertBehind(key, value []byte, h uint64) error {
	w := s.w
	op := w.behindOp()
	op.hold(key, value, h)
	op.req.behind = op
	n := len(op.buf)
	if err := s.pending.admit(&op.req, s.indexed); err != nil {
		w.freeBehindOp(op)
		return err
	}
	// Decided before the request is queued: once it is, the writer may
	// settle it (reading waits) and, unless it waits, reuse the op for
	// another insert at any moment; this one reads only its local copy.
	waits := w.behindBytes.Add(int64(n)) > s.opts.WriteBehindBytes
	op.waits = waits
	if err := w.enqueue(&op.req); err != nil {
		w.behindBytes.Add(-int64(n))
		s.pending.drop([]*request{&op.req})
		w.freeBehindOp(op)
		return err
	}
	w.wakeUp()
	if !waits {
		if w.behindBytes.Load() > s.opts.WriteBehindBytes/2 {
			// Half the budget is held: give this processor to the writer
			// (which the wake-up above made runnable here) rather than fill
			// the rest. Inserters that never block would otherwise keep
			// both processors until the budget is full and all of them
			// wait, and the writer's work and theirs would take turns
			// instead of overlapping (BenchmarkInsert/behind/16, five
			// alternating runs: median 2,633 ns an item against 2,820).
			runtime.Gosched()
		}
		return nil
	}
	<-op.w.done
	err := op.w.err
	w.freeBehindOp(op)
	return err
}

// Batch collects items for InsertBatch.
type Batch struct {
	keys, values [][]byte
}

// Put adds an item to the batch. The batch keeps key and value until
// InsertBatch returns; they must not change before then.
func (b *Batch) Put(key, value []byte) {
	b.keys = append(b.keys, key)
	b.values = append(b.values, value)
}

// Len is the number of items in the batch.
func (b *Batch) Len() int { return len(b.keys) }

// Item returns the i-th item put into the batch (0 ≤ i < Len).
func (b *Batch) Item(i int) (key, value []byte) { return b.keys[i], b.values[i] }

// Reset empties the batch for reuse.
func (b *Batch) Reset() {
	clear(b.keys)
	clear(b.values)
	b.keys, b.values = b.keys[:0], b.values[:0]
}

// InsertBatch inserts every item of b with one wait: the items go into as
// few records as fit (and, under SyncAlways, as few barriers). Keys already
// stored, or repeated within the batch, are skipped and counted in the
// result, since in a content-addressed store the same key means the same
// value. Any invalid item fails the whole batch before anything is written.
// A nil or empty batch does nothing.
func (s *Store) InsertBatch(b *Batch) (skipped int, err error) {
	if s.w == nil {
		return 0, ErrReadOnly
	}
	if b == nil {
		return 0, nil
	}
	for i := range b.keys {
		if err := s.checkItem(b.keys[i], b.values[i]); err != nil {
			return 0, fmt.Errorf("item %d: %w", i, err)
		}
	}
	c, ok := s.gate.enter(0, &s.closed)
	if !ok {
		return 0, ErrClosed
	}
	defer s.leaveInsert(c, time.Now())
	w := s.w
	reqs := make([]request, len(b.keys))
	ptrs := make([]*request, 0, len(b.keys))
	wt := &waiter{done: make(chan struct{}, 1)}
	// The batch holds one count of its own until every chunk is queued, so
	// the writer cannot finish it early; chunks are queued as they pass the
	// duplicate check, so writing overlaps checking.
	wt.remaining.Store(1)
	queued := 0
	flush := func() error {
		chunk := ptrs[queued:]
		if len(chunk) == 0 {
			return nil
		}
		wt.remaining.Add(int64(len(chunk)))
		if err := w.enqueue(chunk...); err != nil {
			wt.remaining.Add(-int64(len(chunk)))
			s.pending.drop(chunk)
			ptrs = ptrs[:queued]
			return err
		}
		// The writer goroutine writes the chunk while this one checks the
		// next: on two cores the overlap is worth more than the hand-off.
		w.wakeUp()
		queued = len(ptrs)
		return nil
	}
	// Check and admit a few dozen items at a time, queueing as they pass.
	for i := 0; i < len(b.keys) && err == nil; {
		end := min(i+64, len(b.keys))
		for j := i; j < end; j++ {
			reqs[j] = request{key: b.keys[j], value: b.values[j], hash: keyfile.Hash(s.sb.Salt, b.keys[j]), w: wt}
		}
		var n int
		ptrs, n, err = s.pending.admitRun(reqs[i:end], s.indexed, s.prefetchHomes, ptrs)
		skipped += n
		i = end
		if err == nil && len(ptrs)-queued >= batchChunk {
			err = flush()
		}
	}
	if err == nil {
		err = flush()
	} else {
		s.pending.drop(ptrs[queued:])
	}
	wt.ack(nil) // release the batch's own count
	<-wt.done
	if err == nil {
		err = wt.err
	}
	return skipped, err
}

// batchChunk is how many checked items InsertBatch queues at a time.
const batchChunk = 256

// prefetchHomes asks for the index lines the duplicate checks of rs will
// read (admitRun's prefetch).
func (s *Store) prefetchHomes(rs []request) {
	s.kf.PrefetchHomes(len(rs), func(i int) uint64 { return rs[i].hash })
}
