package rebuild

import (
	"errors"
	"fmt"
	"time"

	"github.com/nudbgo/nudb/datafile"
	"github.com/nudbgo/nudb/internal/ioengine"
	"github.com/nudbgo/nudb/keyfile"
)

// ErrNeedRebuild reports that the key file cannot be brought up to date by
// re-indexing the tail; the caller rebuilds it from the data file.
var ErrNeedRebuild = errors.New("rebuild: key file needs a full rebuild")

// DataFile is the data file recovery reads and, to cut a torn tail,
// truncates. *os.File-like types adapt to it easily; on a block device
// Truncate does nothing (the hash chain marks the end of the log there).
type DataFile interface {
	ReadAt(p []byte, off int64) (int, error)
	// Size is the file's (or device's) size in bytes.
	Size() int64
	// Truncate cuts a regular file to size and makes that durable.
	Truncate(size int64) error
	// Sync makes every completed write durable.
	Sync() error
}

// Store is the data file recovery works on, with what the superblock says
// about it.
type Store struct {
	File DataFile
	Geom datafile.Geometry
	ID   keyfile.Identity
	// Stop, when set, is asked before each record of a log walk (Rebuild,
	// Recover's replay, Verify): an error from it ends the walk, and the
	// call returns that error before anything is cut, renamed or
	// checkpointed (a context's Err, for the callers that take one).
	Stop func() error
}

// stopped is Stop's answer (nil without a Stop).
func (s *Store) stopped() error {
	if s.Stop == nil {
		return nil
	}
	return s.Stop()
}

// stopError carries Stop's error out of the record reader.
type stopError struct{ err error }

func (e stopError) Error() string { return e.err.Error() }
func (e stopError) Unwrap() error { return e.err }

// Range is a stretch of the data file.
type Range struct {
	From int64 `json:"from"`
	To   int64 `json:"to"`
}

// Report says what Recover or Rebuild did.
type Report struct {
	Clean           bool          // the store was closed cleanly: fast path
	Rebuilt         bool          // the key file was rebuilt from the data file
	Reason          string        // why recovery or a rebuild was needed
	BytesScanned    int64         // data-file bytes read
	RecordsVerified int           // records whose hash was checked
	ItemsIndexed    int           // items (re-)inserted into the index
	Durable         int64         // where the durable part of the log ends, as proven
	TornAt          int64         // where a torn tail was cut (0: none)
	RecordsDropped  int           // records cut with the torn tail that still validated
	BytesDropped    int64         // bytes between the cut and the old end (extent)
	DamagedRecords  int           // records lost to media damage inside the durable part (skipped)
	DamagedBytes    int64         // bytes of those records
	Damaged         []Range       // where they are (the first hundred)
	End             int64         // the end of the log: where the next record goes
	Records         uint64        // records in the log
	Items           uint64        // items in the index
	Duration        time.Duration // time taken
}

// Lost reports whether anything was dropped or skipped: a torn tail that
// held valid records, or media damage.
func (r *Report) Lost() bool { return r.RecordsDropped > 0 || r.DamagedRecords > 0 }

// Tail is where the writer goes on after recovery: the record it follows
// and the offset it writes at.
type Tail struct {
	Last datafile.Header // the chain head (zero: the log is empty)
	End  int64
}

// maxRanges bounds Report.Damaged.
const maxRanges = 100

// scanBuffer allocates an aligned read buffer large enough for a walk: two
// maximal records, so a continuation can be searched for in one read.
func scanBuffer(g datafile.Geometry) (*ioengine.Arena, []byte, error) {
	size := int(datafile.RoundUp(int64(max(32<<20, 2*datafile.MaxRecordSize(g.KeySize, g.BlockSize))), g.BlockSize))
	a, err := ioengine.NewArena(size)
	if err != nil {
		return nil, nil, err
	}
	return a, a.Bytes()[:size], nil
}

