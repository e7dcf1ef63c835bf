package rotate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nudbgo/nudb"
)

// Errors of the set; the errors of nudb (ErrNotFound, ErrKeyExists,
// ErrKeySize, ErrClosed, ...) pass through unchanged.
var (
	// ErrNotSet: the directory holds something that is not a set of
	// generations. Nothing in it was changed.
	ErrNotSet = errors.New("rotate: directory is not a nudb generation set")
	// ErrCorrupt: the manifest or the tombstone log failed its checksum.
	ErrCorrupt = nudb.ErrCorrupt
	// ErrLocked: the set is open elsewhere (this process or another).
	ErrLocked = nudb.ErrLocked
)

// Options configure Open.
type Options struct {
	// Store configures every generation (KeySize and BlockSize when one is
	// created; Sync, Logger, ... when it is opened). Its Sync mode is also
	// the set's: under SyncAlways (the default) a Delete is durable when it
	// returns. ReadOnly and Overwrite are not supported.
	Store nudb.Options
	// Generations is how many generations a rotation leaves (default 2):
	// Rotate adds one and retires the oldest until this many remain. With
	// 1, every rotation copies all live items; with 2, an item written
	// since the last rotation is never copied. (A Put that replaces a
	// deleted key's value may add one too; see Set.Insert.)
	Generations int
	// MaxGenerations bounds the generations Puts that replace values add
	// (Set.Insert): at the bound, such a Put rotates first, keeping every
	// live item. Default Generations + 6.
	MaxGenerations int
	// CopyShare is the share of wall time a rotation's copy-forward may
	// take, (0, 1]; it sleeps the rest so foreground inserts keep most of
	// the writer. Default 0.25.
	CopyShare float64
	// CopyBatchBytes is how many bytes of items the copy-forward inserts
	// per batch (default 256 KiB): a foreground insert waits at most about
	// one such batch.
	CopyBatchBytes int
	// LockTimeout: as nudb.Options.LockTimeout, for the set's directory.
	LockTimeout time.Duration
	// Logger hears what Open cleaned up and what each rotation did.
	Logger *slog.Logger
}

func (o *Options) withDefaults() (Options, error) {
	var r Options
	if o != nil {
		r = *o
	}
	if r.Generations == 0 {
		r.Generations = 2
	}
	if r.MaxGenerations == 0 {
		r.MaxGenerations = r.Generations + 6
	}
	if r.CopyShare == 0 {
		r.CopyShare = 0.25
	}
	if r.CopyBatchBytes <= 0 {
		r.CopyBatchBytes = 256 << 10
	}
	if r.LockTimeout == 0 {
		r.LockTimeout = 2 * time.Second
	}
	if r.Store.KeySize == 0 {
		r.Store.KeySize = 32
	}
	if r.Generations < 1 || r.MaxGenerations < r.Generations || r.CopyShare < 0 || r.CopyShare > 1 || r.Store.ReadOnly || r.Store.Overwrite {
		return r, fmt.Errorf("%w: Generations %d (≥ 1), CopyShare %g (0, 1], ReadOnly and Overwrite unsupported",
			nudb.ErrInvalidOptions, r.Generations, r.CopyShare)
	}
	return r, nil
}

// generation is one nudb store of the set.
type generation struct {
	id    uint64
	store *nudb.Store
	// retiring marks a generation a rotation is copying forward and will
	// remove: inserts no longer count it as holding a key.
	retiring bool
	// written says an Insert or InsertBatch wrote to it and was
	// acknowledged (set with mu held shared, read with it held
	// exclusively): a rotation that fails may remove its new generation
	// only if nothing but its copies are there.
	written atomic.Bool
}

// Set is an open set of generations. Its methods are safe for concurrent
// use; Rotate runs beside inserts and reads.
type Set struct {
	dir  string
	opts Options
	lock *os.File
	tomb *tombstones

	// rotating serialises rotations (and Close with them); stopRotation
	// cancels the running one, so Close need not wait for its copy.
	rotating     sync.Mutex
	stopRotation context.CancelFunc
	// retire is held shared by walks over several generations and
	// exclusively by a rotation while it takes retired generations out,
	// so a walk never loses a generation under it.
	retire sync.RWMutex
	// mu guards gens and closed. Reads and inserts hold it shared for
	// their whole call, so a generation is only closed and removed once
	// no call is inside it.
	mu     sync.RWMutex
	gens   []*generation // oldest first
	next   uint64
	closed bool

	// hook, set by tests, is called at each named step of a rotation.
	hook func(step string)
	// trace, set by tests, hears each step that changes what is durable.
	trace func(traceEvent)
}

