package nudb

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nudbgo/nudb/datafile"
	"github.com/nudbgo/nudb/internal/ioengine"
	"github.com/nudbgo/nudb/keyfile"
	"github.com/nudbgo/nudb/rebuild"
)

// request is one item on its way into the log.
type request struct {
	key, value []byte
	hash       uint64
	w          *waiter
	nextSame   *request // pending-set chain of requests with the same hash
	// behind is set for a SyncWriteBehind insert, whose caller has
	// returned: settling the request recycles the op (see settleBehind).
	behind *insertOp
}

// waiter is what an Insert (or InsertBatch) blocks on.
type waiter struct {
	// remaining counts items not yet acknowledged. It is atomic because
	// InsertBatch adds chunks while the writer acknowledges earlier ones.
	remaining atomic.Int64
	err       error // first failure; written by the writer goroutine before the final ack
	done      chan struct{}
}

func (w *waiter) ack(err error) {
	if err != nil && w.err == nil {
		w.err = err
	}
	if w.remaining.Add(-1) == 0 {
		w.done <- struct{}{}
	}
}

// insertOp is the pooled request+waiter of a single Insert, so the insert
// path does not allocate in steady state.
type insertOp struct {
	req request
	w   waiter
	// SyncWriteBehind: buf holds the item's copy (key then value) until it
	// is written; waits says the caller waits for it anyway (the bytes
	// held passed WriteBehindBytes) and recycles the op itself.
	buf   []byte
	waits bool
}

// slot is one record buffer; up to Options.InFlight are written at once.
type slot struct {
	id   uint64
	buf  []byte
	hdr  datafile.Header
	reqs []*request
	pos  []int // payload position of each item
	done bool
	err  error
	at   time.Time // when it was submitted (barrier latency)

	// entryFn is sl.entry, bound once so indexing a record allocates
	// nothing (a closure passed through writerIndex would escape).
	entryFn func(i int) (h uint64, off int64, size int)
}

// entry is the index entry of the record's i-th item.
func (sl *slot) entry(i int) (uint64, int64, int) {
	r := sl.reqs[i]
	return r.hash, sl.hdr.Offset + datafile.HeaderSize + int64(sl.pos[i]), len(r.value)
}

// Data-file growth steps.
const (
	growChunkMin    = 16 << 20
	growChunkZeroed = 8 << 20
)

// The writer's protocol, in one place.
//
// Insert and InsertBatch admit requests into the pending set (pendingSet:
// no pending request and no index entry may have the key) and queue them
// (enqueue). The writer goroutine moves the queue to its backlog, packs the
// backlog into records (group commit: while records are in flight, a new
// one is written only when the backlog fills a whole record; under
// SyncAlways, with nothing in flight, once the callers the last record woke
// have queued again, see gather), reserves room
// in the index for the record's entries, advances extent, and submits the
// write (RWF_DSYNC under SyncAlways). A reaper goroutine waits for the
// engine's completions and hands them back. Completed records retire in log
// order: written (and, with RWF_DSYNC, synced) advance over them, their
// entries enter the index, and only then are their inserts acknowledged and
// their requests dropped from the pending set. A failed write or sync stops
// the writer (ErrStopped): nothing after it is acknowledged.
//
// Lock order: the store's gate (entering never blocks) → a pendingSet
// shard's lock (one at a time) → the key file's table lock (the duplicate
// check's lookup, which also reads the data file) → writer.qmu. The writer
// goroutine takes the table lock (index inserts) and the shard locks
// (settling) one at a time, never nested.

// writerIndex is what the writer needs of the key file.
type writerIndex interface {
	SetExtent(int64)
	SetWritten(int64)
	SetSynced(int64)
	EnsureRoom(items int) error
	InsertMany(n int, entry func(i int) (h uint64, off int64, size int)) error
	Checkpoint() keyfile.Checkpoint
	WriteCheckpoint(keyfile.Checkpoint) error
	PendingSplits() int
	Stats() keyfile.TableStats
	Size() int64
	Sync() error
}

// appendTarget is the data file the writer appends to and grows.
type appendTarget interface {
	Size() int64
	Device() bool
	// Grow allocates the file up to size bytes; with zero (a buffer of
	// zeros) it also writes the new space, for durable writes that then
	// need no metadata commit.
	Grow(size int64, zero []byte) error
}

// writerStats are the counters the writer keeps for Stats.
type writerStats struct {
	records, syncs, bytesWritten, inserts atomic.Uint64
	dataSize                              atomic.Int64 // the data file's size as the writer grew it
	growths                               atomic.Uint64
	insertLatency                         latency // Insert and InsertBatch calls, observed by the callers
	barrierLatency                        latency // RWF_DSYNC record writes (submit to completion) and fdatasyncs
}

