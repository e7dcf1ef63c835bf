package nudb

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nudbgo/nudb/datafile"
	"github.com/nudbgo/nudb/internal/ioengine"
	"github.com/nudbgo/nudb/keyfile"
	"github.com/nudbgo/nudb/rebuild"
)

// Store is an open nudb store.
type Store struct {
	opts  Options
	sb    datafile.Superblock
	geom  datafile.Geometry
	df    *ioengine.File
	kf    *keyfile.File
	reads readBuffers

	// gate admits every call (fetches, inserts, Visit, Stats) without a
	// shared lock word; Close sets closed, then waits until the gate is
	// empty before it unmaps anything. Nothing ever blocks on entering, so
	// a call made from inside another during Close cannot deadlock.
	gate      readGate
	closed    atomic.Bool
	closeOnce sync.Once
	closeDone chan struct{}
	closeErr  error

	w *writer

	recMu    sync.Mutex // guards recovery: the scrub fills in its part
	recovery RecoveryStats
	// scrubStop ends the background scrub; scrubDone is closed when it
	// has returned (at once when there is none).
	scrubStop, scrubDone chan struct{}

	pending *pendingSet // requests on their way into the log
	stats   writerStats // counters since Open, updated by the writer, read by Stats
}

// Range is a stretch of the data file.
type Range = rebuild.Range

// RecoveryStats says what the last Open did to bring the store up to date.
type RecoveryStats struct {
	Clean           bool          // closed cleanly: nothing to recover
	Rebuilt         bool          // the key file was rebuilt from the data file
	Reason          string        // why recovery or a rebuild ran
	BytesScanned    int64         // data-file bytes read
	RecordsVerified int           // records whose hash was checked
	ItemsIndexed    int           // items re-inserted into the index
	Durable         int64         // where the durable part of the log ends, as proven
	TornAt          int64         // where a torn tail was cut (0: none)
	RecordsDropped  int           // records cut with the torn tail that still validated
	BytesDropped    int64         // bytes cut off the tail
	DamagedRecords  int           // records lost to media damage inside the durable part (skipped, never cut)
	DamagedBytes    int64         // bytes of those records
	Damaged         []Range       // where they are
	Duration        time.Duration // time Open spent on it
	Scrub           ScrubStats    // the background re-check that follows an unclean Open
}

// ScrubStats says what the background scrub after an unclean Open found:
// it re-checks the hashes of RecoveryWindow of the newest records below the
// checkpoint, walking backwards.
type ScrubStats struct {
	Ran        bool    // a scrub was started
	Done       bool    // it has finished
	Records    int     // records it checked
	Damaged    []Range // damaged records it found
	Incomplete bool    // it stopped early (damage hid the way back, or Close)
	Err        string  // an I/O error that ended it
}

// Lost reports whether recovery dropped anything that still validated or
// skipped media damage: what a careful caller reports to a person.
func (r *RecoveryStats) Lost() bool { return r.RecordsDropped > 0 || r.DamagedRecords > 0 }

// Stats describes a store.
type Stats struct {
	Items        uint64   // items in the store
	Records      uint64   // records in the log
	Syncs        uint64   // fdatasync/RWF_DSYNC barriers since Open
	IOEngine     string   // "io_uring" or "pwrite" (SyncAlways), "buffered" (the other modes)
	Sync         SyncMode // the mode the store was opened in
	Inserts      uint64   // items inserted since Open
	BytesWritten uint64   // record bytes written since Open
	LogEnd       int64    // offset where the next record goes
	DataSize     int64    // data file (or device) size
	KeyFileSize  int64
	Extent       int64 // watermarks
	Written      int64
	Synced       int64
	Checkpoint   int64
	Buckets      uint64  // hash-table buckets
	LoadFactor   float64 // index entries ÷ bucket slots
	Recovery     RecoveryStats

	// Counters and distributions since Open, for dashboards (the prom
	// module exports them to Prometheus).
	FetchHits      uint64    // Fetch, FetchFunc and Exists calls that found their key
	FetchMisses    uint64    // … that did not
	DataGrowths    uint64    // times the writer grew the data file
	InsertLatency  Histogram // Insert, InsertContext and InsertBatch calls, entry to return (in the store's SyncMode)
	BarrierLatency Histogram // durable barriers: an RWF_DSYNC record write (submit to completion) or an fdatasync
}

// dataFile adapts the open data file to what package rebuild reads.
type dataFile struct{ f *ioengine.File }

func (d dataFile) ReadAt(p []byte, off int64) (int, error) { return d.f.ReadAt(p, off) }
func (d dataFile) Size() int64                             { return d.f.Size }
func (d dataFile) Truncate(n int64) error                  { return d.f.Truncate(n) }
func (d dataFile) Sync() error                             { return ioengine.Datasync(d.f.Fd) }