// settle applies DESIGN.md's rule once a walk has ended. The durable part
// of the log ends at the highest durable mark proven: floor (the key file's
// synced watermark, when trusted) or the highest mark a valid record of the
// chain carries. A gap below it is media damage: skipped and reported. The
// first gap that reaches it is the torn tail of a crash: the log ends there
// (at the gap, or at the durable end when the gap starts below it) and
// every record the walk found after it is dropped (and counted). A log
// that breaks inside its durable part leaves the damaged stretch up to the
// durable end alone: the next record is written after it, as a bridge. It
// returns the tail and where the log was cut (0: nowhere).
func settle(w *datafile.Walker, floor int64, blockSize int, rep *Report) (tail Tail, cutAt int64) {
	durable := max(floor, w.MaxDurable)
	rep.Durable = durable
	tail = Tail{Last: w.Last(), End: w.Pos()}
	damaged := func(from, to int64, records int) {
		rep.DamagedRecords += records
		rep.DamagedBytes += to - from
		if len(rep.Damaged) < maxRanges {
			rep.Damaged = append(rep.Damaged, Range{from, to})
		}
	}
	for i := range w.Gaps {
		g := &w.Gaps[i]
		if g.Next <= durable {
			damaged(g.At, g.Next, int(g.Lost()))
			continue
		}
		// The gap reaches past the durable part: what of it lies past
		// is a torn tail; what lies below is damage, bridged over.
		rep.RecordsDropped = w.Records - g.RecordsBefore
		tail = Tail{Last: g.Before, End: g.At}
		if g.At < durable {
			damaged(g.At, durable, 1)
			tail = bridge(tail, durable, g.Before, blockSize)
		}
		rep.TornAt = tail.End
		return tail, tail.End
	}
	if tail.End < durable {
		// The log breaks inside its durable part and nothing after the
		// break could be found: that stretch is damage, never to be cut
		// or written over.
		damaged(tail.End, durable, 1)
		tail = bridge(tail, durable, w.Last(), blockSize)
	}
	return tail, 0
}

// bridge makes the writer go on at end, past a damaged stretch that starts
// at t.End, by standing in for the lost records with one synthetic record
// that spans the stretch: the next record then links to the stretch's
// start with a sequence number two past the last good record, which is
// exactly what a Walker accepts as the continuation after bad records.
func bridge(t Tail, end int64, last datafile.Header, blockSize int) Tail {
	stand := datafile.Header{Offset: t.End, Seq: last.Seq + 1, Blocks: uint32((end - t.End) / int64(blockSize)),
		Timestamp: last.Timestamp, Epoch: last.Epoch, Durable: last.Durable}
	return Tail{Last: stand, End: end}
}

// walkAndIndex walks the log with w, indexing every valid record's items
// with insert (reading and hashing overlap indexing, see indexLog), and
// then settles the torn-tail/damage question with floor. Entries of records
// dropped with a torn tail were indexed on the way: the caller's Repair at
// the tail's end removes them.
func walkAndIndex(s *Store, insert insertFunc, w *datafile.Walker, floor int64, rep *Report, onRecord func(h *datafile.Header, items int)) (Tail, error) {
	next := w.Next
	if s.Stop != nil {
		next = func() (datafile.Record, error) {
			if err := s.stopped(); err != nil {
				return datafile.Record{}, stopError{err}
			}
			return w.Next()
		}
	}
	err := indexLog(next, insert, s.ID.Salt, s.Geom.KeySize, func(h *datafile.Header, n int) {
		rep.ItemsIndexed += n
		rep.RecordsVerified++
		if onRecord != nil {
			onRecord(h, n)
		}
	})
	rep.BytesScanned += w.BytesRead()
	var stopped stopError
	if errors.As(err, &stopped) {
		return Tail{}, stopped.err
	}
	if err != nil {
		// The hash matched, so bad framing inside is a writer bug or a
		// forged record: nothing about this log can be trusted blindly.
		return Tail{}, fmt.Errorf("%w: %v", ErrNeedRebuild, err)
	}
	tail, _ := settle(w, floor, s.Geom.BlockSize, rep)
	return tail, nil
}

// finish cuts a torn tail off a regular file, makes the surviving log
// durable and sets the watermarks to its end.
func finish(s *Store, kf *keyfile.File, rep *Report, t Tail) error {
	if rep.TornAt > 0 {
		if err := s.File.Truncate(t.End); err != nil {
			return err
		}
	}
	if err := s.File.Sync(); err != nil {
		return err
	}
	kf.SetExtent(t.End)
	kf.SetWritten(t.End)
	kf.SetSynced(t.End)
	rep.End, rep.Records, rep.Items = t.End, t.Last.Seq, kf.Stats().Items
	return nil
}

// checkpointAt writes a checkpoint at the tail.
func checkpointAt(kf *keyfile.File, t Tail) error {
	return kf.WriteCheckpoint(CheckpointFor(t.Last, t.End))
}

// CheckpointFor is the checkpoint that says everything below end is
// indexed, with last the record ending there. Sequence numbers start at 1
// and count every record, so last.Seq is the number of records below end.
func CheckpointFor(last datafile.Header, end int64) keyfile.Checkpoint {
	return keyfile.Checkpoint{Offset: end, LastOffset: last.Offset, LastSeq: last.Seq, LastTime: last.Timestamp,
		LastHash: last.Hash, Records: last.Seq}
}