// writerConfig is what the writer takes from the options and the store's
// geometry.
type writerConfig struct {
	geom                datafile.Geometry
	mode                SyncMode
	maxRecord, inFlight int
	syncInterval        time.Duration
	syncBytes           int64
	checkpointEvery     time.Duration
	checkpointSplits    int
	checkpointBytes     int64
	engineName          string
	// inline: every mode but SyncAlways writes through the page cache (see
	// dataEngine), and a buffered write is complete when its system call
	// returns: the writer retires it at once instead of handing it to the
	// reaper.
	inline bool
	logger *slog.Logger
}

func writerConfigOf(o *Options, g datafile.Geometry) writerConfig {
	return writerConfig{geom: g, mode: o.Sync, maxRecord: max(o.MaxRecordSize, g.BlockSize), inFlight: o.InFlight,
		syncInterval: o.SyncInterval, syncBytes: o.SyncBytes, checkpointEvery: o.checkpointEvery,
		checkpointSplits: o.checkpointSplits, checkpointBytes: o.CheckpointBytes, logger: o.Logger,
		inline: o.Sync != SyncAlways}
}

// writer owns the data file's I/O engine. Producers queue requests; the
// writer goroutine packs them into records, keeps several in flight,
// advances the watermarks in DESIGN.md's order, indexes completed records
// and acknowledges their waiters (see the protocol above).
type writer struct {
	cfg     writerConfig
	eng     ioengine.Engine
	index   writerIndex
	file    appendTarget
	stats   *writerStats
	pending *pendingSet

	qmu      sync.Mutex // guards queue, stopping, failed
	queue    []*request
	stopping bool
	failed   error
	wake     chan struct{}

	syncReq chan chan error
	stopReq chan bool
	stopped chan error
	exited  chan struct{} // closed when the writer goroutine returns

	// The reaper goroutine waits for completions while the writer goes on
	// packing and submitting: submitted carries one token per submitted
	// write to it, completions carries every completion back (ID 0: the
	// engine itself failed).
	submitted   chan struct{}
	completions chan ioengine.Completion
	reaperDone  chan struct{}

	ops sync.Pool // *insertOp

	// behindBytes counts the SyncWriteBehind items (keys and values) held
	// in memory, not yet written.
	behindBytes atomic.Int64
	// behindFree keeps the ops of settled write-behind inserts for reuse.
	// Not a sync.Pool: the writer frees them on its own goroutine while
	// inserters take them on theirs, and a pool emptied by every GC would
	// make a steady stream of inserts allocate. It holds at most what the
	// writer ever lagged behind (WriteBehindBytes of items).
	behindMu   sync.Mutex
	behindFree []*insertOp
	freed      []*insertOp // the writer's ops settled in one settle call (w.mu)

	// mu is held by whoever runs the writer: the writer goroutine, or an
	// Insert that found it free and writes its own record (see kick).
	// Everything below is guarded by it.
	mu       sync.Mutex
	finished bool // the writer has stopped: nothing may be written any more
	// reapNow makes submit wait for the write's completion itself (lead):
	// set only while nothing else is in flight, so the reaper is idle.
	reapNow bool
	// lastGroup is how many inserts the last durable record acknowledged;
	// gather waits for them to come back (SyncAlways).
	lastGroup      int
	lastBarrier    time.Duration // the last durable record's write latency
	arena          *ioengine.Arena
	zero           *ioengine.Arena // zeros for growing the file under SyncAlways
	builder        *datafile.Builder
	hs             *datafile.Hasher
	backlog, spare []*request
	free           []*slot
	inflight       []*slot // in submission order
	comps          []ioengine.Completion
	nextID         uint64
	chain          chainState
	clock          schedule
	err            error // the failure that stopped the store
}

// chainState is where the log stands, as the writer goroutine sees it.
type chainState struct {
	nextOff     int64           // where the next record goes
	epoch       uint64          // this session's epoch, in every record it writes
	last        datafile.Header // last record submitted: the chain head
	lastWritten datafile.Header // the record ending at written
	lastSynced  datafile.Header // the record ending at synced
	written     int64           // every record below is written
	synced      int64           // every record below is durable
}

// schedule is when the writer last did its background duties.
type schedule struct {
	lastSubmit     time.Time // a record was submitted
	lastSync       time.Time // an fdatasync (SyncInterval)
	unsyncedBytes  int64     // written since lastSync
	lastCheckpoint time.Time
}