// Prefetch passes the scanner's read-ahead hint on (datafile.Prefetcher).
func (d dataFile) Prefetch(off, n int64) { d.f.Prefetch(off, n) }

// appender adapts the open data file to what the writer appends to.
type appender struct{ f *ioengine.File }

func (a appender) Size() int64  { return a.f.Size }
func (a appender) Device() bool { return a.f.Device }
func (a appender) Grow(size int64, zero []byte) error {
	if zero != nil {
		return a.f.GrowZeroed(size, zero)
	}
	return a.f.Grow(size)
}

func rebuildStore(df *ioengine.File, sb datafile.Superblock) *rebuild.Store {
	return &rebuild.Store{File: dataFile{df}, Geom: sb.Geometry(), ID: identityOf(sb)}
}

// readSuperblock reads and checks block 0 of an open data file.
func readSuperblock(df *ioengine.File) (datafile.Superblock, error) {
	size := max(4096, df.LogicalBlock)
	if df.Size < int64(size) && !df.Device {
		size = 512
	}
	arena, err := ioengine.NewArena(size)
	if err != nil {
		return datafile.Superblock{}, err
	}
	defer arena.Free()
	if n, _ := df.ReadAt(arena.Bytes()[:size], 0); n < 512 {
		return datafile.Superblock{}, fmt.Errorf("%w: %s is too short", ErrNotStore, df.Path)
	}
	sb, err := datafile.DecodeSuperblock(arena.Bytes()[:size])
	if err != nil {
		return sb, fmt.Errorf("%s: %w", df.Path, err)
	}
	if df.Device && int(sb.BlockSize)%df.LogicalBlock != 0 {
		return sb, fmt.Errorf("%w: block size %d does not suit the device's %d-byte sectors", ErrCorrupt, sb.BlockSize, df.LogicalBlock)
	}
	return sb, nil
}

// Open opens the store in dataPath and keyPath for reading and writing.
// After an unclean stop it recovers (see the package doc); a key file that
// is missing, belongs to another store or is damaged is rebuilt from the
// data file.
//
// Open waits up to Options.LockTimeout for a store that is open elsewhere
// (a writer killed a moment ago still holds it briefly), then returns
// ErrLocked. A data file that is not a store, or a key path that holds
// anything but a key file, an empty file or nothing, returns ErrNotStore
// and neither file is written.
func Open(dataPath, keyPath string, opts *Options) (*Store, error) {
	return OpenContext(context.Background(), dataPath, keyPath, opts)
}

// OpenContext is Open whose recovery (the replay of the log after an
// unclean stop, or a rebuild of the key file) stops once ctx is done and
// returns ctx.Err(). A stopped recovery cuts, renames and checkpoints
// nothing: the next Open recovers again, from where the last checkpoint
// left it.
func OpenContext(ctx context.Context, dataPath, keyPath string, opts *Options) (*Store, error) {
	if ctx == nil {
		return nil, fmt.Errorf("%w: nil context", ErrInvalidArgument)
	}
	o := opts.withDefaults()
	if err := o.validateOpen(); err != nil {
		return nil, err
	}
	if err := checkDistinct(dataPath, keyPath); err != nil {
		return nil, err
	}
	if o.ReadOnly {
		return openReadOnly(dataPath, keyPath, o)
	}
	if _, err := checkKeyPath(keyPath); err != nil {
		return nil, err
	}
	df, err := ioengine.OpenFile(dataPath, ioengine.Exclusive, o.LockTimeout)
	if err != nil {
		return nil, openError(err)
	}
	s, err := open(ctx, df, keyPath, o)
	if err != nil {
		df.Close()
		return nil, err
	}
	return s, nil
}