// Open opens the set in dir, creating it when dir is absent or empty. A
// directory with other content is refused with ErrNotSet and left as it
// is. Open finishes what a crash interrupted: files of a generation the
// manifest does not name (a rotation's new generation not yet installed,
// or a retired one not yet removed) are deleted, and each generation's
// own Open recovers its store.
func Open(dir string, opts *Options) (_ *Set, retErr error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("rotate: %w", err)
	}
	// A directory that is not a set is refused before the lock file is
	// made in it; the manifest is read again under the lock, since a
	// writer that held the set until a moment ago may have replaced it,
	// and removeOrphans must not go by an older one.
	if _, _, err := inspectDir(dir); err != nil {
		return nil, err
	}
	lock, err := lockDir(dir, o.LockTimeout)
	if err != nil {
		return nil, err
	}
	s := &Set{dir: dir, opts: o, lock: lock}
	defer func() {
		if retErr != nil {
			s.closeAll()
		}
	}()
	m, fresh, err := inspectDir(dir)
	if err != nil {
		return nil, err
	}
	if fresh {
		if m, err = s.create(); err != nil {
			return nil, err
		}
	}
	if err := s.removeOrphans(m); err != nil {
		return nil, err
	}
	s.next = m.next
	for _, id := range m.gens {
		st, err := nudb.Open(s.dataPath(id), s.keyPath(id), &o.Store)
		if err != nil {
			return nil, fmt.Errorf("rotate: open generation %d: %w", id, err)
		}
		s.gens = append(s.gens, &generation{id: id, store: st})
		// The set's key size is its generations': a KeySize asked for
		// must match it.
		if asked := keySizeAsked(opts); asked != 0 && asked != st.KeySize() {
			return nil, fmt.Errorf("%w: KeySize %d, the set's keys are %d bytes", nudb.ErrInvalidOptions, asked, st.KeySize())
		}
		s.opts.Store.KeySize = st.KeySize()
	}
	if s.tomb, err = openTombstones(dir, s.opts.Store.KeySize, o.Store.Sync == nudb.SyncAlways); err != nil {
		return nil, err
	}
	ensureReserve(dir)
	return s, nil
}

func keySizeAsked(o *Options) int {
	if o == nil {
		return 0
	}
	return o.Store.KeySize
}

// inspectDir reads the manifest, or says the directory is fresh: it holds
// nothing but what a set's creation leaves before its first manifest (the
// lock, a temporary manifest, an empty generation 1 and an empty
// tombstone log). Generation files with data and no manifest mean the
// manifest was lost: Open refuses rather than start afresh over them.
func inspectDir(dir string) (m manifest, fresh bool, err error) {
	m, err = readManifest(dir)
	if err == nil {
		return m, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return m, false, fmt.Errorf("rotate: %s: %w", dir, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return m, false, fmt.Errorf("rotate: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if slices.Contains([]string{lockName, manifestTempName, reserveName}, name) {
			continue
		}
		id, isGen := parseGenName(name)
		if isGen || name == tombstonesName {
			if info, err := e.Info(); err == nil && (name == tombstonesName && info.Size() == 0 ||
				id == 1 && info.Size() <= leftoverSize) {
				continue
			}
			return m, false, fmt.Errorf("%w: %s holds %s with data but no manifest (was MANIFEST removed?); nothing was changed",
				ErrCorrupt, dir, name)
		}
		return m, false, fmt.Errorf("%w: %s holds %s and no manifest", ErrNotSet, dir, name)
	}
	return m, true, nil
}

// leftoverSize bounds the files of a generation 1 that a creation left
// before its first manifest: a superblock and an empty key file.
const leftoverSize = 64 << 10

// create makes generation 1 and the first manifest. Files left by a
// creation that crashed before its manifest are replaced.
func (s *Set) create() (manifest, error) {
	m := manifest{next: 2, gens: []uint64{1}}
	os.Remove(filepath.Join(s.dir, tombstonesName))
	if err := s.createGeneration(1, true); err != nil {
		return m, err
	}
	return m, s.writeManifest(m, "install")
}

// createGeneration makes a new, empty store for generation id and syncs
// the directory, so the files exist before any manifest names them.
func (s *Set) createGeneration(id uint64, overwrite bool) error {
	o := s.opts.Store
	o.Overwrite = overwrite
	if err := nudb.Create(s.dataPath(id), s.keyPath(id), &o); err != nil {
		return fmt.Errorf("rotate: create generation %d: %w", id, err)
	}
	err := s.syncDir()
	if err == nil {
		s.note(traceEvent{op: opCreate, gens: []uint64{id}})
	}
	return err
}

// removeOrphans deletes generation files the manifest does not name and a
// leftover temporary manifest: what a crash between a rotation's steps
// leaves behind.
func (s *Set) removeOrphans(m manifest) error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("rotate: %w", err)
	}
	removed := 0
	for _, e := range entries {
		id, ok := parseGenName(e.Name())
		if (ok && !slices.Contains(m.gens, id)) || e.Name() == manifestTempName || e.Name() == tombstonesTemp {
			if err := s.remove(id, filepath.Join(s.dir, e.Name())); err != nil {
				return fmt.Errorf("rotate: remove leftover: %w", err)
			}
			removed++
			if s.opts.Logger != nil {
				s.opts.Logger.Info("rotate: removed a file no manifest names", "file", e.Name())
			}
		}
	}
	if removed > 0 {
		return s.syncDir()
	}
	return nil
}