// newWriter makes the writer that goes on after tail. It owns eng from
// now on (and closes it when it stops).
func newWriter(cfg writerConfig, eng ioengine.Engine, index writerIndex, file appendTarget, stats *writerStats,
	pending *pendingSet, tail rebuild.Tail) (*writer, error) {
	g := cfg.geom
	slotSize := datafile.MaxRecordSize(g.KeySize, g.BlockSize)
	arena, err := ioengine.NewArena(slotSize * cfg.inFlight)
	if err != nil {
		eng.Close()
		return nil, err
	}
	// Recovery leaves the log's end in the tail and the checkpoint at or
	// below it; a checkpoint behind the end is written at once (below).
	end, last := tail.End, tail.Last
	w := &writer{cfg: cfg, eng: eng, index: index, file: file, stats: stats, pending: pending,
		wake: make(chan struct{}, 1), syncReq: make(chan chan error), stopReq: make(chan bool), stopped: make(chan error, 1),
		exited: make(chan struct{}), submitted: make(chan struct{}, cfg.inFlight),
		completions: make(chan ioengine.Completion, cfg.inFlight), reaperDone: make(chan struct{}),
		arena: arena, builder: datafile.NewBuilder(g.UID, g.KeySize, g.BlockSize), hs: datafile.NewHasher(),
		chain: chainState{nextOff: end, last: last, lastWritten: last, lastSynced: last, written: end, synced: end,
			// Every session writes under an epoch above any before it, so
			// a stale record beyond the end (a device keeps them) can never
			// pass as the continuation of the chain; the clock makes that
			// hold even when the key file that saw the last epoch is lost.
			epoch: max(last.Epoch+1, uint64(time.Now().UnixNano()))},
		clock: schedule{lastSync: time.Now(), lastCheckpoint: time.Now(), lastSubmit: time.Now()}}
	if end > index.Checkpoint().Offset {
		w.clock.lastCheckpoint = time.Time{} // checkpoint on the writer's first round
	}
	w.ops.New = func() any {
		op := &insertOp{}
		op.w.done = make(chan struct{}, 1)
		return op
	}
	for i := 0; i < cfg.inFlight; i++ {
		sl := &slot{buf: arena.Bytes()[i*slotSize : (i+1)*slotSize]}
		sl.entryFn = sl.entry
		w.free = append(w.free, sl)
	}
	return w, nil
}

// enqueue hands requests to the writer. It fails when the store is
// stopping or has failed.
func (w *writer) enqueue(reqs ...*request) error {
	w.qmu.Lock()
	switch {
	case w.stopping:
		w.qmu.Unlock()
		return ErrClosed
	case w.failed != nil:
		err := w.failed
		w.qmu.Unlock()
		return err
	}
	w.queue = append(w.queue, reqs...)
	w.qmu.Unlock()
	return nil
}

// wakeUp tells the writer goroutine that requests are queued.
func (w *writer) wakeUp() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// kick gets queued requests written without a goroutine hand-off where it
// can: a caller that finds the writer free writes the queue itself, and
// at one inserter an Insert then costs its write, not two or four
// hand-offs (inserter → writer → reaper → writer → inserter; ~10 µs each
// on a busy VM). With a buffered engine it writes whatever is queued
// (pump); under SyncAlways it writes one record and waits for that
// record's own durable completion (lead), and leaves bulk backlogs and
// records already in flight to the writer goroutine, which keeps several
// in flight. When another goroutine holds the writer, or the caller
// leaves work behind, the writer goroutine is woken, so a request queued
// behind a running pump is never stranded: it waits for the lock and
// writes whatever is left. SyncWriteBehind never writes in the caller.
func (w *writer) kick() {
	if w.cfg.mode == SyncWriteBehind || !w.mu.TryLock() {
		w.wakeUp()
		return
	}
	if w.cfg.inline {
		w.pump()
	} else {
		w.lead()
	}
	leftover := len(w.backlog) > 0
	w.mu.Unlock()
	if leftover {
		w.wakeUp()
	}
}

// lead is kick's SyncAlways path: with nothing in flight (so the reaper is
// idle and nothing else waits on the engine), it writes one record of the
// queue and waits for its completion in the caller's goroutine. w.mu is
// held.
func (w *writer) lead() {
	if w.finished || len(w.inflight) > 0 || w.err != nil {
		return
	}
	w.takeQueue()
	if len(w.backlog) == 0 || len(w.free) == 0 || w.backlogFillsRecord() {
		return // a bulk backlog: the writer goroutine keeps records in flight
	}
	w.gather()
	w.reapNow = true
	w.submitRecord()
	w.reapNow = false
	w.maintain()
}

