package rebuild

import (
	"errors"
	"fmt"

	"github.com/nudbgo/nudb/datafile"
	"github.com/nudbgo/nudb/keyfile"
)

// maxProblems bounds the problems a VerifyReport lists (it counts them all).
const maxProblems = 100

// Problem is one inconsistency Verify found.
type Problem struct {
	Offset int64  `json:"offset"` // data-file offset it concerns (0: the key file)
	What   string `json:"what"`
}

// VerifyReport is the result of Verify.
type VerifyReport struct {
	Clean          bool      `json:"clean"`           // the store was closed cleanly
	LogEnd         int64     `json:"log_end"`         // end of the valid log
	Written        int64     `json:"written"`         // the written watermark
	Checkpoint     int64     `json:"checkpoint"`      // the checkpoint offset
	Records        uint64    `json:"records"`         // valid records
	Items          uint64    `json:"items"`           // items in valid records
	IndexEntries   uint64    `json:"index_entries"`   // live entries in the key file
	Unindexed      uint64    `json:"unindexed"`       // items past the checkpoint of an unclean store (Open indexes them)
	DamagedRecords int       `json:"damaged_records"` // records skipped as media damage
	BytesRead      int64     `json:"bytes_read"`
	ProblemCount   int       `json:"problem_count"`
	Problems       []Problem `json:"problems"` // the first problems found
}

// OK reports whether Verify found nothing wrong.
func (r *VerifyReport) OK() bool { return r.ProblemCount == 0 }

func (r *VerifyReport) problem(off int64, format string, args ...any) {
	r.ProblemCount++
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, Problem{Offset: off, What: fmt.Sprintf(format, args...)})
	}
}

// Verify checks a store without changing it: every record's hash and chain
// link, every item's CRC, every item indexed exactly once with the right
// size, and no index entry pointing anywhere else. kf should be opened read
// only. On a store that was not closed cleanly, items past the checkpoint
// are counted as Unindexed, not as problems: Open indexes them. With a nil
// kf (the key file is unusable, a problem the caller reports) only the log
// is checked.
func Verify(s *Store, kf *keyfile.File, progress Progress) (VerifyReport, error) {
	if kf == nil {
		return verifyLog(s, progress)
	}
	g := s.Geom
	wm := kf.Watermarks()
	cp := kf.Checkpoint()
	rep := VerifyReport{Clean: wm.Clean, Written: int64(wm.Written), Checkpoint: cp.Offset}
	if !wm.Valid() {
		rep.problem(0, "watermarks out of order: checkpoint %d, synced %d, written %d, extent %d", cp.Offset, wm.Synced, wm.Written, wm.Extent)
	}
	arena, buf, err := scanBuffer(g)
	if err != nil {
		return rep, err
	}
	defer arena.Free()
	// Entries indexed below this offset must match the log exactly.
	indexedBelow := int64(1<<62 - 1)
	if !wm.Clean {
		indexedBelow = cp.Offset
	}
	w := newLogWalker(s, buf)
	if wm.Valid() {
		w.stopAt = int64(wm.Extent)
	}
	var matched uint64
	var cands []keyfile.Candidate
	var lastReport int64
	for {
		r, err := w.next()
		if errors.Is(err, datafile.ErrEndOfLog) {
			break
		}
		rep.Records++
		err = datafile.EachItem(r.Payload, r.Items, r.PayloadOffset(), g.KeySize, func(off int64, key, value []byte) error {
			rep.Items++
			if off >= indexedBelow {
				rep.Unindexed++
				return nil
			}
			cands = kf.Lookup(keyfile.Hash(s.Salt, key), cands[:0])
			n := 0
			for _, c := range cands {
				if c.Offset == off {
					n++
					if want := min(len(value), keyfile.SizeUnknown); c.Size != want {
						rep.problem(off, "index entry has size %d, item holds %d", c.Size, len(value))
					}
				}
			}
			if n != 1 {
				rep.problem(off, "item indexed %d times, want once", n)
			}
			matched += uint64(min(n, 1))
			return nil
		})
		if err != nil {
			rep.problem(r.Offset, "record with a valid hash holds bad items: %v", err)
		}
		if progress != nil && r.Offset-lastReport >= 4<<20 {
			progress(r.Offset, s.File.Size)
			lastReport = r.Offset
		}
	}
	rep.LogEnd = w.sc.Pos()
	rep.BytesRead = w.scanned + w.sc.BytesRead
	for _, d := range w.damage {
		rep.DamagedRecords++
		rep.problem(d.at, "damaged record (%d bytes) skipped; the log continues at %d", d.next-d.at, d.next)
	}
	if wm.Clean && rep.LogEnd != rep.Written {
		rep.problem(rep.LogEnd, "clean store's log ends at %d but written is %d", rep.LogEnd, rep.Written)
	}
	if rep.LogEnd < cp.Offset {
		rep.problem(rep.LogEnd, "log ends before the checkpoint at %d", cp.Offset)
	}
	var below uint64
	err = kf.Scan(func(e keyfile.Entry) error {
		rep.IndexEntries++
		if e.Offset < indexedBelow {
			below++
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	if below > matched {
		rep.problem(0, "%d index entries point at no item", below-matched)
	}
	if progress != nil {
		progress(s.File.Size, s.File.Size)
	}
	return rep, nil
}

// verifyLog checks the log alone: hashes, chain links and item CRCs.
func verifyLog(s *Store, progress Progress) (VerifyReport, error) {
	rep := VerifyReport{Clean: true}
	arena, buf, err := scanBuffer(s.Geom)
	if err != nil {
		return rep, err
	}
	defer arena.Free()
	w := newLogWalker(s, buf)
	for {
		r, err := w.next()
		if errors.Is(err, datafile.ErrEndOfLog) {
			break
		}
		rep.Records++
		rep.Items += uint64(r.Items)
		if err := datafile.EachItem(r.Payload, r.Items, r.PayloadOffset(), s.Geom.KeySize, func(int64, []byte, []byte) error { return nil }); err != nil {
			rep.problem(r.Offset, "record with a valid hash holds bad items: %v", err)
		}
		if progress != nil {
			progress(r.Offset, s.File.Size)
		}
	}
	rep.LogEnd = w.sc.Pos()
	rep.BytesRead = w.scanned + w.sc.BytesRead
	for _, d := range w.damage {
		rep.DamagedRecords++
		rep.problem(d.at, "damaged record (%d bytes) skipped; the log continues at %d", d.next-d.at, d.next)
	}
	return rep, nil
}
