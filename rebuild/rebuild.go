package rebuild

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/nudbgo/nudb/datafile"
	"github.com/nudbgo/nudb/keyfile"
)

// Progress is called during long operations with the bytes done so far and
// the total expected.
type Progress func(done, total int64)

// damage is a bad record that the scan skipped over.
type damage struct {
	at, next int64           // the bad record and the valid record after it
	nextTime int64           // timestamp of the record after it
	before   datafile.Header // the last good record before it
	records  uint64          // records before it
}

// logWalker scans the whole log forwards, skipping damaged records where the
// chain provably continues after them.
type logWalker struct {
	s       *Store
	buf     []byte
	hs      *datafile.Hasher
	sc      *datafile.Scanner
	last    datafile.Header
	records uint64
	damage  []damage
	scanned int64
	checked int
	// stopAt is where nothing was ever written (the extent watermark, when
	// known): a scan ending there is the end of the log, not damage.
	stopAt int64
}

func newLogWalker(s *Store, buf []byte) *logWalker {
	w := &logWalker{s: s, buf: buf, hs: datafile.NewHasher(), stopAt: 1<<63 - 1}
	w.sc = datafile.NewScanner(s.Geom, s.File, s.File.Size, buf, s.Geom.LogStart(), datafile.Header{}, false)
	return w
}

// next returns the next valid record, or ErrEndOfLog.
func (w *logWalker) next() (datafile.Record, error) {
	for {
		r, err := w.sc.Next()
		if err == nil {
			w.last = r.Header
			w.records++
			w.checked++
			return r, nil
		}
		w.scanned += w.sc.BytesRead
		w.sc.BytesRead = 0
		if !w.resync() {
			return r, err
		}
	}
}

// resync looks for the first good record after bad ones at the scanner's
// position: by the length in the bad record's header if it is intact, else
// block by block, at most one maximal record ahead. The candidate must be
// valid, name a predecessor at or after the bad record, and carry a later
// sequence number and timestamp than the last good record.
func (w *logWalker) resync() bool {
	g := w.s.Geom
	bs := int64(g.BlockSize)
	at := w.sc.Pos()
	if at+bs > w.s.File.Size {
		return false
	}
	try := func(q int64) bool {
		if q+bs > w.s.File.Size {
			return false
		}
		r, err := datafile.ReadRecord(g, w.s.File, w.buf, w.hs, q)
		w.scanned += bs
		if err != nil || r.PrevOffset < at || r.PrevOffset >= q || r.Seq < w.last.Seq+2 || r.Timestamp < w.last.Timestamp {
			return false
		}
		w.damage = append(w.damage, damage{at: at, next: q, nextTime: r.Timestamp, before: w.last, records: w.records})
		prev := datafile.Header{Seq: r.Seq - 1, Offset: r.PrevOffset, Blocks: uint32((q - r.PrevOffset) / bs), Hash: r.PrevHash, Timestamp: w.last.Timestamp}
		w.sc = datafile.NewScanner(g, w.s.File, w.s.File.Size, w.buf, q, prev, true)
		w.records += r.Seq - 1 - w.last.Seq // lost records still hold their sequence numbers
		return true
	}
	if at >= w.stopAt {
		return false
	}
	if n, _ := w.s.File.ReadAt(w.buf[:bs], at); n == int(bs) {
		if h, err := datafile.DecodeHeader(w.buf[:bs]); err == nil && h.Plausible(g.UID, at, g.BlockSize) && try(h.End(g.BlockSize)) {
			return true
		}
	}
	// Read the window once and look for headers in memory; only a block
	// that names this store and its own offset is read and hashed in full.
	window := min(int64(datafile.MaxRecordSize(g.KeySize, g.BlockSize)), int64(len(w.buf))/2, w.s.File.Size-at)
	window -= window % bs
	half := w.buf[len(w.buf)/2:]
	n, _ := w.s.File.ReadAt(half[:window], at)
	w.scanned += int64(n)
	var cands []int64
	for q := bs; q+bs <= int64(n); q += bs {
		h, err := datafile.DecodeHeader(half[q : q+bs])
		if err == nil && h.Plausible(g.UID, at+q, g.BlockSize) {
			cands = append(cands, at+q)
		}
	}
	for _, q := range cands {
		if try(q) {
			return true
		}
	}
	return false
}

// Rebuild writes a new key file for the data file beside keyPath, syncs it
// and renames it into place, then returns it open. The log is scanned from
// its start; see the package doc for how damage is told from a torn tail.
func Rebuild(s *Store, keyPath string, window time.Duration, progress Progress) (*keyfile.File, Report, datafile.Header, error) {
	start := time.Now()
	rep := Report{Rebuilt: true}
	g := s.Geom
	tmp := keyPath + ".rebuild"
	if err := keyfile.Create(tmp, s.identity(), g.LogStart()); err != nil {
		return nil, rep, datafile.Header{}, err
	}
	kf, err := keyfile.Open(tmp, s.identity(), false)
	if err != nil {
		return nil, rep, datafile.Header{}, err
	}
	fail := func(err error) (*keyfile.File, Report, datafile.Header, error) {
		kf.Close()
		os.Remove(tmp)
		return nil, rep, datafile.Header{}, err
	}
	arena, buf, err := scanBuffer(g)
	if err != nil {
		return fail(err)
	}
	defer arena.Free()
	w := newLogWalker(s, buf)
	var lastReport int64
	reserved := false
	err = indexLog(w.next, kf, s.Salt, g.KeySize, func(h *datafile.Header, n int) {
		rep.ItemsIndexed += n
		if done := h.End(g.BlockSize); !reserved && done >= 4<<20 {
			// Size the table once for the whole log, extrapolated from
			// the first few MiB, instead of splitting all the way.
			reserved = true
			// A failure to grow shows again on the next insert.
			_ = kf.Reserve(uint64(float64(rep.ItemsIndexed) * float64(s.File.Size) / float64(done)))
		}
		if progress != nil && h.Offset-lastReport >= 4<<20 {
			progress(h.Offset, s.File.Size)
			lastReport = h.Offset
		}
	})
	if err != nil {
		return fail(fmt.Errorf("rebuild: %w", err))
	}
	end := w.sc.Pos()
	last, records := w.last, w.records
	// Damage inside the at-risk window is a torn tail: the log ends there.
	for _, d := range w.damage {
		if d.nextTime >= last.Timestamp-int64(window) {
			kf.Repair(d.at, end, g.LogStart())
			rep.ItemsIndexed = int(kf.Stats().Items)
			end, last, records = d.at, d.before, d.records
			break
		}
		rep.DamagedRecords++
		rep.DamagedBytes += d.next - d.at
	}
	rep.BytesScanned = w.scanned + w.sc.BytesRead
	rep.RecordsVerified = w.checked
	// A rebuild has no extent watermark to measure a torn tail against:
	// passing the end itself reports nothing dropped without reading the
	// space after the log block by block.
	if err := finish(s, kf, &rep, last, end, records, end, true); err != nil {
		return fail(err)
	}
	if err := kf.Sync(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, keyPath); err != nil {
		return fail(fmt.Errorf("rebuild: %w", err))
	}
	if err := syncDir(filepath.Dir(keyPath)); err != nil {
		kf.Close()
		return nil, rep, last, err
	}
	if progress != nil {
		progress(s.File.Size, s.File.Size)
	}
	rep.Duration = time.Since(start)
	return kf, rep, last, nil
}

// syncDir fsyncs a directory so a rename or create in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("rebuild: sync %s: %w", dir, err)
	}
	return nil
}