// pump writes the queue: while records are in flight, another is written
// only when the backlog fills a whole record, so items arriving meanwhile
// gather into the next record (group commit), and a bulk load still keeps
// several full records in flight. w.mu is held.
func (w *writer) pump() {
	if w.finished {
		return
	}
	w.takeQueue()
	if len(w.inflight) == 0 && !w.cfg.inline {
		w.gather()
	}
	for len(w.backlog) > 0 && len(w.free) > 0 && w.err == nil && (len(w.inflight) == 0 || w.backlogFillsRecord()) {
		w.submitRecord()
	}
	if len(w.inflight) == 0 {
		w.maintain()
	}
}

// gather is group commit's other half under SyncAlways. A durable record
// that completes wakes every insert it carried at once, and their callers
// come back with their next items a few microseconds later, while the
// next record is already on its way with only the items that arrived
// during the barrier. Left alone, groups settle into alternating a large
// one and a small one (16 inserters: 15 and 1, 8 items a barrier), and
// half the barriers carry almost nothing. So before a record is written
// with nothing in flight, when fewer items wait than the last record
// acknowledged, the writer yields its processor to the woken callers until
// as many items wait, or for at most 1/gatherShare of the last barrier's
// latency (and gatherMax; no timer: it yields and reads the clock), and
// then writes the whole group. A caller that does not come back costs at
// most that delay, an eighth of a barrier; 16 inserters fill 15.6 slots of
// 16 a barrier (BenchmarkInsert/always/16; 8.0 before). w.mu is held, so
// the callers queue instead of leading records of their own. Nothing waits
// when nothing is queued: the first caller back leads and gathers the rest.
func (w *writer) gather() {
	have := len(w.backlog) + w.queuedLen()
	if have == 0 {
		return // nothing to write yet: the first caller back gathers
	}
	want := w.lastGroup
	w.lastGroup = 0 // once per acknowledged group
	if have >= want {
		return
	}
	deadline := time.Now().Add(min(w.lastBarrier/gatherShare, gatherMax))
	for have < want && time.Now().Before(deadline) {
		runtime.Gosched()
		have = len(w.backlog) + w.queuedLen()
	}
	w.takeQueue()
}

// gather's wait: at most 1/gatherShare of the last barrier's latency, and
// never more than gatherMax (a disk that stalled once must not make every
// later group spin for an eighth of the stall).
const (
	gatherShare = 8
	gatherMax   = time.Millisecond
)

// queuedLen is how many requests are queued for the writer.
func (w *writer) queuedLen() int {
	w.qmu.Lock()
	defer w.qmu.Unlock()
	return len(w.queue)
}

// locked runs fn holding w.mu.
func (w *writer) locked(fn func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	fn()
}

// run is the writer goroutine.
// tend runs the background duties (maintain: interval syncs, checkpoints),
// then writes what is queued. Called with w.mu held.
func (w *writer) tend() {
	w.maintain()
	w.pump()
}

func (w *writer) run() {
	defer close(w.exited)
	go w.reaper()
	tick := time.NewTicker(w.tickEvery())
	defer tick.Stop()
	// Every event is handled and the queue pumped under one hold of w.mu,
	// so after a completion a caller just acknowledged cannot lead a record
	// of its own before the next group gathers behind it (see gather).
	w.locked(w.tend) // the checkpoint recovery left to do, if any
	for {
		select {
		case c := <-w.completions:
			w.locked(func() {
				w.complete(c)
				w.tend()
			})
		case <-w.wake:
			w.locked(w.pump)
		case <-tick.C:
			w.locked(w.tend)
		case ch := <-w.syncReq:
			w.locked(func() {
				ch <- w.syncNow()
				w.pump()
			})
		case clean := <-w.stopReq:
			w.locked(func() {
				w.stopped <- w.finish(clean)
				w.finished = true
			})
			return
		}
	}
}

// reaper waits for the engine's completions and hands them to the writer.
func (w *writer) reaper() {
	defer close(w.reaperDone)
	var comps []ioengine.Completion
	pending := 0
	for {
		if pending == 0 {
			if _, ok := <-w.submitted; !ok {
				return
			}
			pending++
		}
		for more := true; more; {
			select {
			case _, ok := <-w.submitted:
				if !ok {
					more = false
					break
				}
				pending++
			default:
				more = false
			}
		}
		var err error
		comps, err = w.eng.Wait(comps[:0])
		for _, c := range comps {
			w.completions <- c
		}
		pending -= len(comps)
		if err != nil {
			w.completions <- ioengine.Completion{ID: 0, Err: err}
			// Nothing more will complete; take the remaining tokens.
			for range w.submitted {
			}
			return
		}
	}
}

