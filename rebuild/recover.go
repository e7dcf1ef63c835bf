package rebuild

import (
	"errors"
	"fmt"
	"time"

	"github.com/nudbgo/nudb/datafile"
	"github.com/nudbgo/nudb/keyfile"
)

// searchSlack is how far past the extent watermark Recover looks for a
// record that continues the chain after a bad one (and may prove it
// durable): the header's extent is exact after a process crash and may be
// a little stale after a power loss. It bounds, in bytes, what an unclean
// Open reads past the log.
const searchSlack = 1 << 20

// Recover brings kf up to date with the data file when a store is opened
// (see the package doc) and returns where the writer goes on. It costs the
// log after the checkpoint, not the store's size: the records below the
// checkpoint are re-checked afterwards, in the background, by Scrub.
func Recover(s *Store, kf *keyfile.File) (Report, Tail, error) {
	start := time.Now()
	var rep Report
	g := s.Geom
	cp, wm := kf.Checkpoint(), kf.Watermarks()
	if cp.Offset < g.LogStart() || cp.Offset%int64(g.BlockSize) != 0 || cp.Offset > s.File.Size() ||
		(cp.Offset > g.LogStart() && cp.LastOffset >= cp.Offset) {
		return rep, Tail{}, fmt.Errorf("%w: checkpoint %d outside the data file", ErrNeedRebuild, cp.Offset)
	}
	arena, buf, err := scanBuffer(g)
	if err != nil {
		return rep, Tail{}, err
	}
	defer arena.Free()
	prev, err := checkpointRecord(s, cp, buf, &rep)
	if err != nil {
		return rep, Tail{}, err
	}
	havePrev := cp.Offset > g.LogStart()
	if wm.Clean && wm.Valid() && wm.Written == uint64(cp.Offset) && wm.Extent == wm.Written {
		if endsAt(s, cp.Offset, prev, havePrev, buf, &rep) {
			// A clean close synced the log, indexed all of it and
			// checkpointed at its end, whose record was just verified:
			// nothing points past the end, and the table is read no
			// further (its pages are measured lazily by inserts).
			rep.Clean, rep.End, rep.Records, rep.Items, rep.Durable = true, cp.Offset, cp.Records, cp.Items, cp.Offset
			rep.Duration = time.Since(start)
			return rep, Tail{Last: prev, End: cp.Offset}, nil
		}
		rep.Reason = "the log continues past the clean mark"
	} else if !wm.Clean {
		rep.Reason = "unclean stop"
	} else {
		rep.Reason = "watermarks disagree with the checkpoint"
	}
	tail, err := replay(s, kf, cp, wm, prev, havePrev, buf, &rep)
	if err != nil {
		return rep, Tail{}, err
	}
	// The checkpoint at the new end is left to the store's writer, which
	// writes it in the background right after Open: its msync costs as much
	// as the pages re-indexing dirtied, and until it is durable the old
	// checkpoint simply stays in force (a crash repeats this recovery).
	if err := finish(s, kf, &rep, tail); err != nil {
		return rep, Tail{}, err
	}
	rep.Duration = time.Since(start)
	return rep, tail, nil
}

// checkpointRecord proves the record the checkpoint names and returns its
// header, the chain's head at the checkpoint. A valid record with another
// hash means the key file describes another log (ErrNeedRebuild); a damaged
// one (the record is durable: media damage, or the stand-in of a bridge)
// is stood in for by the checkpoint's own copy of its link, which the next
// record must match.
func checkpointRecord(s *Store, cp keyfile.Checkpoint, buf []byte, rep *Report) (datafile.Header, error) {
	g := s.Geom
	bs := int64(g.BlockSize)
	if cp.Offset <= g.LogStart() {
		return datafile.Header{}, nil
	}
	r, err := datafile.ReadRecord(g, s.File, buf, datafile.NewHasher(), cp.LastOffset)
	rep.BytesScanned += int64(max(r.Blocks, 1)) * bs
	switch {
	case err == nil && (r.Hash != cp.LastHash || r.End(g.BlockSize) != cp.Offset || r.Seq != cp.LastSeq):
		return r.Header, fmt.Errorf("%w: the checkpoint's record at %d is another record", ErrNeedRebuild, cp.LastOffset)
	case err == nil:
		rep.RecordsVerified++
		return r.Header, nil
	}
	rep.DamagedRecords++
	rep.DamagedBytes += cp.Offset - cp.LastOffset
	rep.Damaged = append(rep.Damaged, Range{cp.LastOffset, cp.Offset})
	return datafile.Header{Offset: cp.LastOffset, Seq: cp.LastSeq, Hash: cp.LastHash, Timestamp: cp.LastTime,
		Blocks: uint32((cp.Offset - cp.LastOffset) / bs)}, nil
}

