package rotate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nudbgo/nudb"
)

// Report says what one rotation did.
type Report struct {
	NewGeneration uint64   // the generation the rotation opened
	Retired       []uint64 // the generations it copied forward and removed
	Scanned       int64    // items read in the retired generations
	Copied        int64    // items copied forward
	CopiedBytes   int64    // their keys and values
	Dropped       int64    // items keep said were dead
	Deleted       int64    // items dropped for a Delete
	Shadowed      int64    // items a newer generation already held
	// TombstonesDropped is how many deletions no longer had anything to
	// hide and left the tombstone log.
	TombstonesDropped int
	// BytesFreed is the disk space the removed files took (allocated
	// blocks, not their apparent size).
	BytesFreed int64
	// Paused is how long reads and inserts waited while the new
	// generation was installed.
	Paused time.Duration
	// Copying is the time spent copying and Throttled the time slept to
	// leave the writer to foreground inserts (Options.CopyShare).
	Copying, Throttled, Duration time.Duration
}

// Rotate opens a new generation, to which inserts go from then on, and
// retires the oldest generations until Options.Generations remain: every
// item of a retired generation that keep says is live (nil keep: every
// item), that is not deleted and that no newer generation holds is copied
// forward into the new generation, throttled to Options.CopyShare of the
// time; then the retired generations' files are removed, and deletions
// with nothing left to hide leave the tombstone log.
//
// Crash safety: the new generation's files exist and are synced before
// the manifest names them; the copies are synced before the manifest
// stops naming the retired generations; their files are removed only
// after that. A crash at any point leaves a manifest whose generations
// all exist and together hold every live acknowledged item (Open removes
// the files no manifest names). An error or a cancelled ctx leaves the
// retired generations in place (the new one stays, holding whatever was
// inserted into it). keep is called from the rotation's goroutine, once
// per item.
func (s *Set) Rotate(ctx context.Context, keep func(key []byte) bool) (rep Report, err error) {
	start := time.Now()
	s.rotating.Lock()
	defer s.rotating.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The new generation is created and installed with the set held
	// exclusively (Report.Paused: a store's creation and two fsyncs and a
	// rename of the manifest), so every Insert that begins after Rotate
	// was called sees the new generation and the retiring marks.
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return rep, nudb.ErrClosed
	}
	s.stopRotation = cancel
	defer func() {
		s.mu.Lock()
		s.stopRotation = nil
		s.mu.Unlock()
		ensureReserve(s.dir)
		rep.Duration = time.Since(start)
	}()
	st, err := s.install()
	if err != nil {
		s.mu.Unlock()
		return rep, err
	}
	rep.NewGeneration = s.next - 1
	nRetire := max(len(s.gens)-s.opts.Generations, 0)
	gens := slices.Clone(s.gens)
	for _, g := range gens[:nRetire] {
		g.retiring = true
	}
	s.mu.Unlock()
	rep.Paused = time.Since(start)
	s.crashPoint("installed")
	retiring := gens[:nRetire]
	if len(retiring) == 0 {
		return rep, nil
	}

	// 2. Copy forward into this rotation's generation (a fork may add a
	// newer one meanwhile: what it holds shadows the copies), then make
	// the copies durable.
	newGen := gens[len(gens)-1]
	if err := s.copyForward(ctx, gens, nRetire, keep, &rep); err != nil {
		return rep, errors.Join(err, s.stopped(retiring, newGen))
	}
	s.crashPoint("copied")
	s.note(traceEvent{op: opCopied, gens: []uint64{newGen.id}})
	if err := st.Sync(); err != nil {
		err = fmt.Errorf("rotate: sync generation %d: %w", rep.NewGeneration, err)
		return rep, errors.Join(err, s.stopped(retiring, newGen))
	}
	s.note(traceEvent{op: opGenSync, gens: []uint64{newGen.id}})
	s.crashPoint("synced")

	// 3. The manifest stops naming the retired generations; then they are
	// taken out (after any walk over them), closed and removed. The
	// manifest is derived from the list as it is now: a fork may have
	// added a generation during the copy.
	surviving, _, err := s.takeOut(func(g *generation) bool { return g.retiring }, "retire")
	if err != nil {
		s.keepRetiring(retiring)
		return rep, err
	}
	s.crashPoint("retired")
	var errs []error
	for _, g := range retiring {
		rep.Retired = append(rep.Retired, g.id)
		errs = append(errs, g.store.Close())
		for i, path := range []string{s.dataPath(g.id), s.keyPath(g.id)} {
			rep.BytesFreed += allocated(path)
			errs = append(errs, s.remove(g.id, path))
			if i == 0 {
				s.crashPoint("removing")
			}
		}
	}
	errs = append(errs, s.syncDir())
	s.crashPoint("removed")

	// 4. Deletions whose keys no generation holds any more are done.
	dropped, err := s.tomb.compact(func(k []byte) bool {
		ok, err := holds(surviving, k, false)
		return ok || err != nil
	})
	rep.TombstonesDropped = dropped
	errs = append(errs, err)
	if s.opts.Logger != nil {
		s.opts.Logger.Info("rotate: rotation done", "new", rep.NewGeneration, "retired", rep.Retired,
			"copied", rep.Copied, "dropped", rep.Dropped, "deleted", rep.Deleted, "freed", rep.BytesFreed)
	}
	return rep, errors.Join(errs...)
}

