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
	Damage bool   `json:"damage,omitempty"` // media damage in the log (not an index inconsistency)
}

// VerifyReport is the result of Verify.
type VerifyReport struct {
	Clean          bool      `json:"clean"`           // the key file says the store was closed cleanly (false without one)
	KeyFile        bool      `json:"key_file"`        // the key file was usable and checked
	LogEnd         int64     `json:"log_end"`         // end of the valid log
	Durable        int64     `json:"durable"`         // end of the durable part, as proven
	Written        int64     `json:"written"`         // the written watermark
	Checkpoint     int64     `json:"checkpoint"`      // the checkpoint offset
	Records        uint64    `json:"records"`         // valid records
	Items          uint64    `json:"items"`           // items in valid records
	IndexEntries   uint64    `json:"index_entries"`   // live entries in the key file
	Unindexed      uint64    `json:"unindexed"`       // items past the checkpoint of an unclean store (Open indexes them)
	DamagedRecords int       `json:"damaged_records"` // records lost to media damage (skipped)
	TornAt         int64     `json:"torn_at"`         // where Open will cut a torn tail (0: none)
	BytesRead      int64     `json:"bytes_read"`
	ProblemCount   int       `json:"problem_count"`
	DamageCount    int       `json:"damage_count"` // of the problems, media damage in the log
	Problems       []Problem `json:"problems"`     // the first problems found
}

// OK reports whether Verify checked a store and found nothing wrong.
func (r *VerifyReport) OK() bool { return r.LogEnd > 0 && r.ProblemCount == 0 }

// Consistent reports whether the only problems found are media damage in
// the log: the index agrees with every record that survives.
func (r *VerifyReport) Consistent() bool { return r.LogEnd > 0 && r.ProblemCount == r.DamageCount }

// Problem records a problem Verify found (callers add their own, such as
// an unusable key file).
func (r *VerifyReport) Problem(off int64, format string, args ...any) {
	r.ProblemCount++
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, Problem{Offset: off, What: fmt.Sprintf(format, args...)})
	}
}

func (r *VerifyReport) damage(off int64, format string, args ...any) {
	r.DamageCount++
	r.ProblemCount++
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, Problem{Offset: off, What: fmt.Sprintf(format, args...), Damage: true})
	}
}

// Verify checks a store without changing it: every record's hash and chain
// link, every item's CRC, every item indexed exactly once with the right
// size, and no index entry pointing anywhere else. kf should be opened read
// only. On a store that was not closed cleanly, items past the checkpoint
// are counted as Unindexed, not as problems: Open indexes them, and a torn
// tail past the durable part is what Open cuts. With a nil kf (the key file
// is unusable, a problem the caller reports) only the log is checked.
func Verify(s *Store, kf *keyfile.File, progress Progress) (VerifyReport, error) {
	g := s.Geom
	size := s.File.Size()
	var rep VerifyReport // Clean only with a key file that says so
	// Entries indexed below this offset must match the log exactly.
	indexedBelow := int64(1<<62 - 1)
	var floor int64
	arena, buf, err := scanBuffer(g)
	if err != nil {
		return rep, err
	}
	defer arena.Free()
	w := datafile.NewWalker(g, s.File, size, buf, g.LogStart(), datafile.Header{}, false)
	if kf != nil {
		wm, cp := kf.Watermarks(), kf.Checkpoint()
		rep.KeyFile, rep.Clean, rep.Written, rep.Checkpoint = true, wm.Clean, int64(wm.Written), cp.Offset
		if !wm.Valid() {
			rep.Problem(0, "watermarks out of order: checkpoint %d, synced %d, written %d, extent %d", cp.Offset, wm.Synced, wm.Written, wm.Extent)
		} else {
			floor = int64(wm.Synced)
			w.SearchCap = max(int64(wm.Extent), cp.Offset) + searchSlack
		}
		if !wm.Clean {
			indexedBelow = cp.Offset
		}
	}
	w.SearchTo = floor
	var matched uint64
	var cands []keyfile.Candidate
	var lastReport int64
	for {
		r, err := w.Next()
		if errors.Is(err, datafile.ErrEndOfLog) {
			break
		}
		rep.Records++
		err = datafile.EachItem(r.Payload, r.Items, r.PayloadOffset(), g.KeySize, func(off int64, key, value []byte) error {
			rep.Items++
			if kf == nil {
				return nil
			}
			if off >= indexedBelow {
				rep.Unindexed++
				return nil
			}
			cands = kf.Lookup(keyfile.Hash(s.ID.Salt, key), cands[:0])
			n := 0
			for _, c := range cands {
				if c.Offset == off {
					n++
					if want := min(len(value), keyfile.SizeUnknown); c.Size != want {
						rep.Problem(off, "index entry has size %d, item holds %d", c.Size, len(value))
					}
				}
			}
			if n != 1 {
				rep.Problem(off, "item indexed %d times, want once", n)
			}
			matched += uint64(min(n, 1))
			return nil
		})
		if err != nil {
			rep.Problem(r.Offset, "record with a valid hash holds bad items: %v", err)
		}
		if progress != nil && r.Offset-lastReport >= 4<<20 {
			progress(r.Offset, size)
			lastReport = r.Offset
		}
	}
	rep.BytesRead = w.BytesRead()
	var settled Report
	tail, cutAt := settle(w, floor, g.BlockSize, &settled)
	rep.LogEnd, rep.Durable, rep.DamagedRecords = w.Pos(), settled.Durable, settled.DamagedRecords
	for _, d := range settled.Damaged {
		rep.damage(d.From, "media damage: %d bytes of durable records lost; the log continues at %d", d.To-d.From, d.To)
	}
	if cutAt > 0 {
		rep.TornAt = cutAt
		if rep.Clean {
			rep.Problem(cutAt, "torn record at %d in a cleanly closed store (%d valid records after it)", cutAt, settled.RecordsDropped)
		}
	}
	if rep.KeyFile {
		if rep.Clean && tail.End != rep.Written && cutAt == 0 {
			rep.Problem(tail.End, "clean store's log ends at %d but written is %d", tail.End, rep.Written)
		}
		if rep.LogEnd < rep.Checkpoint && tail.End < rep.Checkpoint {
			rep.Problem(rep.LogEnd, "log ends before the checkpoint at %d", rep.Checkpoint)
		}
		var below uint64
		err = kf.Scan(func(e keyfile.Entry) error {
			rep.IndexEntries++
			if e.Offset < indexedBelow && !inRanges(settled.Damaged, e.Offset) {
				// Entries of items lost to damage stay in the index
				// (Fetch reports them corrupt); they are the damage
				// already reported, not an inconsistency.
				below++
			}
			return nil
		})
		if err != nil {
			return rep, err
		}
		if below > matched {
			rep.Problem(0, "%d index entries point at no item", below-matched)
		}
	}
	if progress != nil {
		progress(size, size)
	}
	return rep, nil
}

func inRanges(rs []Range, off int64) bool {
	for _, r := range rs {
		if off >= r.From && off < r.To {
			return true
		}
	}
	return false
}
