package datafile

// Gap is a stretch of the log that a Walker stepped over: one or more bad
// records between the last valid record before it and the first valid
// record after it that provably continues the same chain.
type Gap struct {
	At     int64  // where the first bad record starts
	Next   int64  // where the valid record after the gap starts
	Before Header // the last valid record before the gap (Seq 0: none)
	After  Header // the first valid record after the gap
	// RecordsBefore is how many valid records the walk had returned
	// before the gap.
	RecordsBefore int
}

// Lost is the number of records the gap holds (their sequence numbers).
func (g *Gap) Lost() uint64 { return g.After.Seq - 1 - g.Before.Seq }

// Walker reads the log forwards like a Scanner, and where a record is bad
// it looks for the chain's continuation instead of stopping: by the length
// in the bad record's header when that header is intact, else by the next
// block, at most one maximal record ahead, whose header names this store,
// its own offset and a sequence, epoch, time and durable mark that continue
// the chain, and whose hash matches. Every step over bad records is kept
// in Gaps. Whether a gap is media damage (to be skipped) or a torn tail (to
// be cut) is the caller's decision: it depends on the durable part of the
// log, which the walk measures (MaxDurable) but does not decide.
type Walker struct {
	g    Geometry
	src  ReaderAt
	size int64
	buf  []byte
	hs   *Hasher
	sc   *Scanner
	last Header

	// SearchTo extends the search for a continuation past one maximal
	// record, up to this offset: where the log is known durable (the key
	// file's synced watermark), a long stretch of damage below it is still
	// stepped over.
	SearchTo int64
	// SearchCap, when set, bounds the search for a continuation (except up
	// to SearchTo): an unclean Open reads at most this far past the end
	// of the log.
	SearchCap int64
	// Gaps lists the bad stretches stepped over, in log order.
	Gaps []Gap
	// Records counts the valid records returned.
	Records int
	// MaxDurable is the highest durable mark of the records returned.
	MaxDurable int64
	bytesRead  int64
}

// NewWalker walks from pos, where prev (when havePrev) is the record that
// ends there; without it pos must be the log start. buf must be block
// aligned and at least twice MaxRecordSize, so a continuation can be looked
// for in one read.
func NewWalker(g Geometry, src ReaderAt, size int64, buf []byte, pos int64, prev Header, havePrev bool) *Walker {
	w := &Walker{g: g, src: src, size: size, buf: buf, hs: NewHasher()}
	w.sc = NewScanner(g, src, size, buf, pos, prev, havePrev)
	if havePrev {
		w.last = prev
		w.MaxDurable = prev.Durable
	}
	return w
}

// Next returns the next valid record, stepping over bad ones where the
// chain continues, or ErrEndOfLog where it does not (Pos is then the end).
func (w *Walker) Next() (Record, error) {
	for {
		r, err := w.sc.Next()
		if err == nil {
			w.last = r.Header
			w.Records++
			w.MaxDurable = max(w.MaxDurable, r.Durable)
			return r, nil
		}
		if !w.resync() {
			return r, err
		}
	}
}

// Pos is where the next record would start: after ErrEndOfLog, the end of
// the valid log.
func (w *Walker) Pos() int64 { return w.sc.Pos() }

// Last is the last valid record returned (or the one the walk started after).
func (w *Walker) Last() Header { return w.last }

// Reason says why the last step of the scan ended (see Scanner.Reason).
func (w *Walker) Reason() error { return w.sc.Reason }

// BytesRead counts the bytes read from the source.
func (w *Walker) BytesRead() int64 { return w.bytesRead + w.sc.BytesRead }

// continues reports whether r, found at q after bad bytes from at, can be
// the chain's continuation after the last good record.
func (w *Walker) continues(r *Header, at, q int64) bool {
	l := &w.last
	return r.PrevOffset >= at && r.PrevOffset < q && r.Seq >= l.Seq+2 && r.Timestamp >= l.Timestamp &&
		r.Epoch >= l.Epoch && r.Durable >= l.Durable
}

// resync looks for the continuation of the chain after a bad record at the
// scanner's position and, when it finds one, restarts the scan there.
func (w *Walker) resync() bool {
	g := w.g
	bs := int64(g.BlockSize)
	at := w.sc.Pos()
	if at+bs > w.size {
		return false
	}
	w.bytesRead += w.sc.BytesRead
	w.sc.BytesRead = 0
	try := func(q int64) bool {
		if q+bs > w.size {
			return false
		}
		r, err := ReadRecord(g, w.src, w.buf, w.hs, q)
		w.bytesRead += int64(r.Blocks) * bs
		if err != nil || !w.continues(&r.Header, at, q) {
			return false
		}
		w.Gaps = append(w.Gaps, Gap{At: at, Next: q, Before: w.last, After: r.Header, RecordsBefore: w.Records})
		// The scanner restarts at q as if the record before it were the
		// one r names: it then checks r's link, hash and everything after.
		prev := Header{Seq: r.Seq - 1, Offset: r.PrevOffset, Blocks: uint32((q - r.PrevOffset) / bs), Hash: r.PrevHash,
			Timestamp: w.last.Timestamp, Epoch: w.last.Epoch, Durable: w.last.Durable}
		w.sc = NewScanner(g, w.src, w.size, w.buf, q, prev, true)
		return true
	}
	if n, _ := w.src.ReadAt(w.buf[:bs], at); n == int(bs) {
		w.bytesRead += bs
		if h, err := DecodeHeader(w.buf[:bs]); err == nil && h.Plausible(g.UID, at, g.BlockSize) && try(h.End(g.BlockSize)) {
			return true
		}
	}
	// Read a window at a time and look for headers in memory; only a
	// block that names this store and its own offset, and continues the
	// chain, is read and hashed in full.
	limit := min(max(at+int64(MaxRecordSize(g.KeySize, g.BlockSize)), w.SearchTo), w.size)
	if w.SearchCap > 0 {
		limit = min(limit, max(w.SearchCap, w.SearchTo))
	}
	half := w.buf[len(w.buf)/2:]
	step := int64(len(half)) - int64(len(half))%bs
	for base := at; base < limit; base += step {
		window := min(step, limit-base)
		window -= window % bs
		n, _ := w.src.ReadAt(half[:window], base)
		w.bytesRead += int64(max(n, 0))
		var cands []int64
		for q := int64(0); q+bs <= int64(n); q += bs {
			h, err := DecodeHeader(half[q : q+bs])
			if base+q > at && err == nil && h.Plausible(g.UID, base+q, g.BlockSize) && w.continues(&h, at, base+q) {
				cands = append(cands, base+q)
			}
		}
		for _, q := range cands {
			if try(q) {
				return true
			}
		}
		if n < int(window) {
			break
		}
	}
	return false
}
