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
	arena, buf, err := scanBuffer(s.Geom)
	if err != nil {
		return VerifyReport{}, err
	}
	defer arena.Free()
	v := &verifier{s: s, kf: kf, indexedBelow: 1<<62 - 1,
		w: datafile.NewWalker(s.Geom, s.File, s.File.Size(), buf, s.Geom.LogStart(), datafile.Header{}, false)}
	if kf != nil {
		v.readKeyFile()
	}
	v.w.SearchTo = v.floor
	v.walk(progress)
	if v.stop != nil {
		return v.rep, v.stop // the walk did not finish: the report proves nothing
	}
	v.settle()
	if kf != nil {
		if err := v.checkIndex(); err != nil {
			return v.rep, err
		}
	}
	if progress != nil {
		progress(s.File.Size(), s.File.Size())
	}
	return v.rep, nil
}

// verifier is one run of Verify.
type verifier struct {
	s            *Store
	kf           *keyfile.File // nil: the log alone
	w            *datafile.Walker
	rep          VerifyReport
	floor        int64  // the key file's synced watermark, when valid
	indexedBelow int64  // entries below this offset must match the log exactly
	matched      uint64 // items found in the index exactly once
	damaged      []Range
	cands        []keyfile.Candidate
	stop         error // Store.Stop's error that ended the walk
}

// readKeyFile takes what Verify needs from the key file's header.
func (v *verifier) readKeyFile() {
	wm, cp := v.kf.Watermarks(), v.kf.Checkpoint()
	v.rep.KeyFile, v.rep.Clean, v.rep.Written, v.rep.Checkpoint = true, wm.Clean, int64(wm.Written), cp.Offset
	if !wm.Valid() {
		v.rep.Problem(0, "watermarks out of order: checkpoint %d, synced %d, written %d, extent %d", cp.Offset, wm.Synced, wm.Written, wm.Extent)
	} else {
		v.floor = int64(wm.Synced)
		v.w.SearchCap = max(int64(wm.Extent), cp.Offset) + searchSlack
	}
	if !wm.Clean {
		v.indexedBelow = cp.Offset
	}
}

// walk checks every record the walk finds, and its items.
func (v *verifier) walk(progress Progress) {
	var lastReport int64
	for {
		if v.stop = v.s.stopped(); v.stop != nil {
			return
		}
		r, err := v.w.Next()
		if errors.Is(err, datafile.ErrEndOfLog) {
			break
		}
		v.rep.Records++
		if err := datafile.EachItem(r.Payload, r.Items, r.PayloadOffset(), v.s.Geom.KeySize, v.checkItem); err != nil {
			v.rep.Problem(r.Offset, "record with a valid hash holds bad items: %v", err)
		}
		if progress != nil && r.Offset-lastReport >= 4<<20 {
			progress(r.Offset, v.s.File.Size())
			lastReport = r.Offset
		}
	}
	v.rep.BytesRead = v.w.BytesRead()
}

// checkItem checks that an item is indexed exactly once, with its size.
func (v *verifier) checkItem(off int64, key, value []byte) error {
	v.rep.Items++
	if v.kf == nil {
		return nil
	}
	if off >= v.indexedBelow {
		v.rep.Unindexed++
		return nil
	}
	v.cands = v.kf.Lookup(keyfile.Hash(v.s.ID.Salt, key), v.cands[:0])
	n := 0
	for _, c := range v.cands {
		if c.Offset == off {
			n++
			if want := min(len(value), keyfile.SizeUnknown); c.Size != want {
				v.rep.Problem(off, "index entry has size %d, item holds %d", c.Size, len(value))
			}
		}
	}
	if n != 1 {
		v.rep.Problem(off, "item indexed %d times, want once", n)
	}
	v.matched += uint64(min(n, 1))
	return nil
}

// settle reports, by DESIGN.md's rule, the damage and the torn tail the
// walk stepped over, and checks the log's end against the watermarks.
func (v *verifier) settle() {
	rep := &v.rep
	var settled Report
	tail, cutAt := settle(v.w, v.floor, v.s.Geom.BlockSize, &settled)
	rep.LogEnd, rep.Durable, rep.DamagedRecords = v.w.Pos(), settled.Durable, settled.DamagedRecords
	v.damaged = settled.Damaged
	for _, d := range settled.Damaged {
		rep.damage(d.From, "media damage: %d bytes of durable records lost; the log continues at %d", d.To-d.From, d.To)
	}
	if cutAt > 0 {
		rep.TornAt = cutAt
		if rep.Clean {
			rep.Problem(cutAt, "torn record at %d in a cleanly closed store (%d valid records after it)", cutAt, settled.RecordsDropped)
		}
	}
	if !rep.KeyFile {
		return
	}
	if rep.Clean && tail.End != rep.Written && cutAt == 0 {
		rep.Problem(tail.End, "clean store's log ends at %d but written is %d", tail.End, rep.Written)
	}
	if rep.LogEnd < rep.Checkpoint && tail.End < rep.Checkpoint {
		rep.Problem(rep.LogEnd, "log ends before the checkpoint at %d", rep.Checkpoint)
	}
}

// checkIndex counts the index entries and finds those that point at no item.
func (v *verifier) checkIndex() error {
	var below uint64
	err := v.kf.Scan(func(e keyfile.Entry) error {
		v.rep.IndexEntries++
		if e.Offset < v.indexedBelow && !inRanges(v.damaged, e.Offset) {
			// Entries of items lost to damage stay in the index
			// (Fetch reports them corrupt); they are the damage
			// already reported, not an inconsistency.
			below++
		}
		return nil
	})
	if err != nil {
		return err
	}
	if below > v.matched {
		v.rep.Problem(0, "%d index entries point at no item", below-v.matched)
	}
	return nil
}

func inRanges(rs []Range, off int64) bool {
	for _, r := range rs {
		if off >= r.From && off < r.To {
			return true
		}
	}
	return false
}