func open(ctx context.Context, df *ioengine.File, keyPath string, o Options) (*Store, error) {
	sb, err := readSuperblock(df)
	if err != nil {
		return nil, err
	}
	s := &Store{opts: o, sb: sb, df: df, geom: sb.Geometry(), closeDone: make(chan struct{}),
		scrubStop: make(chan struct{}), scrubDone: make(chan struct{})}
	s.opts.KeySize, s.opts.BlockSize = int(sb.KeySize), int(sb.BlockSize)
	tail, err := s.recover(ctx, keyPath)
	if err != nil {
		return nil, err
	}
	s.kf.AfterMsync = o.afterMsync
	if id, ok := keyfile.BootID(); ok {
		s.kf.SetBoot(id)
	}
	if err := s.kf.SetClean(false); err != nil {
		s.kf.Close()
		return nil, err
	}
	s.reads.init(df, s.geom)
	s.gate.drained = make(chan struct{}, 1)
	s.stats.dataSize.Store(df.Size)
	s.pending = newPendingSet()
	cfg := writerConfigOf(&s.opts, s.geom)
	eng, err := dataEngine(df, &o, cfg.inline)
	if err != nil {
		s.reads.free()
		s.kf.Close()
		return nil, fmt.Errorf("nudb: I/O engine: %w", err)
	}
	cfg.engineName = eng.Name()
	if o.wrapEngine != nil {
		eng = o.wrapEngine(eng)
	}
	if s.w, err = newWriter(cfg, eng, s.kf, appender{df}, &s.stats, s.pending, tail); err != nil {
		s.reads.free()
		s.kf.Close()
		return nil, err
	}
	go s.w.run()
	if l := o.Logger; l != nil && df.LockWait > 0 {
		l.Info("nudb: waited for the store's lock, held by another open (a writer killed a moment ago keeps it briefly)",
			"data", df.Path, "waited", df.LockWait)
	}
	s.logRecovery()
	if s.recovery.Clean {
		close(s.scrubDone)
	} else {
		s.recovery.Scrub.Ran = true
		go s.scrub(tail.Last)
		if o.WaitScrub {
			<-s.scrubDone
		}
	}
	return s, nil
}

// dataEngine is how the writer writes the data file. SyncAlways writes
// each record O_DIRECT with RWF_DSYNC through the chosen engine (io_uring
// or pwrite): its inserts wait for the device anyway. SyncInterval and
// SyncNever acknowledge a record once the kernel holds it, so they write
// through the buffered descriptor: a pwrite into the page cache takes
// microseconds where a direct write waits for the device (see the package
// doc, "Departures").
func dataEngine(df *ioengine.File, o *Options, buffered bool) (ioengine.Engine, error) {
	if buffered {
		return ioengine.NewBuffered(df.BufFd), nil
	}
	return ioengine.New(o.IOEngine.kind(), df.Fd, 2*o.InFlight)
}

// durableHint is what a key file that cannot serve as the index still
// proves about the log: its synced watermark, when its header is readable.
func durableHint(keyPath string, id keyfile.Identity) int64 {
	h, err := keyfile.ReadHeader(keyPath, id)
	if err != nil || !h.Valid() {
		return 0
	}
	return int64(h.Synced)
}

// recover opens the key file and brings it up to date, rebuilding it when
// it cannot be repaired. It returns where the writer goes on.
func (s *Store) recover(ctx context.Context, keyPath string) (rebuild.Tail, error) {
	start := time.Now()
	rs := rebuildStore(s.df, s.sb)
	rs.Stop = ctx.Err
	var reason string
	kf, err := keyfile.Open(keyPath, rs.ID, false)
	switch {
	case err == nil:
		kf.AfterMsync = s.opts.afterMsync
		rep, tail, err := rebuild.Recover(rs, kf)
		if err == nil {
			s.kf = kf
			s.setRecovery(rep, start)
			return tail, nil
		}
		kf.Close()
		if !errors.Is(err, rebuild.ErrNeedRebuild) {
			return rebuild.Tail{}, err
		}
		reason = err.Error()
	case errors.Is(err, keyfile.ErrNotKeyFile):
		return rebuild.Tail{}, fmt.Errorf("%w: %w", ErrNotStore, err)
	case keyfile.Unusable(err):
		reason = err.Error()
	default:
		return rebuild.Tail{}, err
	}
	kf, rep, tail, err := rebuild.Rebuild(rs, keyPath, durableHint(keyPath, rs.ID), s.opts.Progress)
	if err != nil {
		return rebuild.Tail{}, fmt.Errorf("nudb: rebuilding the key file (%s): %w", reason, err)
	}
	rep.Reason = reason
	s.kf = kf
	s.setRecovery(rep, start)
	return tail, nil
}

func (s *Store) setRecovery(rep rebuild.Report, start time.Time) {
	s.recovery = recoveryStats(rep)
	s.recovery.Duration = time.Since(start)
	s.stats.records.Store(rep.Records)
}

func recoveryStats(rep rebuild.Report) RecoveryStats {
	return RecoveryStats{Clean: rep.Clean, Rebuilt: rep.Rebuilt, Reason: rep.Reason, BytesScanned: rep.BytesScanned,
		RecordsVerified: rep.RecordsVerified, ItemsIndexed: rep.ItemsIndexed, Durable: rep.Durable, TornAt: rep.TornAt,
		RecordsDropped: rep.RecordsDropped, BytesDropped: rep.BytesDropped, DamagedRecords: rep.DamagedRecords,
		DamagedBytes: rep.DamagedBytes, Damaged: rep.Damaged, Duration: rep.Duration}
}

