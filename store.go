// Package nudb is an embedded, append-only key/value store for
// content-addressed data in the style of NuDB: keys are fixed-size (usually
// hashes), values are immutable, and there is no update or delete.
//
// A store is two files. The data file (a regular file or a raw block device)
// is the only source of truth: an append-only log of records, each carrying
// a SHA-256 hash, a timestamp and the hash of the record before it, written
// with O_DIRECT through io_uring (or pwrite where io_uring is refused). The
// key file is a memory-mapped hash index that can always be rebuilt from the
// log; its header holds the extent, written, synced and checkpoint
// watermarks that tell Open how much of the log was at risk when a process
// or machine stopped.
//
// # Guarantees
//
//   - An Insert acknowledged under SyncAlways, or followed by a successful
//     Sync, survives power loss and is fetchable byte for byte after Open.
//   - A process crash (kill -9) loses nothing whose Insert returned, in
//     every SyncMode: the record was written before Insert returned.
//   - Fetch never returns a value that was not inserted for that key: every
//     item carries a CRC-32C, every record a hash, and a torn write is
//     cut off the log on Open, never returned.
//   - Open after an unclean stop reads the at-risk tail of the log (the
//     records after the synced watermark and at least RecoveryWindow of the
//     newest timestamps), not the whole store, unless the key file itself is
//     damaged, in which case it is rebuilt from the data file.
//
// # Concurrency
//
// A Store is safe for concurrent use. One writer goroutine owns the data
// file's I/O engine and packs queued inserts into records (group commit);
// Fetch, FetchFunc, Exists and Visit run in the caller's goroutine, share no
// lock with the writer's I/O, and are never blocked by a sync.
//
// # Where this departs from DESIGN.md's suggestions, and why
//
//   - Reads of a regular data file go through a read-only MAP_SHARED
//     mapping of it, not a second buffered descriptor: a fetch becomes a
//     memory copy instead of a pread system call (FetchFunc went from 1.2 to
//     0.56 µs here). O_DIRECT writes invalidate the cached pages they cover
//     and readers only read below the written watermark, so the mapping
//     never shows a stale or half-written record; a fault (a file cut short
//     by someone else) becomes ErrCorrupt, not a crash. Raw devices keep
//     aligned O_DIRECT reads.
//   - Under SyncAlways each record is written with RWF_DSYNC (FUA or a
//     flush by the kernel) instead of write + fdatasync: one I/O per group
//     commit, and the data file is grown ahead with zeros so those writes
//     need no metadata commit (measured: ~180 µs per 4 KiB RWF_DSYNC write
//     into zeroed space, ~290 µs into fallocated space).
//   - Bucket pages are 512 bytes, not 4096 (see package keyfile).
//   - The checkpoint an unclean Open ends with is written by the writer in
//     the background right after Open returns (see package rebuild).
//
// The formats, invariants and recovery protocol are those of DESIGN.md; the
// subpackages datafile, keyfile and rebuild document their parts of it.
package nudb

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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

	// closeMu is held shared by inserts, Visit and Stats and exclusively by
	// Close; fetches pass the gate instead (no shared lock word on the hot
	// read path). Together they keep the key file mapped under every reader.
	closeMu sync.RWMutex
	gate    readGate
	closed  atomic.Bool

	w *writer

	recovery RecoveryStats
	// Counters since Open, updated by the writer, read by Stats.
	records, syncs, bytesWritten, inserts atomic.Uint64
	dataSize                              atomic.Int64 // the data file's size; the writer grows it
}

// RecoveryStats says what the last Open did to bring the store up to date.
type RecoveryStats struct {
	Clean           bool          // closed cleanly: nothing to recover
	Rebuilt         bool          // the key file was rebuilt from the data file
	Reason          string        // why recovery or a rebuild ran
	BytesScanned    int64         // data-file bytes read
	RecordsVerified int           // records whose hash was checked
	ItemsIndexed    int           // items re-inserted into the index
	RecordsDropped  int           // torn records cut off the tail
	BytesDropped    int64         // bytes cut off the tail
	DamagedRecords  int           // records lost to media damage (skipped)
	Duration        time.Duration // time Open spent on it
}

// Stats describes a store.
type Stats struct {
	Items        uint64 // items in the store
	Records      uint64 // records in the log
	Syncs        uint64 // fdatasync/RWF_DSYNC barriers since Open
	IOEngine     string // "io_uring" or "pwrite"
	Inserts      uint64 // items inserted since Open
	BytesWritten uint64 // record bytes written since Open
	LogEnd       int64  // offset where the next record goes
	DataSize     int64  // data file (or device) size
	KeyFileSize  int64
	Extent       int64 // watermarks
	Written      int64
	Synced       int64
	Checkpoint   int64
	Buckets      uint64  // hash-table buckets
	LoadFactor   float64 // index entries ÷ bucket slots
	Recovery     RecoveryStats
}