func (w *writer) tickEvery() time.Duration {
	if w.cfg.mode == SyncInterval {
		return min(w.cfg.syncInterval, time.Second)
	}
	return time.Second
}

// backlogFillsRecord reports whether the backlog holds a full record.
func (w *writer) backlogFillsRecord() bool {
	n := datafile.HeaderSize
	for _, r := range w.backlog {
		n += datafile.ItemSize(len(r.key), len(r.value))
		if n >= w.cfg.maxRecord {
			return true
		}
	}
	return false
}

// takeQueue moves queued requests to the backlog, swapping slices so the
// steady state does not allocate.
func (w *writer) takeQueue() {
	w.qmu.Lock()
	if len(w.queue) > 0 {
		if len(w.backlog) == 0 {
			w.backlog, w.queue, w.spare = w.queue, w.spare[:0], w.backlog
		} else {
			w.backlog = append(w.backlog, w.queue...)
			w.queue = w.queue[:0]
		}
	}
	w.qmu.Unlock()
}

// submitRecord packs backlog requests into one record and submits it.
func (w *writer) submitRecord() {
	sl := w.takeSlot()
	b := w.builder
	n := 0
	for _, r := range w.backlog {
		if !b.Fits(len(r.value), w.cfg.maxRecord) {
			break
		}
		sl.pos = append(sl.pos, b.Add(r.key, r.value))
		sl.reqs = append(sl.reqs, r)
		n++
	}
	rest := copy(w.backlog, w.backlog[n:])
	clear(w.backlog[rest:])
	w.backlog = w.backlog[:rest]
	// Room in the key file for every entry this record could add, before
	// a byte of it is written: a full disk fails the record, not the index.
	if err := w.index.EnsureRoom(len(sl.reqs)); err != nil {
		w.finishSlot(sl, spaceError(err))
		return
	}
	w.submit(sl)
}

// needsMarker reports whether the newest record's items are durable but no
// record says so yet: then an empty marker record carrying the durable
// mark lets the data file alone prove their durability (see the package
// doc).
func (w *writer) needsMarker() bool {
	return w.chain.last.Items > 0 && w.chain.synced >= w.chain.last.End(w.cfg.geom.BlockSize) && w.chain.last.Durable < w.chain.synced &&
		len(w.inflight) == 0 && len(w.backlog) == 0 && len(w.free) > 0 && w.err == nil
}

// submitMarker writes an empty record whose durable mark is the synced
// watermark.
func (w *writer) submitMarker() {
	w.submit(w.takeSlot())
}

// takeSlot takes a free record buffer and starts a record in it.
func (w *writer) takeSlot() *slot {
	sl := w.free[len(w.free)-1]
	w.free = w.free[:len(w.free)-1]
	sl.reqs, sl.pos, sl.done, sl.err = sl.reqs[:0], sl.pos[:0], false, nil
	w.builder.Reset(sl.buf)
	return sl
}

// submit finishes the record in sl (its header links it to the chain and
// carries the durable mark) and submits its write.
func (w *writer) submit(sl *slot) {
	b := w.builder
	size := int64(datafile.RecordSize(b.PayloadLen(), w.cfg.geom.BlockSize))
	off := w.chain.nextOff
	if err := w.ensureSpace(off + size); err != nil {
		w.finishSlot(sl, err)
		return
	}
	ts := max(time.Now().UnixNano(), w.chain.last.Timestamp)
	hdr, rec := b.Finish(w.hs, datafile.Header{Offset: off, Seq: w.chain.last.Seq + 1, Epoch: w.chain.epoch, Timestamp: ts,
		PrevOffset: w.chain.last.Offset, PrevHash: w.chain.last.Hash, Durable: w.chain.synced})
	sl.hdr = hdr
	sl.at = time.Now()
	w.nextID++
	sl.id = w.nextID
	// extent first: no record may reach past it once submitted.
	w.index.SetExtent(off + size)
	if err := w.eng.SubmitWrite(sl.id, rec, off, w.cfg.mode == SyncAlways); err != nil {
		w.fail(err)
		w.finishSlot(sl, w.err)
		return
	}
	w.inflight = append(w.inflight, sl)
	w.chain.nextOff = off + size
	w.chain.last = hdr
	w.clock.lastSubmit = sl.at
	if w.cfg.inline || w.reapNow {
		w.reapInline()
		return
	}
	w.submitted <- struct{}{} // never blocks: at most InFlight writes are in flight
}