func (s *Set) dataPath(id uint64) string { return filepath.Join(s.dir, genDataName(id)) }
func (s *Set) keyPath(id uint64) string  { return filepath.Join(s.dir, genKeyName(id)) }

// lockDir takes the set's directory lock (flock on LOCK), waiting up to
// timeout for a holder that is going away.
func lockDir(dir string, timeout time.Duration) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("rotate: %w", err)
	}
	deadline := time.Now().Add(timeout)
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) || timeout < 0 || time.Now().After(deadline) {
			f.Close()
			if errors.Is(err, unix.EWOULDBLOCK) {
				return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
			}
			return nil, fmt.Errorf("rotate: lock %s: %w", dir, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// closeAll closes whatever is open; the first error wins.
func (s *Set) closeAll() error {
	var errs []error
	for _, g := range s.gens {
		errs = append(errs, g.store.Close())
	}
	if s.tomb != nil {
		errs = append(errs, s.tomb.close())
	}
	if s.lock != nil {
		errs = append(errs, s.lock.Close())
	}
	return errors.Join(errs...)
}

// Close waits for a running rotation's current batch, closes every
// generation (each syncs what it holds) and releases the directory.
func (s *Set) Close() error {
	s.mu.Lock()
	if stop := s.stopRotation; stop != nil {
		stop()
	}
	s.mu.Unlock()
	s.rotating.Lock()
	defer s.rotating.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	// Calls that entered before closed was set have left (they held mu
	// shared); a walk still running sees ErrClosed from the set and is
	// waited for by each store's Close.
	err := s.tomb.sync()
	return errors.Join(err, s.closeAll())
}

// read runs fn with the generation list held shared.
func (s *Set) read(fn func(gens []*generation) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nudb.ErrClosed
	}
	return fn(s.gens)
}

// FetchFunc calls fn with the value stored under key (valid only during
// the call), looking from the newest generation to the oldest. A deleted
// key is ErrNotFound. An absent key costs one index lookup per generation
// (a bucket page each, no data-file read), so misses stay O(generations).
func (s *Set) FetchFunc(key []byte, fn func(value []byte)) error {
	return s.newestFirst(key, func(st *nudb.Store) error { return st.FetchFunc(key, fn) })
}

// newestFirst asks look of each generation's store, newest first, until
// one answers other than ErrNotFound. A deleted key is ErrNotFound.
func (s *Set) newestFirst(key []byte, look func(*nudb.Store) error) error {
	return s.read(func(gens []*generation) error {
		if s.tomb.has(key) {
			return nudb.ErrNotFound
		}
		for i := len(gens) - 1; i >= 0; i-- {
			if err := look(gens[i].store); !errors.Is(err, nudb.ErrNotFound) {
				return err
			}
		}
		return nudb.ErrNotFound
	})
}

// Fetch returns a copy of the value stored under key.
func (s *Set) Fetch(key []byte) ([]byte, error) {
	var v []byte
	err := s.FetchFunc(key, func(b []byte) { v = append([]byte(nil), b...) })
	return v, err
}

// Exists reports whether key is stored and not deleted.
func (s *Set) Exists(key []byte) (bool, error) {
	var found bool
	err := s.read(func(gens []*generation) error {
		found = false
		if s.tomb.has(key) {
			return nil
		}
		var err error
		found, err = holds(gens, key, false)
		return err
	})
	return found, err
}

// holds reports whether any generation of gens (but retiring ones, when
// skipRetiring) stores key.
func holds(gens []*generation, key []byte, skipRetiring bool) (bool, error) {
	for i := len(gens) - 1; i >= 0; i-- {
		if skipRetiring && gens[i].retiring {
			continue
		}
		ok, err := gens[i].store.Exists(key)
		if ok || err != nil {
			return ok, err
		}
	}
	return false, nil
}

// ValueSize returns the length of the value stored under key without
// reading the value.
func (s *Set) ValueSize(key []byte) (int, error) {
	var n int
	err := s.newestFirst(key, func(st *nudb.Store) (err error) {
		n, err = st.ValueSize(key)
		return err
	})
	return n, err
}

// Insert stores an item in the newest generation. A key some generation
// already holds (and that is not deleted) is ErrKeyExists, as in nudb,
// except that a generation being retired by a running rotation does not
// count: the item is written again to the newest, so an Insert that
// begins during a rotation never depends on the rotation's keep function.
//
// An Insert of a deleted key stores the value put (a Put after a Delete
// wins) and then revives the key. When the newest generation still holds
// the deleted key with another value, the set first opens a new generation
// for it ("forks": a generation created and installed, a few milliseconds,
// with no copying), since values never change within a generation; the
// next rotation retires the extra generations. Past MaxGenerations the
// fork is a rotation that keeps every live item: replacing values is
// possible, and costs, so a set suits data whose values rarely change.
func (s *Set) Insert(key, value []byte) error {
	for {
		err := s.read(func(gens []*generation) error { return s.insert(gens, key, value) })
		if !errors.Is(err, errNeedFork) {
			return err
		}
		if err := s.fork(); err != nil {
			return err
		}
	}
}

// errNeedFork: the newest generation holds a deleted key with another
// value than the one put.
var errNeedFork = errors.New("rotate: the newest generation holds the key with another value")

// insert is Insert with the generation list held shared.
func (s *Set) insert(gens []*generation, key, value []byte) error {
	newest := gens[len(gens)-1].store
	if !s.tomb.has(key) {
		// The older generations are asked here; the newest one is left to
		// Insert's own duplicate check, which would ask it again.
		if ok, err := holds(gens[:len(gens)-1], key, true); ok || err != nil {
			if err == nil {
				err = nudb.ErrKeyExists
			}
			return err
		}
		err := newest.Insert(key, value)
		if err == nil {
			gens[len(gens)-1].written.Store(true)
		}
		return err
	}
	held, same := false, false
	err := newest.FetchFunc(key, func(v []byte) { held, same = true, bytes.Equal(v, value) })
	if err != nil && !errors.Is(err, nudb.ErrNotFound) {
		return err
	}
	if held && !same {
		return errNeedFork
	}
	gens[len(gens)-1].written.Store(true)
	if err := newest.Insert(key, value); err != nil && !errors.Is(err, nudb.ErrKeyExists) {
		return err
	}
	// The item is durable before the revival is written, so a crash
	// between the two leaves it hidden and unacknowledged, never an older
	// value revived as the new one. (Under SyncAlways the Insert was
	// durable when it returned; in the other modes this Sync makes a Put
	// after a Delete cost one barrier.)
	if s.opts.Store.Sync != nudb.SyncAlways {
		if err := newest.Sync(); err != nil {
			return err
		}
	}
	return s.tomb.record(opRevive, key)
}

// fork installs a new, empty generation (see Insert); when the set
// already has MaxGenerations, it rotates instead (keeping every live
// item), which leaves Generations and a newest generation that does not
// hold the key (a deleted key is not copied forward).
func (s *Set) fork() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nudb.ErrClosed
	}
	if len(s.gens) < s.opts.MaxGenerations {
		_, err := s.install()
		s.mu.Unlock()
		return err
	}
	s.mu.Unlock()
	_, err := s.Rotate(context.Background(), nil)
	return err
}