func newUID() ([16]byte, uint64, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return [16]byte{}, 0, err
	}
	var uid [16]byte
	copy(uid[:], b[:16])
	return uid, binary.LittleEndian.Uint64(b[16:]), nil
}

// Create makes a new, empty store: the data file at dataPath (a regular
// file, created if missing, or a block device) and the key file at keyPath.
// It refuses, with ErrExists, a data file that already holds a store, or a
// non-empty regular file, unless opts.Overwrite is set.
func Create(dataPath, keyPath string, opts *Options) error {
	o := opts.withDefaults()
	if err := o.validate(); err != nil {
		return err
	}
	if st, err := os.Stat(dataPath); err == nil {
		if st.Mode().IsRegular() && st.Size() > 0 && !o.Overwrite {
			return fmt.Errorf("%w: %s is not empty", ErrExists, dataPath)
		}
	} else if errors.Is(err, os.ErrNotExist) {
		f, err := os.OpenFile(dataPath, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return fmt.Errorf("nudb: create %s: %w", dataPath, err)
		}
		f.Close()
	} else {
		return fmt.Errorf("nudb: %w", err)
	}
	df, err := ioengine.OpenFile(dataPath, false)
	if err != nil {
		return err
	}
	defer df.Close()
	if df.Device && o.BlockSize%df.LogicalBlock != 0 {
		return fmt.Errorf("%w: block size %d is not a multiple of the device's logical block size %d", ErrInvalidOptions, o.BlockSize, df.LogicalBlock)
	}
	arena, err := ioengine.NewArena(o.BlockSize)
	if err != nil {
		return err
	}
	defer arena.Free()
	block := arena.Bytes()[:o.BlockSize]
	if df.Device && !o.Overwrite {
		if n, _ := df.ReadAt(block, 0); n == len(block) {
			if _, err := datafile.DecodeSuperblock(block); !errors.Is(err, ErrNotStore) {
				return fmt.Errorf("%w: %s holds a nudb store", ErrExists, dataPath)
			}
		}
	}
	if df.Device && df.Size < int64(2*o.BlockSize) {
		return fmt.Errorf("%w: device %s has %d bytes", ErrFull, dataPath, df.Size)
	}
	if !df.Device {
		if err := df.Truncate(0); err != nil {
			return err
		}
	}
	uid, salt, err := newUID()
	if err != nil {
		return err
	}
	sb := datafile.Superblock{Version: datafile.FormatVersion, BlockSize: uint32(o.BlockSize), KeySize: uint32(o.KeySize),
		UID: uid, Salt: salt, Created: time.Now().UnixNano()}
	sb.Encode(block)
	eng := ioengine.Engine(nil)
	if eng, err = ioengine.New(ioengine.Pwrite, df.Fd, 1); err != nil {
		return err
	}
	if err := eng.SubmitWrite(0, block, 0, true); err != nil {
		return err
	}
	if done, _ := eng.Wait(nil); len(done) != 1 || done[0].Err != nil {
		return fmt.Errorf("nudb: writing the superblock: %v", done)
	}
	if err := ioengine.Datasync(df.Fd); err != nil {
		return err
	}
	id := keyfile.Identity{UID: uid, KeySize: o.KeySize, BlockSize: o.BlockSize, Salt: salt}
	if err := keyfile.Create(keyPath, id, int64(o.BlockSize)); err != nil {
		return err
	}
	for _, dir := range []string{filepath.Dir(dataPath), filepath.Dir(keyPath)} {
		if d, err := os.Open(dir); err == nil {
			d.Sync()
			d.Close()
		}
	}
	return nil
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
	return sb, nil
}

// Open opens the store in dataPath and keyPath for reading and writing.
// After an unclean stop it recovers (see the package doc); a key file that
// is missing, belongs to another store or is damaged is rebuilt from the
// data file. A store open elsewhere returns ErrLocked; a data file that is
// not a store returns ErrNotStore and is left untouched.
func Open(dataPath, keyPath string, opts *Options) (*Store, error) {
	o := opts.withDefaults()
	if o.Sync < SyncAlways || o.Sync > SyncNever || o.IOEngine < IOEngineAuto || o.IOEngine > IOEnginePwrite {
		return nil, fmt.Errorf("%w: sync mode %d, engine %d", ErrInvalidOptions, o.Sync, o.IOEngine)
	}
	df, err := ioengine.OpenFile(dataPath, false)
	if err != nil {
		return nil, fmt.Errorf("nudb: %w", err)
	}
	s, err := open(df, keyPath, o)
	if err != nil {
		df.Close()
		return nil, err
	}
	return s, nil
}

