package rebuild

import (
	"crypto/rand"
	"encoding/hex"
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

// Rebuild writes a new key file for the data file beside keyPath, syncs it
// and renames it into place, then returns it open. The log is scanned from
// its start. durable is what the caller knows of the durable part of the
// log without this scan (the synced watermark of a key file that is still
// readable, else 0): together with the durable marks of the records it
// decides, by DESIGN.md's rule, which bad records are media damage (skipped
// and reported) and which one starts a torn tail (cut). The caller has
// checked that keyPath is missing, empty or a key file.
func Rebuild(s *Store, keyPath string, durable int64, progress Progress) (*keyfile.File, Report, Tail, error) {
	start := time.Now()
	rep := Report{Rebuilt: true}
	g := s.Geom
	size := s.File.Size()
	var nonce [6]byte
	rand.Read(nonce[:])
	tmp := keyPath + ".rebuild-" + hex.EncodeToString(nonce[:])
	if err := keyfile.Create(tmp, s.ID, g.LogStart()); err != nil {
		return nil, rep, Tail{}, err
	}
	kf, err := keyfile.Open(tmp, s.ID, false)
	if err != nil {
		os.Remove(tmp)
		return nil, rep, Tail{}, err
	}
	fail := func(err error) (*keyfile.File, Report, Tail, error) {
		kf.Close()
		os.Remove(tmp)
		return nil, rep, Tail{}, err
	}
	arena, buf, err := scanBuffer(g)
	if err != nil {
		return fail(err)
	}
	defer arena.Free()
	w := datafile.NewWalker(g, s.File, size, buf, g.LogStart(), datafile.Header{}, false)
	w.SearchTo = durable
	var lastReport int64
	reserved := false
	tail, err := walkAndIndex(s, kf.InsertMany, w, durable, &rep, func(h *datafile.Header, n int) {
		if done := h.End(g.BlockSize); !reserved && done >= 4<<20 {
			// Size the table once for the whole log, extrapolated from
			// the first few MiB, instead of splitting all the way.
			reserved = true
			// A failure to grow shows again on the next insert.
			_ = kf.Reserve(uint64(float64(rep.ItemsIndexed) * float64(size) / float64(done)))
		}
		if progress != nil && h.Offset-lastReport >= 4<<20 {
			progress(h.Offset, size)
			lastReport = h.Offset
		}
	})
	if err != nil {
		return fail(fmt.Errorf("rebuild: %w", err))
	}
	if rep.TornAt > 0 {
		rep.BytesDropped = w.Pos() - tail.End
		if rep.RecordsDropped > 0 {
			// Records after the cut were indexed on the way.
			kf.Repair(tail.End, 1<<62, g.LogStart())
		}
	}
	rep.ItemsIndexed = int(kf.Stats().Items)
	if err := finish(s, kf, &rep, tail); err != nil {
		return fail(err)
	}
	if err := checkpointAt(kf, tail); err != nil {
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
		return nil, rep, tail, err
	}
	if progress != nil {
		progress(size, size)
	}
	rep.Duration = time.Since(start)
	return kf, rep, tail, nil
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