// InsertBatch inserts the items of b into the newest generation with one
// wait (nudb.Store.InsertBatch): keys already held (and not deleted) are
// skipped and counted; deleted keys are stored as by Insert.
func (s *Set) InsertBatch(b *nudb.Batch) (skipped int, err error) {
	if b == nil || b.Len() == 0 {
		return 0, nil
	}
	var forks []int // deleted keys that need a new generation
	err = s.read(func(gens []*generation) error {
		var nb nudb.Batch
		for i := range b.Len() {
			k, v := b.Item(i)
			if s.tomb.has(k) {
				if err := s.insert(gens, k, v); errors.Is(err, errNeedFork) {
					forks = append(forks, i)
				} else if err != nil {
					return fmt.Errorf("item %d: %w", i, err)
				}
				continue
			}
			// The newest generation's own InsertBatch skips what it holds.
			if ok, err := holds(gens[:len(gens)-1], k, true); err != nil {
				return fmt.Errorf("item %d: %w", i, err)
			} else if ok {
				skipped++
				continue
			}
			nb.Put(k, v)
		}
		n, err := gens[len(gens)-1].store.InsertBatch(&nb)
		skipped += n
		if err == nil && n < nb.Len() {
			gens[len(gens)-1].written.Store(true)
		}
		return err
	})
	for _, i := range forks {
		if err != nil {
			break
		}
		err = s.Insert(b.Item(i))
	}
	return skipped, err
}