func open(df *ioengine.File, keyPath string, o Options) (*Store, error) {
	sb, err := readSuperblock(df)
	if err != nil {
		return nil, err
	}
	if df.Device && int(sb.BlockSize)%df.LogicalBlock != 0 {
		return nil, fmt.Errorf("%w: block size %d does not suit the device's %d-byte sectors", ErrCorrupt, sb.BlockSize, df.LogicalBlock)
	}
	s := &Store{opts: o, sb: sb, df: df}
	s.opts.KeySize, s.opts.BlockSize = int(sb.KeySize), int(sb.BlockSize)
	s.geom = datafile.Geometry{UID: sb.UID, BlockSize: int(sb.BlockSize), KeySize: int(sb.KeySize)}
	last, err := s.recover(keyPath)
	if err != nil {
		return nil, err
	}
	s.kf.AfterMsync = o.afterMsync
	if err := s.kf.SetClean(false); err != nil {
		s.kf.Close()
		return nil, err
	}
	s.reads.init(df, s.geom)
	s.gate.drained = make(chan struct{}, 1)
	s.dataSize.Store(df.Size)
	if s.w, err = newWriter(s, last); err != nil {
		s.kf.Close()
		return nil, err
	}
	go s.w.run()
	return s, nil
}

// recover opens the key file and brings it up to date, rebuilding it when
// it cannot be repaired. It returns the last record's header.
func (s *Store) recover(keyPath string) (datafile.Header, error) {
	start := time.Now()
	rs := rebuildStore(s.df, s.sb)
	id := identityOf(s.sb)
	var reason string
	kf, err := keyfile.Open(keyPath, id, false)
	if err == nil {
		kf.AfterMsync = s.opts.afterMsync
		rep, last, err := rebuild.Recover(rs, kf, s.opts.RecoveryWindow)
		if err == nil {
			s.kf = kf
			s.setRecovery(rep, start)
			return last, nil
		}
		kf.Close()
		if !errors.Is(err, rebuild.ErrNeedRebuild) {
			return datafile.Header{}, err
		}
		reason = err.Error()
	} else if keyfile.Unusable(err) {
		reason = err.Error()
	} else {
		return datafile.Header{}, err
	}
	kf, rep, last, err := rebuild.Rebuild(rs, keyPath, s.opts.RecoveryWindow, s.opts.Progress)
	if err != nil {
		return datafile.Header{}, fmt.Errorf("nudb: rebuilding the key file (%s): %w", reason, err)
	}
	rep.Reason = reason
	s.kf = kf
	s.setRecovery(rep, start)
	return last, nil
}

func (s *Store) setRecovery(rep rebuild.Report, start time.Time) {
	s.recovery = RecoveryStats{Clean: rep.Clean, Rebuilt: rep.Rebuilt, Reason: rep.Reason, BytesScanned: rep.BytesScanned,
		RecordsVerified: rep.RecordsVerified, ItemsIndexed: rep.ItemsIndexed, RecordsDropped: rep.RecordsDropped,
		BytesDropped: rep.BytesDropped, DamagedRecords: rep.DamagedRecords, Duration: time.Since(start)}
	s.records.Store(rep.Records)
}

// Close writes what is queued, makes everything durable, checkpoints the
// index, marks the store clean and releases it. Close is idempotent; the
// store's methods return ErrClosed afterwards.
func (s *Store) Close() error { return s.shutdown(true) }

// shutdown stops the store. clean=false abandons it as a crash would
// (nothing synced, no checkpoint, clean flag unset): tests use it.
func (s *Store) shutdown(clean bool) error {
	if s.closed.Swap(true) {
		return nil
	}
	err := s.w.stop(clean)
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	s.gate.wait()
	if clean && err == nil {
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
// Open's recovery did. It is cheap and safe to call concurrently.
func (s *Store) Stats() Stats {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	st := Stats{Records: s.records.Load(), Syncs: s.syncs.Load(), Inserts: s.inserts.Load(),
		BytesWritten: s.bytesWritten.Load(), Recovery: s.recovery, IOEngine: s.w.engineName}
	if s.closed.Load() {
		return st
	}
	ts := s.kf.Stats()
	wm := s.kf.Watermarks()
	st.Items, st.Buckets, st.LoadFactor = ts.Items, ts.Buckets, ts.LoadFactor
	st.Extent, st.Written, st.Synced, st.Checkpoint = int64(wm.Extent), int64(wm.Written), int64(wm.Synced), s.kf.Checkpoint().Offset
	st.LogEnd, st.DataSize, st.KeyFileSize = int64(wm.Written), s.dataSize.Load(), s.kf.Size()
	return st
}

// Sync makes every Insert that has returned durable: it drains the records
// in flight and issues one fdatasync (under SyncAlways they are durable
// already).
func (s *Store) Sync() error {
	if s.closed.Load() {
		return ErrClosed
	}
	return s.w.sync()
}