// reapInline waits for the completion of the write just submitted, in
// this goroutine (a buffered engine has completed it already; lead's
// durable write is the only one in flight), and retires it.
func (w *writer) reapInline() {
	comps, err := w.eng.Wait(w.comps[:0])
	for _, c := range comps {
		w.complete(c)
	}
	if err != nil {
		w.complete(ioengine.Completion{ID: 0, Err: err})
	}
	w.comps = comps[:0]
}

// noSpace reports whether err says the filesystem is full.
func noSpace(err error) bool { return errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) }

// spaceError marks a failure to allocate space as ErrFull.
func spaceError(err error) error {
	if noSpace(err) || errors.Is(err, keyfile.ErrNoSpace) {
		return fmt.Errorf("%w: %w", ErrFull, err)
	}
	return err
}

// ensureSpace grows a regular data file ahead of the log (allocated space
// is written far faster than appending past the end) or reports a full
// device. When the disk cannot hold a whole growth step it grows by just
// what the record needs, so the store fills the disk down to one record.
func (w *writer) ensureSpace(end int64) error {
	f := w.file
	if end > keyfile.MaxOffset {
		// An index entry holds a 48-bit item offset.
		return fmt.Errorf("%w: record ending at %d is past the index's 256 TiB limit", ErrFull, end)
	}
	if end <= f.Size() {
		return nil
	}
	if f.Device() {
		return fmt.Errorf("%w: record ending at %d, device holds %d bytes", ErrFull, end, f.Size())
	}
	var zero []byte
	step := max(growChunkMin, f.Size()/8)
	if w.cfg.mode == SyncAlways {
		// Durable writes are latency bound: zeroed space saves a metadata
		// commit on every one of them (see ioengine.File.GrowZeroed).
		if w.zero == nil {
			var err error
			if w.zero, err = ioengine.NewArena(1 << 20); err != nil {
				return err
			}
		}
		zero, step = w.zero.Bytes(), growChunkZeroed
	}
	err := f.Grow(end+step, zero)
	if noSpace(err) {
		err = f.Grow(end, zero)
	}
	if err != nil {
		return spaceError(err)
	}
	w.stats.dataSize.Store(f.Size())
	w.stats.growths.Add(1)
	return nil
}

// complete records one completion and retires the completed prefix of the
// records in flight, in log order.
func (w *writer) complete(c ioengine.Completion) {
	if c.ID == 0 {
		// The engine failed: nothing in flight will complete.
		w.fail(c.Err)
		for _, sl := range w.inflight {
			sl.done = true
			if sl.err == nil {
				sl.err = c.Err
			}
		}
	}
	for _, sl := range w.inflight {
		if sl.id == c.ID {
			sl.done, sl.err = true, c.Err
		}
	}
	for len(w.inflight) > 0 && w.inflight[0].done {
		sl := w.inflight[0]
		// Shift down rather than reslice, so appends reuse the array.
		n := copy(w.inflight, w.inflight[1:])
		w.inflight[n] = nil
		w.inflight = w.inflight[:n]
		w.retire(sl)
	}
}

// retire handles one completed record, in log order: written (and, with
// RWF_DSYNC, synced) advance over it, its items enter the index, then their
// inserts are acknowledged.
func (w *writer) retire(sl *slot) {
	if sl.err != nil || w.err != nil {
		w.fail(sl.err)
		w.finishSlot(sl, w.err)
		return
	}
	end := sl.hdr.End(w.cfg.geom.BlockSize)
	size := end - sl.hdr.Offset
	w.chain.written, w.chain.lastWritten = end, sl.hdr
	w.index.SetWritten(end)
	if w.cfg.mode == SyncAlways {
		w.chain.synced, w.chain.lastSynced = end, sl.hdr
		w.index.SetSynced(end)
		w.stats.syncs.Add(1)
		w.stats.barrierLatency.since(sl.at)
		w.lastGroup += len(sl.reqs)
		w.lastBarrier = time.Since(sl.at)
	} else {
		w.clock.unsyncedBytes += size
	}
	ierr := w.index.InsertMany(len(sl.reqs), sl.entryFn)
	w.stats.records.Add(1)
	w.stats.inserts.Add(uint64(len(sl.reqs)))
	w.stats.bytesWritten.Add(uint64(size))
	if ierr != nil {
		w.fail(fmt.Errorf("nudb: indexing: %w", ierr))
	}
	w.finishSlot(sl, w.err)
}