// endsAt reports whether no record continues the chain at off.
func endsAt(s *Store, off int64, prev datafile.Header, havePrev bool, buf []byte, rep *Report) bool {
	sc := datafile.NewScanner(s.Geom, s.File, s.File.Size(), buf, off, prev, havePrev)
	_, err := sc.Next()
	rep.BytesScanned += sc.BytesRead
	return errors.Is(err, datafile.ErrEndOfLog)
}

// replay re-indexes the log from the checkpoint after an unclean stop.
// Entries at or past the checkpoint may point at records that never became
// durable, and overflow links may lead into pages the checkpoint does not
// know. The links are cut first (unless the live table of a process crash
// is used, under which there are none), so no page allocated from now on
// is reachable through one; the log from the checkpoint is replayed into the
// index (entries that reached the disk before the stop are found and left
// alone: a process crash costs no page writes); and one sweep then clears
// whatever points past the end of the log, and the stale copies splits
// left behind.
func replay(s *Store, kf *keyfile.File, cp keyfile.Checkpoint, wm keyfile.Watermarks, prev datafile.Header, havePrev bool,
	buf []byte, rep *Report) (Tail, error) {
	from := cp.Offset
	live := kf.SameBoot() && wm.Valid() && kf.UseLive()
	if live {
		// A process crash of this boot: the page cache holds the table as
		// the writer left it, geometry included, and the writer indexed
		// every record below written as it retired it; only the last one
		// may have been cut off mid-indexing. Hop to it by the headers and
		// replay from there. The hashes below are the scrub's to re-check.
		if int64(wm.Written) > cp.Offset {
			if last, before, items, ok := hop(s, cp.Offset, int64(wm.Written), prev, buf, rep); ok {
				from, prev, havePrev = last.Offset, before, before.Seq > 0
				// The table holds the items of the records hopped over;
				// the count starts at the checkpoint's (UseLive).
				kf.AddItems(items)
			}
		}
	}
	if !live {
		// Under the live table no link can lead past it: the writer links
		// an overflow page only after publishing the page count that
		// covers it. Under the checkpoint's, links into pages allocated
		// after it are cut.
		kf.CutLinks()
	}
	w := datafile.NewWalker(s.Geom, s.File, s.File.Size(), buf, from, prev, havePrev)
	floor, oldEnd := cp.Offset, s.File.Size()
	if wm.Valid() {
		// Everything below synced was durable. A stale header (power lost
		// before its sector reached the disk) only makes it smaller, never
		// wrong; but then extent is stale too, so the search for the
		// chain's continuation after a bad record is not stopped at it: a
		// valid record past it may still prove the bad one durable.
		floor, oldEnd = int64(wm.Synced), int64(wm.Extent)
		w.SearchCap = max(oldEnd, cp.Offset) + searchSlack
	}
	w.SearchTo = floor
	tail, err := walkAndIndex(s, kf.Replay, w, floor, rep, nil)
	if err != nil {
		return tail, err
	}
	if rep.TornAt > 0 {
		rep.BytesDropped = max(oldEnd, w.Pos()) - tail.End
	}
	if !(kf.SameBoot() && wm.Valid() && tail.End >= int64(wm.Written) && rep.TornAt == 0) {
		kf.Repair(tail.End, int64(wm.Extent), s.Geom.LogStart())
	}
	// Else the stop was a process crash: the page cache holds the key file
	// exactly as the writer left it, whose header is current, and the
	// writer indexes a record only once it is below written. The log
	// reaches written, so no entry points past its end: the sweep would
	// find nothing to clear. (Stale split copies stay until a checkpoint
	// after the next split of their bucket; lookups never see them.)
	rep.ItemsIndexed = int(kf.Stats().Items - min(cp.Items, kf.Stats().Items))
	return tail, nil
}

// hop follows the chain from off (where the record prev ends) to end by
// the records' headers alone, one block each, and returns the record that
// ends at end, the one before it, and the items of the records before
// that one (from their headers). It fails (the caller walks the whole
// way) where a header does not name this store, its own offset and its
// predecessor, or the chain does not end exactly at end.
func hop(s *Store, off, end int64, prev datafile.Header, buf []byte, rep *Report) (last, before datafile.Header, items uint64, ok bool) {
	g := s.Geom
	bs := g.BlockSize
	before = prev
	for off < end {
		n, _ := s.File.ReadAt(buf[:bs], off)
		rep.BytesScanned += int64(max(n, 0))
		h, err := datafile.DecodeHeader(buf[:max(n, 0)])
		if n < bs || err != nil || !h.Plausible(g.UID, off, bs) || h.Seq != before.Seq+1 ||
			(before.Seq > 0 && h.PrevOffset != before.Offset) {
			return last, before, 0, false
		}
		if h.End(bs) == end {
			return h, before, items, true
		}
		before, off = h, h.End(bs)
		items += uint64(h.Items)
	}
	return last, before, 0, false
}
