package rebuild

import (
	"time"

	"github.com/nudbgo/nudb/datafile"
)

// ScrubReport says what Scrub found.
type ScrubReport struct {
	Records int     // records whose hash was checked
	Bytes   int64   // bytes read
	Damaged []Range // records that failed (the first hundred)
	// Incomplete is set when the walk could not go on: a damaged record
	// whose header is unreadable hides the link to the one before it, or
	// the scrub was stopped.
	Incomplete bool
}

// Scrub re-checks, walking backwards from the record from, the hashes of
// every record within window of from's timestamp: DESIGN.md's backward walk
// over the newest minute of the log. It changes nothing and decides
// nothing: damage it finds was already durable (Recover's rule), so it is
// reported, never cut. stop, when closed, ends the walk early.
func Scrub(s *Store, from datafile.Header, window time.Duration, stop <-chan struct{}) (ScrubReport, error) {
	var rep ScrubReport
	g := s.Geom
	bs := int64(g.BlockSize)
	arena, buf, err := scanBuffer(g)
	if err != nil {
		return rep, err
	}
	defer arena.Free()
	hs := datafile.NewHasher()
	oldest := from.Timestamp - int64(window)
	cur := from
	for cur.Offset > g.LogStart() && cur.PrevOffset >= g.LogStart() && cur.Timestamp >= oldest {
		select {
		case <-stop:
			rep.Incomplete = true
			return rep, nil
		default:
		}
		r, err := datafile.ReadRecord(g, s.File, buf, hs, cur.PrevOffset)
		rep.Bytes += int64(max(r.Blocks, 1)) * bs
		if err == nil && r.Hash == cur.PrevHash && r.End(g.BlockSize) == cur.Offset {
			rep.Records++
			cur = r.Header
			continue
		}
		if len(rep.Damaged) < maxRanges {
			rep.Damaged = append(rep.Damaged, Range{cur.PrevOffset, cur.Offset})
		}
		// Go on through the damaged record's header if it is intact.
		n, _ := s.File.ReadAt(buf[:bs], cur.PrevOffset)
		h, herr := datafile.DecodeHeader(buf[:n])
		if n < int(bs) || herr != nil || !h.Plausible(g.UID, cur.PrevOffset, g.BlockSize) || h.Offset >= cur.Offset {
			rep.Incomplete = true
			return rep, nil
		}
		cur = h
	}
	return rep, nil
}
