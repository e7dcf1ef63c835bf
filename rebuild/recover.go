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

// Report says what Recover or Rebuild did.
type Report struct {
	Clean           bool          // the store was closed cleanly: fast path
	Rebuilt         bool          // the key file was rebuilt from the data file
	Reason          string        // why recovery or a rebuild was needed
	BytesScanned    int64         // data-file bytes read
	RecordsVerified int           // records whose hash was checked
	ItemsIndexed    int           // items (re-)inserted into the index
	RecordsDropped  int           // records cut off the tail (best known)
	BytesDropped    int64         // bytes between the log end and the old extent
	DamagedRecords  int           // media damage skipped (Rebuild)
	DamagedBytes    int64         // bytes of those records
	End             int64         // the end of the log
	Records         uint64        // records in the log
	Items           uint64        // items in the index
	Duration        time.Duration // time taken
}

// Store is the opened data file recovery works on.
type Store struct {
	File *ioengine.File
	Geom datafile.Geometry
	Salt uint64
}

func (s *Store) identity() keyfile.Identity {
	return keyfile.Identity{UID: s.Geom.UID, KeySize: s.Geom.KeySize, BlockSize: s.Geom.BlockSize, Salt: s.Salt}
}

// scanBuffer allocates an aligned read buffer large enough for any record.
func scanBuffer(g datafile.Geometry) (*ioengine.Arena, []byte, error) {
	size := max(32<<20, datafile.MaxRecordSize(g.KeySize, g.BlockSize))
	size = (size + g.BlockSize - 1) / g.BlockSize * g.BlockSize
	a, err := ioengine.NewArena(size)
	if err != nil {
		return nil, nil, err
	}
	return a, a.Bytes()[:size], nil
}

// Recover brings kf up to date with the data file after Open (see the
// package doc). window is the RecoveryWindow. It returns the header of the
// last record of the log (zero when the log is empty).
func Recover(s *Store, kf *keyfile.File, window time.Duration) (Report, datafile.Header, error) {
	start := time.Now()
	var rep Report
	var last datafile.Header
	g := s.Geom
	cp, wm := kf.Checkpoint(), kf.Watermarks()
	logStart := g.LogStart()
	if cp.Offset < logStart || cp.Offset%int64(g.BlockSize) != 0 || cp.Offset > s.File.Size {
		return rep, last, fmt.Errorf("%w: checkpoint %d outside the data file", ErrNeedRebuild, cp.Offset)
	}
	arena, buf, err := scanBuffer(g)
	if err != nil {
		return rep, last, err
	}
	defer arena.Free()
	hs := datafile.NewHasher()
	havePrev := cp.Offset > logStart
	if havePrev {
		r, err := datafile.ReadRecord(g, s.File, buf, hs, cp.LastOffset)
		rep.BytesScanned += int64(r.Blocks) * int64(g.BlockSize)
		if err != nil || r.Hash != cp.LastHash || r.End(g.BlockSize) != cp.Offset || r.Seq != cp.LastSeq {
			return rep, last, fmt.Errorf("%w: the checkpoint's record at %d does not verify (%v)", ErrNeedRebuild, cp.LastOffset, err)
		}
		rep.RecordsVerified++
		last = r.Header
	}
	checkpointRec := last
	sc := datafile.NewScanner(g, s.File, s.File.Size, buf, cp.Offset, last, havePrev)

	if wm.Clean && wm.Valid() && wm.Written == uint64(cp.Offset) && wm.Extent == wm.Written {
		_, err := sc.Next()
		rep.BytesScanned += sc.BytesRead
		if errors.Is(err, datafile.ErrEndOfLog) {
			r := kf.Repair(cp.Offset, cp.Offset, logStart)
			if r.Dropped > 0 {
				return rep, last, fmt.Errorf("%w: %d index entries point past the end of a cleanly closed log", ErrNeedRebuild, r.Dropped)
			}
			rep.Clean, rep.End, rep.Records, rep.Items = true, cp.Offset, cp.Records, r.Items
			rep.Duration = time.Since(start)
			return rep, last, nil
		}
		rep.Reason = "the log continues past the clean mark"
		sc = datafile.NewScanner(g, s.File, s.File.Size, buf, cp.Offset, last, havePrev)
	} else if !wm.Clean {
		rep.Reason = "unclean stop"
	} else {
		rep.Reason = "watermarks disagree with the checkpoint"
	}

	kf.Repair(cp.Offset, int64(wm.Extent), logStart)
	records := cp.Records
	err = indexLog(sc.Next, kf, s.Salt, g.KeySize, func(h *datafile.Header, n int) {
		rep.ItemsIndexed += n
		rep.RecordsVerified++
		records++
		last = *h
	})
	if err != nil {
		// The hash matched, so bad framing inside is a writer bug or a
		// forged record: do not trust this key file's repair.
		return rep, last, fmt.Errorf("%w: %v", ErrNeedRebuild, err)
	}
	rep.BytesScanned += sc.BytesRead
	end := sc.Pos()

	// Walk backwards below the checkpoint over the at-risk window.
	if havePrev {
		cur := checkpointRec
		oldest := last.Timestamp - int64(window)
		for cur.Offset > logStart && (cur.Timestamp >= oldest || uint64(cur.Offset) >= wm.Synced) {
			prev, err := datafile.ReadRecord(g, s.File, buf, hs, cur.PrevOffset)
			rep.BytesScanned += int64(prev.Blocks) * int64(g.BlockSize)
			if err != nil || prev.Hash != cur.PrevHash || prev.End(g.BlockSize) != cur.Offset || prev.Seq+1 != cur.Seq {
				return rep, last, fmt.Errorf("%w: torn record at %d inside the at-risk window below the checkpoint (%v)", ErrNeedRebuild, cur.PrevOffset, err)
			}
			rep.RecordsVerified++
			cur = prev.Header
		}
	}
	// The checkpoint at the new end is left to the store's writer, which
	// writes it in the background right after Open: its msync costs as much
	// as the pages re-indexing dirtied, and until it is durable the old
	// checkpoint simply stays in force (a crash repeats this recovery).
	if err := finish(s, kf, &rep, last, end, records, int64(wm.Extent), false); err != nil {
		return rep, last, err
	}
	rep.Duration = time.Since(start)
	return rep, last, nil
}