// logRecovery tells Options.Logger what Open did, loudly when it lost
// anything.
func (s *Store) logRecovery() {
	l, r := s.opts.Logger, &s.recovery
	if l == nil || r.Clean {
		return
	}
	attrs := []any{"data", s.df.Path, "reason", r.Reason, "rebuilt", r.Rebuilt, "records_verified", r.RecordsVerified,
		"items_indexed", r.ItemsIndexed, "duration", r.Duration}
	if r.Lost() {
		l.Warn("nudb: recovery dropped or skipped records", append(attrs, "torn_at", r.TornAt,
			"records_dropped", r.RecordsDropped, "damaged_records", r.DamagedRecords, "damaged", r.Damaged)...)
		return
	}
	l.Info("nudb: recovered after an unclean stop", attrs...)
}

// scrub re-checks the newest records below the tail in the background.
func (s *Store) scrub(from datafile.Header) {
	defer close(s.scrubDone)
	rep, err := rebuild.Scrub(rebuildStore(s.df, s.sb), from, s.opts.RecoveryWindow, s.scrubStop)
	s.recMu.Lock()
	sc := &s.recovery.Scrub
	sc.Done, sc.Records, sc.Damaged, sc.Incomplete = true, rep.Records, rep.Damaged, rep.Incomplete
	if err != nil {
		sc.Err = err.Error()
	}
	s.recMu.Unlock()
	if l := s.opts.Logger; l != nil && (len(rep.Damaged) > 0 || err != nil) {
		l.Warn("nudb: scrub found media damage below the checkpoint", "data", s.df.Path, "damaged", rep.Damaged, "err", err)
	}
}

// Close writes what is queued, makes everything durable, checkpoints the
// index, marks the store clean and releases it. A write or sync that
// failed is returned here too. Close is idempotent: later and concurrent
// calls wait for the first and return its result. The store's methods
// return ErrClosed afterwards.
func (s *Store) Close() error { return s.shutdown(true) }

// shutdown stops the store, once. clean=false abandons it as a crash would
// (nothing synced, no checkpoint, clean flag unset): tests use it.
func (s *Store) shutdown(clean bool) error {
	s.closeOnce.Do(func() {
		s.closeErr = s.stop(clean)
		close(s.closeDone)
	})
	<-s.closeDone
	return s.closeErr
}

func (s *Store) stop(clean bool) error {
	s.closed.Store(true)
	close(s.scrubStop)
	<-s.scrubDone
	var err error
	if s.w != nil {
		err = s.w.stop(clean)
	}
	s.gate.wait()
	if clean && err == nil && s.w != nil {
		err = s.kf.SetClean(true)
	}
	s.reads.free()
	if e := s.kf.Close(); err == nil {
		err = e
	}
	if e := s.df.Close(); err == nil {
		err = e
	}
	return err
}

// Stats reports the store's size, watermarks, counters and what the last
// Open's recovery did. It is cheap and safe to call concurrently, and
// after Close (it then reports the counters and the recovery only).
func (s *Store) Stats() Stats {
	s.recMu.Lock()
	rec := s.recovery
	s.recMu.Unlock()
	st := Stats{Records: s.stats.records.Load(), Syncs: s.stats.syncs.Load(), Inserts: s.stats.inserts.Load(),
		BytesWritten: s.stats.bytesWritten.Load(), Recovery: rec, Sync: s.opts.Sync,
		DataGrowths: s.stats.growths.Load(), InsertLatency: s.stats.insertLatency.snapshot(),
		BarrierLatency: s.stats.barrierLatency.snapshot()}
	st.FetchHits, st.FetchMisses = s.gate.fetches()
	if s.w != nil {
		st.IOEngine = s.w.cfg.engineName
	}
	c, ok := s.gate.enter(0, &s.closed)
	if !ok {
		return st
	}
	defer s.gate.exit(c, &s.closed)
	ts := s.kf.Stats()
	wm := s.kf.Watermarks()
	st.Items, st.Buckets, st.LoadFactor = ts.Items, ts.Buckets, ts.LoadFactor
	st.Extent, st.Written, st.Synced, st.Checkpoint = int64(wm.Extent), int64(wm.Written), int64(wm.Synced), wm.Checkpoint
	st.LogEnd, st.DataSize, st.KeyFileSize = int64(wm.Written), s.stats.dataSize.Load(), s.kf.Size()
	return st
}

// KeySize is the store's key size in bytes (fixed at Create).
func (s *Store) KeySize() int { return s.opts.KeySize }

// Sync makes every Insert that has returned durable: it drains the records
// in flight and issues one fdatasync (under SyncAlways they are durable
// already).
func (s *Store) Sync() error {
	c, ok := s.gate.enter(0, &s.closed)
	if !ok {
		return ErrClosed
	}
	defer s.gate.exit(c, &s.closed)
	if s.w == nil {
		return ErrReadOnly
	}
	return s.w.sync()
}