// finishSlot acknowledges a slot's requests with err and frees the slot.
func (w *writer) finishSlot(sl *slot, err error) {
	w.settle(sl.reqs, err)
	clear(sl.reqs)
	w.free = append(w.free, sl)
}

// settle takes requests out of the pending set and acknowledges them with
// err (nil: written).
func (w *writer) settle(reqs []*request, err error) {
	w.pending.drop(reqs)
	// A request is never touched after its ack: the woken caller may reuse
	// it at once.
	for _, r := range reqs {
		if op := r.behind; op != nil {
			w.settleBehind(op, err)
			continue
		}
		r.w.ack(err)
	}
	if len(w.freed) > 0 {
		w.behindMu.Lock()
		w.behindFree = append(w.behindFree, w.freed...)
		w.behindMu.Unlock()
		clear(w.freed)
		w.freed = w.freed[:0]
	}
}

// settleBehind ends a SyncWriteBehind insert: its bytes leave the count
// and the op is set aside for reuse (w.freed), unless its caller waits
// for it: that one is woken and frees the op itself. A failure reaches the
// callers through their next call (the writer has stopped: enqueue, Sync
// and Close return w.err).
func (w *writer) settleBehind(op *insertOp, err error) {
	w.behindBytes.Add(-int64(len(op.req.key) + len(op.req.value)))
	if op.waits {
		op.w.ack(err)
		return
	}
	op.req = request{}
	w.freed = append(w.freed, op)
}

// behindOp takes a free write-behind op, or makes one.
func (w *writer) behindOp() *insertOp {
	w.behindMu.Lock()
	var op *insertOp
	if n := len(w.behindFree); n > 0 {
		op = w.behindFree[n-1]
		w.behindFree[n-1] = nil
		w.behindFree = w.behindFree[:n-1]
	}
	w.behindMu.Unlock()
	if op == nil {
		op = w.ops.New().(*insertOp)
	}
	return op
}

// freeBehindOp returns an op the inserter is done with.
func (w *writer) freeBehindOp(op *insertOp) {
	op.req = request{}
	w.behindMu.Lock()
	w.behindFree = append(w.behindFree, op)
	w.behindMu.Unlock()
}

// fail stops the store accepting inserts after an I/O error. The first
// error is kept; every queued request fails with it.
func (w *writer) fail(err error) {
	if w.err != nil {
		return
	}
	if err == nil {
		err = errors.New("unknown failure")
	}
	w.err = fmt.Errorf("%w: %w", ErrStopped, spaceError(err))
	if l := w.cfg.logger; l != nil {
		l.Error("nudb: a write or sync failed; the store takes no more inserts (reads go on)", "err", w.err)
	}
	w.qmu.Lock()
	w.failed = w.err
	w.qmu.Unlock()
	w.failQueued(w.err)
}

// drain waits until nothing is in flight.
func (w *writer) drain() {
	for len(w.inflight) > 0 {
		w.complete(<-w.completions)
	}
}

// datasync makes everything written durable (SyncInterval, SyncNever).
func (w *writer) datasync() error {
	if w.err != nil {
		return w.err
	}
	if w.chain.synced == w.chain.written {
		return nil
	}
	start := time.Now()
	if err := w.eng.Datasync(); err != nil {
		w.fail(err)
		return w.err
	}
	w.stats.barrierLatency.since(start)
	w.chain.synced, w.chain.lastSynced = w.chain.written, w.chain.lastWritten
	w.index.SetSynced(w.chain.synced)
	w.stats.syncs.Add(1)
	w.clock.unsyncedBytes = 0
	w.clock.lastSync = time.Now()
	return nil
}

// syncNow serves Sync: every acknowledged insert becomes durable.
func (w *writer) syncNow() error {
	w.flushQueue()
	w.drain()
	return w.datasync()
}

// flushQueue writes everything queued (SyncWriteBehind's acknowledged
// inserts among it) and waits for the writes.
func (w *writer) flushQueue() {
	for {
		w.takeQueue()
		if len(w.backlog) == 0 || w.err != nil {
			break
		}
		for len(w.backlog) > 0 && len(w.free) > 0 && w.err == nil {
			w.submitRecord()
		}
		if len(w.inflight) > 0 {
			w.complete(<-w.completions)
		}
	}
	w.drain()
}