// finish truncates the torn tail, makes the surviving log durable, sets the
// watermarks to its end and, when asked, writes a checkpoint there.
func finish(s *Store, kf *keyfile.File, rep *Report, last datafile.Header, end int64, records uint64, oldExtent int64, checkpoint bool) error {
	if oldExtent > end {
		rep.BytesDropped = oldExtent - end
		rep.RecordsDropped = countTorn(s, end, oldExtent)
	}
	if !s.File.Device && s.File.Size > end {
		if err := s.File.Truncate(end); err != nil {
			return err
		}
	}
	if err := ioengine.Datasync(s.File.Fd); err != nil {
		return err
	}
	kf.SetExtent(end)
	kf.SetWritten(end)
	kf.SetSynced(end)
	if checkpoint {
		cp := keyfile.Checkpoint{Offset: end, LastOffset: last.Offset, LastSeq: last.Seq, LastTime: last.Timestamp, LastHash: last.Hash, Records: records}
		if err := kf.WriteCheckpoint(cp); err != nil {
			return err
		}
	}
	rep.End, rep.Records, rep.Items = end, records, kf.Stats().Items
	return nil
}

// countTorn counts the record headers that still stand between the end of
// the log and the old extent: the records a crash left torn or orphaned.
func countTorn(s *Store, end, extent int64) int {
	bs := s.Geom.BlockSize
	a, err := ioengine.NewArena(bs)
	if err != nil {
		return 0
	}
	defer a.Free()
	n := 0
	for pos := end; pos < extent && pos+int64(bs) <= s.File.Size; {
		step := int64(bs)
		if m, _ := s.File.ReadAt(a.Bytes()[:bs], pos); m == bs {
			if h, err := datafile.DecodeHeader(a.Bytes()[:bs]); err == nil && h.Plausible(s.Geom.UID, pos, bs) {
				n++
				step = int64(h.Blocks) * int64(bs)
			}
		}
		pos += step
	}
	return n
}
