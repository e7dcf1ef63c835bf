package nudb

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/nudbgo/nudb/datafile"
	"github.com/nudbgo/nudb/internal/ioengine"
)

// SyncMode says when an Insert's record must be durable before Insert returns.
type SyncMode int

const (
	// SyncAlways (the default): Insert returns when its record is durable.
	// Concurrent inserts share one record and one barrier (group commit);
	// each record is written with RWF_DSYNC (FUA or a cache flush).
	SyncAlways SyncMode = iota
	// SyncInterval: Insert returns when its record is written; a background
	// fdatasync runs every SyncInterval and every SyncBytes written.
	SyncInterval
	// SyncNever: Insert returns when its record is written; only Sync and
	// Close make data durable. A process crash loses nothing written; a
	// power loss may lose everything since the last Sync.
	SyncNever
	// SyncWriteBehind: Insert returns once the item is copied into the
	// store's memory, where Fetch and Exists already find it; the writer
	// writes it behind, grouping whatever has queued into records, and
	// only Sync and Close make data durable. It runs at memory speed, and
	// pays for it: a process crash loses the inserts not yet written (at
	// most WriteBehindBytes of them, in practice the last millisecond or
	// so), and a write error after an Insert returned is reported by the
	// next Insert, Sync or Close. Visit sees an item once it is written.
	SyncWriteBehind
)

// String names the mode.
func (m SyncMode) String() string {
	switch m {
	case SyncAlways:
		return "always"
	case SyncInterval:
		return "interval"
	case SyncNever:
		return "never"
	case SyncWriteBehind:
		return "write-behind"
	}
	return fmt.Sprintf("SyncMode(%d)", int(m))
}

// IOEngine selects how the data file is written.
type IOEngine int

const (
	// IOEngineAuto uses io_uring and falls back to pwrite where the kernel
	// refuses it (ENOSYS, EPERM: seccomp filters of container runtimes).
	IOEngineAuto IOEngine = iota
	// IOEngineUring forces io_uring; Open fails where it is refused.
	IOEngineUring
	// IOEnginePwrite forces synchronous pwrite.
	IOEnginePwrite
)

func (e IOEngine) kind() ioengine.Kind {
	switch e {
	case IOEngineUring:
		return ioengine.Uring
	case IOEnginePwrite:
		return ioengine.Pwrite
	}
	return ioengine.Auto
}

// MaxValueSize is the largest value Insert accepts: 16 MiB.
const MaxValueSize = datafile.MaxValueSize