// Delete hides key from reads at once and drops it from the set at the
// next rotation that retires the generations holding it. The deletion is
// persisted (synced before Delete returns under SyncAlways, at Sync or
// Close otherwise), so a restart keeps it. Deleting a key the set does not
// hold does nothing.
func (s *Set) Delete(keys ...[]byte) error {
	return s.read(func(gens []*generation) error {
		var todo [][]byte
		for _, k := range keys {
			if len(k) != s.opts.Store.KeySize {
				return fmt.Errorf("%w: %d bytes, the set's keys are %d", nudb.ErrKeySize, len(k), s.opts.Store.KeySize)
			}
			if s.tomb.has(k) {
				continue
			}
			ok, err := holds(gens, k, false)
			if err != nil {
				return err
			}
			if ok {
				todo = append(todo, k)
			}
		}
		if len(todo) == 0 {
			return nil
		}
		return s.tomb.record(opDelete, todo...)
	})
}

// Sync makes every acknowledged insert and deletion durable.
func (s *Set) Sync() error {
	return s.read(func(gens []*generation) error {
		errs := []error{s.tomb.sync()}
		for _, g := range gens {
			errs = append(errs, g.store.Sync())
		}
		return errors.Join(errs...)
	})
}

// VisitContext calls fn for every live item of the set once: each
// generation's log from the oldest generation to the newest, skipping
// deleted keys and keys a newer generation holds (visited there: a newer
// generation's walk starts after the check, so it covers them). key and
// value are valid only during the call. fn may call the set's reads; a
// rotation that is due to take generations out waits for the walk.
func (s *Set) VisitContext(ctx context.Context, fn func(key, value []byte) error) error {
	s.retire.RLock()
	defer s.retire.RUnlock()
	var gens []*generation
	if err := s.read(func(g []*generation) error { gens = slices.Clone(g); return nil }); err != nil {
		return err
	}
	for i, g := range gens {
		newer := gens[i+1:]
		err := g.store.VisitContext(ctx, func(k, v []byte) error {
			if s.tomb.has(k) {
				return nil
			}
			if ok, err := holds(newer, k, false); ok || err != nil {
				return err
			}
			return fn(k, v)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Generation describes one generation of the set.
type Generation struct {
	ID                uint64
	DataPath, KeyPath string
	Retiring          bool // a rotation is copying it forward
}

// KeySize is the size of the set's keys.
func (s *Set) KeySize() int { return s.opts.Store.KeySize }

// Generations lists the set's generations, oldest first.
func (s *Set) Generations() []Generation {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var r []Generation
	for _, g := range s.gens {
		r = append(r, Generation{ID: g.id, DataPath: s.dataPath(g.id), KeyPath: s.keyPath(g.id), Retiring: g.retiring})
	}
	return r
}

// ReadGenerations lists the generations the manifest in dir names, oldest
// first, without opening the set (for verification and tools; the set may
// be open elsewhere). A directory without a manifest is ErrNotSet.
func ReadGenerations(dir string) ([]Generation, error) {
	m, err := readManifest(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s has no %s", ErrNotSet, dir, manifestName)
	}
	if err != nil {
		return nil, fmt.Errorf("rotate: %s: %w", dir, err)
	}
	var r []Generation
	for _, id := range m.gens {
		r = append(r, Generation{ID: id, DataPath: filepath.Join(dir, genDataName(id)), KeyPath: filepath.Join(dir, genKeyName(id))})
	}
	return r, nil
}