// install makes the next generation and adds it to the set, newest: its
// files first, then the manifest that names them. The caller holds mu.
func (s *Set) install() (*nudb.Store, error) {
	id := s.next
	if err := s.createGeneration(id, false); err != nil {
		return nil, err
	}
	s.crashPoint("created")
	st, err := nudb.Open(s.dataPath(id), s.keyPath(id), &s.opts.Store)
	if err == nil {
		err = s.writeManifest(manifest{next: id + 1, gens: append(s.ids(), id)}, "install")
		if err != nil {
			st.Close()
		}
	}
	if err != nil {
		if !errors.Is(err, errManifestInPlace) {
			s.removeFiles(id)
		}
		return nil, fmt.Errorf("rotate: install generation %d: %w", id, err)
	}
	s.next = id + 1
	s.gens = append(s.gens, &generation{id: id, store: st})
	return st, nil
}

// copyForward walks the retired generations (gens[:nRetire]), oldest
// first, and inserts what survives into the newest generation in batches
// of Options.CopyBatchBytes, sleeping after each so the copy takes at
// most CopyShare of the time.
func (s *Set) copyForward(ctx context.Context, gens []*generation, nRetire int, keep func([]byte) bool, rep *Report) error {
	newest := gens[len(gens)-1].store
	var batch nudb.Batch
	var arena []byte // the batch's copies of keys and values
	flush := func() error {
		if batch.Len() == 0 {
			return nil
		}
		t := time.Now()
		_, err := newest.InsertBatch(&batch)
		batch.Reset()
		arena = arena[:0]
		spent := time.Since(t)
		rep.Copying += spent
		if err != nil {
			return fmt.Errorf("rotate: copy forward: %w", err)
		}
		pause := time.Duration(float64(spent) * (1/s.opts.CopyShare - 1))
		rep.Throttled += pause
		return sleepCtx(ctx, pause)
	}
	for i, g := range gens[:nRetire] {
		newer := gens[i+1:]
		err := g.store.VisitContext(ctx, func(k, v []byte) error {
			rep.Scanned++
			switch {
			case s.tomb.has(k):
				rep.Deleted++
				return nil
			case keep != nil && !keep(k):
				rep.Dropped++
				return nil
			}
			if ok, err := holds(newer, k, false); err != nil {
				return err
			} else if ok {
				rep.Shadowed++
				return nil
			}
			if len(arena)+len(k)+len(v) > cap(arena) {
				// The batch refers into the arena: flush before it moves.
				if err := flush(); err != nil {
					return err
				}
				if need := len(k) + len(v); need > cap(arena) {
					arena = make([]byte, 0, max(need, s.opts.CopyBatchBytes))
				}
			}
			n := len(arena)
			arena = append(append(arena, k...), v...)
			batch.Put(arena[n:n+len(k)], arena[n+len(k):])
			rep.Copied++
			rep.CopiedBytes += int64(len(k) + len(v))
			return nil
		})
		if err == nil {
			err = flush()
		}
		if err != nil {
			return fmt.Errorf("rotate: copy forward from generation %d: %w", g.id, err)
		}
	}
	return nil
}

// stopped undoes a rotation that failed before its retirement: the
// retired generations stay, and the new one goes too if nothing but the
// rotation's own copies were written to it (on a full disk, the space
// they took is what the next, smaller rotation needs).
func (s *Set) stopped(retiring []*generation, newGen *generation) error {
	s.keepRetiring(retiring)
	_, abandoned, err := s.takeOut(func(g *generation) bool {
		return g == newGen && !s.closed && !g.written.Load()
	}, "abandon")
	if err != nil || !abandoned {
		return err
	}
	return errors.Join(newGen.store.Close(), s.removeFiles(newGen.id), s.syncDir())
}

// takeOut takes the generations drop picks out of the set: a manifest
// without them first, then the list, with every walk over the set out of
// the way (retire) and the set held. It returns the generations that
// stay and whether any went; when drop picks none, nothing is written.
// The caller closes and removes what went.
func (s *Set) takeOut(drop func(*generation) bool, why string) (kept []*generation, took bool, err error) {
	s.retire.Lock()
	defer s.retire.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	kept = slices.DeleteFunc(slices.Clone(s.gens), drop)
	if len(kept) == len(s.gens) {
		return kept, false, nil
	}
	if err := s.writeManifest(manifest{next: s.next, gens: idsOf(kept)}, why); err != nil {
		return nil, false, err
	}
	s.gens = kept
	return slices.Clone(kept), true, nil
}

// removeFiles removes a generation's two files (not yet durable: the
// caller syncs the directory).
func (s *Set) removeFiles(id uint64) error {
	return errors.Join(s.remove(id, s.dataPath(id)), s.remove(id, s.keyPath(id)))
}

// keepRetiring undoes the retiring marks of a rotation that stopped: the
// generations stay and count again for inserts.
func (s *Set) keepRetiring(gens []*generation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range gens {
		g.retiring = false
	}
}

// ids lists the generations' ids, oldest first; the caller holds mu.
func (s *Set) ids() []uint64 { return idsOf(s.gens) }

func idsOf(gens []*generation) []uint64 {
	ids := make([]uint64, len(gens))
	for i, g := range gens {
		ids[i] = g.id
	}
	return ids
}

// allocated is the disk space a file takes, in bytes of allocated blocks.
func allocated(path string) int64 {
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil {
		return 0
	}
	return st.Blocks * 512
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// remove deletes one of a generation's files and notes it in the trace.
func (s *Set) remove(id uint64, path string) error {
	err := os.Remove(path)
	s.note(traceEvent{op: opRemove, gens: []uint64{id}})
	return err
}

// crashPoint lets the kill tests end the process at a named step of a
// rotation; nil outside them.
func (s *Set) crashPoint(step string) {
	if s.hook != nil {
		s.hook(step)
	}
}