// maintain runs the background duties: interval syncs and checkpoints.
func (w *writer) maintain() {
	if w.err != nil {
		return
	}
	now := time.Now()
	if w.cfg.mode == SyncInterval && w.chain.written > w.chain.synced &&
		(now.Sub(w.clock.lastSync) >= w.cfg.syncInterval || w.clock.unsyncedBytes >= w.cfg.syncBytes) {
		if w.datasync() != nil {
			return
		}
	}
	if w.needsMarker() && now.Sub(w.clock.lastSubmit) >= w.tickEvery() {
		w.submitMarker()
	}
	kf := w.index
	splits := kf.PendingSplits()
	o := &w.cfg
	// The log past the checkpoint is what an unclean Open reads and
	// re-indexes: bound it in bytes too (checkpointDistance). In
	// SyncInterval and SyncNever that takes a sync first.
	behind := w.chain.written-kf.Checkpoint().Offset >= checkpointDistance(o.checkpointBytes, kf.Size())
	if behind && w.chain.synced < w.chain.written {
		if w.datasync() != nil {
			return
		}
	}
	// Checkpoint when new synced data has waited long enough, or is too
	// much, or when enough split copies wait to be cleaned
	// (Options.checkpointEvery, checkpointSplits).
	if (w.chain.synced > kf.Checkpoint().Offset && (now.Sub(w.clock.lastCheckpoint) >= o.checkpointEvery || behind)) ||
		(splits >= o.checkpointSplits && uint64(splits) >= kf.Stats().Buckets/2) {
		if err := w.checkpoint(); err != nil {
			w.fail(err)
		}
	}
}

// checkpointKeyFiles is how many key files' worth of log may pass between
// two checkpoints, at least (see checkpointDistance).
const checkpointKeyFiles = 2

// checkpointDistance is how much log may pass the checkpoint before the
// writer checkpoints for its size: Options.CheckpointBytes, or
// checkpointKeyFiles times the key file's size when that is more. A
// checkpoint msyncs every key-file page dirtied since the last one, and
// each page it writes back is write-protected again, so the next insert
// into it takes a fault: during a load nearly every page is dirtied
// between checkpoints, and a checkpoint costs in proportion to the key
// file, not to the log it covers. Scaling the distance with the key file
// keeps that cost per logged byte constant as the store grows (loading 2M
// items of 128 bytes: 2,000 ns an item against 2,500 with a fixed 64 MiB,
// BenchmarkInsertBatch/uring -benchtime 2000000x). The price: after a
// power loss, Open re-indexes up to this much log (after a process crash
// it finds the entries in place and only reads it).
func checkpointDistance(checkpointBytes, keyFileSize int64) int64 {
	return max(checkpointBytes, checkpointKeyFiles*keyFileSize)
}

// checkpoint makes the index durable up to the synced watermark.
func (w *writer) checkpoint() error {
	w.clock.lastCheckpoint = time.Now()
	return w.index.WriteCheckpoint(rebuild.CheckpointFor(w.chain.lastSynced, w.chain.synced))
}

// finish runs when the store closes. clean: write everything queued, sync,
// checkpoint at the end of the log. Not clean (tests simulating a crash):
// only wait for the I/O in flight, so no buffer is freed under the kernel.
func (w *writer) finish(clean bool) error {
	defer func() {
		close(w.submitted)
		<-w.reaperDone
		w.eng.Close()
		w.arena.Free()
		if w.zero != nil {
			w.zero.Free()
		}
	}()
	if !clean {
		w.drain()
		w.failQueued(ErrClosed)
		return nil
	}
	w.flushQueue()
	w.failQueued(ErrClosed)
	if w.err != nil {
		return w.err
	}
	if err := w.datasync(); err != nil {
		return err
	}
	if w.needsMarker() {
		// The closed store's data file proves its own durability.
		w.submitMarker()
		w.drain()
		if err := w.datasync(); err != nil {
			return err
		}
	}
	if w.err != nil {
		return w.err
	}
	if err := w.checkpoint(); err != nil {
		return err
	}
	return w.index.Sync()
}

// failQueued fails every request queued or in the backlog with err.
func (w *writer) failQueued(err error) {
	w.takeQueue()
	w.settle(w.backlog, err)
	clear(w.backlog)
	w.backlog = w.backlog[:0]
}

// stop asks the writer goroutine to finish and waits for it.
func (w *writer) stop(clean bool) error {
	w.qmu.Lock()
	w.stopping = true
	w.qmu.Unlock()
	select {
	case w.stopReq <- clean:
		return <-w.stopped
	case <-w.exited:
		return ErrClosed
	}
}

// sync asks the writer goroutine for a Sync and waits for it.
func (w *writer) sync() error {
	ch := make(chan error, 1)
	select {
	case w.syncReq <- ch:
		return <-ch
	case <-w.exited:
		return ErrClosed
	}
}