// Options configure Create and Open. A nil *Options means the defaults.
type Options struct {
	KeySize      int           // Create: fixed key size in bytes, default 32
	BlockSize    int           // Create: I/O block size, default 4096; a power of two ≥ the device's logical block size
	Sync         SyncMode      // SyncAlways (default), SyncInterval, SyncNever, SyncWriteBehind
	SyncInterval time.Duration // SyncInterval mode: default 1s
	SyncBytes    int64         // SyncInterval mode: also sync after this many bytes, default 64 MiB
	// RecoveryWindow is how deep, in record timestamps, the scrub after an
	// unclean Open re-checks the hashes of the newest records below the
	// checkpoint (default one minute). It finds damage early; it never
	// decides what is cut (the durable part of the log does).
	RecoveryWindow time.Duration
	// WaitScrub makes Open wait for that scrub before it returns; by
	// default it runs in the background and reports to
	// Stats().Recovery.Scrub and Logger.
	WaitScrub bool
	// CheckpointBytes bounds the log past the last checkpoint, which is
	// what an unclean Open reads and re-indexes: past it, or past twice
	// the key file's size when that is larger, the writer checkpoints
	// (after an fdatasync, in SyncInterval and SyncNever). A checkpoint
	// writes back the index pages dirtied since the last one, so its cost
	// grows with the key file; the second bound keeps that cost per logged
	// byte from growing with the store. Checkpoints also come every ten
	// seconds. Default 64 MiB.
	CheckpointBytes int64
	// LockTimeout is how long Open and Create wait for a store that is
	// open elsewhere before they return ErrLocked: a writer killed a
	// moment ago holds its file until the kernel has torn down its
	// io_uring (milliseconds). Default 2s; negative: do not wait.
	LockTimeout time.Duration
	// Logger, when set, hears what recovery and the scrub did (a warning
	// when they dropped or skipped anything). Nil: nothing is logged.
	Logger    *slog.Logger
	IOEngine  IOEngine // IOEngineAuto (default), IOEngineUring, IOEnginePwrite
	Overwrite bool     // Create: replace an existing store
	// MaxRecordSize bounds group commit: items queued together are packed
	// into records of at most this many bytes (a larger single item gets a
	// record of its own). Default 1 MiB.
	MaxRecordSize int
	// ReadOnly opens the store for reading only, beside a live writer in
	// another process or on a read-only filesystem: no lock, no recovery,
	// not a byte written to either file (see OpenReadOnly in the package
	// doc). Writes return ErrReadOnly.
	ReadOnly bool
	// WriteBehindBytes bounds the items SyncWriteBehind holds in memory
	// unwritten (keys and values): an Insert that would pass it waits
	// until its own item is written. Default 4 MiB.
	WriteBehindBytes int64
	// InFlight is how many records may be written at once, 1 to
	// MaxInFlight. Default 4.
	InFlight int
	// Progress, when set, is called during a key-file rebuild on Open.
	Progress func(done, total int64)

	// wrapEngine lets tests (the crash simulator) see every write.
	wrapEngine func(ioengine.Engine) ioengine.Engine
	// afterMsync lets tests snapshot the key file at every msync.
	afterMsync func(mem []byte)
	// checkpointEvery and checkpointSplits override the checkpoint triggers
	// (tests make them frequent so crash states fall inside checkpoints).
	checkpointEvery  time.Duration
	checkpointSplits int
}

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.KeySize == 0 {
		r.KeySize = 32
	}
	if r.BlockSize == 0 {
		r.BlockSize = 4096
	}
	if r.SyncInterval <= 0 {
		r.SyncInterval = time.Second
	}
	if r.SyncBytes <= 0 {
		r.SyncBytes = 64 << 20
	}
	if r.RecoveryWindow <= 0 {
		r.RecoveryWindow = time.Minute
	}
	if r.MaxRecordSize <= 0 {
		r.MaxRecordSize = 1 << 20
	}
	if r.InFlight <= 0 {
		r.InFlight = 4
	}
	if r.CheckpointBytes <= 0 {
		r.CheckpointBytes = 64 << 20
	}
	if r.WriteBehindBytes <= 0 {
		r.WriteBehindBytes = 4 << 20
	}
	if r.LockTimeout == 0 {
		r.LockTimeout = 2 * time.Second
	}
	if r.checkpointEvery <= 0 {
		r.checkpointEvery = 10 * time.Second
	}
	if r.checkpointSplits <= 0 {
		r.checkpointSplits = 256
	}
	return r
}

// Bounds of the options that size the writer.
const (
	// MaxInFlight bounds Options.InFlight.
	MaxInFlight = 256
	// MaxRecordSizeLimit bounds Options.MaxRecordSize.
	MaxRecordSizeLimit = 64 << 20
)

// validateOpen checks the options Open uses (the geometry is the store's).
func (o *Options) validateOpen() error {
	if o.Sync < SyncAlways || o.Sync > SyncWriteBehind {
		return fmt.Errorf("%w: unknown sync mode %d", ErrInvalidOptions, o.Sync)
	}
	if o.IOEngine < IOEngineAuto || o.IOEngine > IOEnginePwrite {
		return fmt.Errorf("%w: unknown I/O engine %d", ErrInvalidOptions, o.IOEngine)
	}
	if o.InFlight > MaxInFlight {
		return fmt.Errorf("%w: InFlight %d is over %d", ErrInvalidOptions, o.InFlight, MaxInFlight)
	}
	if o.MaxRecordSize > MaxRecordSizeLimit {
		return fmt.Errorf("%w: MaxRecordSize %d is over %d", ErrInvalidOptions, o.MaxRecordSize, MaxRecordSizeLimit)
	}
	return nil
}

// validate checks the options Create uses.
func (o *Options) validate() error {
	if err := o.validateOpen(); err != nil {
		return err
	}
	if err := datafile.CheckGeometry(o.BlockSize, o.KeySize); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidOptions, err)
	}
	return nil
}
