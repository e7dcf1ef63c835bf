package keyfile

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// reserve is the virtual address range mapped for a key file. The file grows
// inside it (ftruncate) without a remap, so readers never see the mapping
// move. 64 GiB of index is about two billion items.
const reserve = 64 << 30

// File is an open key file.
type File struct {
	path     string
	fd       int
	mem      []byte // the whole reserved mapping; bytes past size are not touched
	size     int64  // file size, a multiple of HeaderSize
	readOnly bool
	id       Identity

	// The watermark words live in the mapped header page. They are 8-byte
	// aligned (the mapping is page aligned and the offsets are multiples of
	// 8), so atomic access to them is valid; readers of Stats load them while
	// the writer stores them.
	extent, written, synced, clean *atomic.Uint64

	// live is what the live-table words held when the file was opened:
	// the geometry a writer that crashed during this boot had (see UseLive).
	live liveTable
	// liveChecked: Open checked the structure under the live geometry.
	liveChecked bool

	mu shardedRWMutex // guards the table below and the slot contents
	table
	cp     Checkpoint // the durable checkpoint in force
	cpSlot int        // slot holding cp; the next checkpoint goes to the other

	// AfterMsync, when set, is called after every msync with the mapped
	// bytes in use; the crash simulator snapshots them there.
	AfterMsync func(mem []byte)

	// A follower (OpenFollower) reads the writer's live geometry here.
	followGeom *atomic.Uint64
}

// Create writes a new, empty key file for id at path and syncs it. It
// never replaces a file: the caller removes an old key file first (after
// Classify has said it is one). logStart is the data-file offset of the
// first record.
func Create(path string, id Identity, logStart int64) error {
	buf := make([]byte, HeaderSize+BucketSize)
	id.encode(buf)
	le := leWords(buf)
	le(extentOff, uint64(logStart))
	le(writtenOff, uint64(logStart))
	le(syncedOff, uint64(logStart))
	le(cleanOff, 1)
	cp := Checkpoint{Gen: 1, Offset: logStart, Buckets: 1, Pages: headerPages + 1}
	cp.encode(buf[slotAOff:])
	setChunkEntry(buf, 0, headerPages) // bucket 0 on the first page
	initPage(buf[HeaderSize:], kindBucket, 0)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("keyfile: create: %w", err)
	}
	_, err = f.Write(buf)
	if err == nil {
		err = f.Sync()
	}
	if e := f.Close(); err == nil {
		err = e
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("keyfile: create %s: %w", path, err)
	}
	return nil
}

func leWords(b []byte) func(off int, v uint64) {
	return func(off int, v uint64) {
		for i := 0; i < 8; i++ {
			b[off+i] = byte(v >> (8 * i))
		}
	}
}

// Open maps the key file at path and checks it against id. It returns
// ErrMissing, ErrForeign or ErrDamaged (wrapped) when the file cannot serve
// as this store's index; the caller then rebuilds it. Open does not change
// the file: the table is loaded with the checkpointed geometry, and Repair
// must run before any insert when the store was not closed cleanly.
func Open(path string, id Identity, readOnly bool) (*File, error) {
	flags := os.O_RDWR
	prot := unix.PROT_READ | unix.PROT_WRITE
	if readOnly {
		flags = os.O_RDONLY
		prot = unix.PROT_READ
	}
	// O_NONBLOCK: a FIFO at the path must not hang the open; it is then
	// refused as not a regular file.
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil, fmt.Errorf("%w: %s", ErrMissing, path)
	}
	if err != nil {
		return nil, fmt.Errorf("keyfile: open %s: %w", path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("keyfile: stat %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrNotKeyFile, path)
	}
	if st.Size == 0 {
		unix.Close(fd)
		return nil, fmt.Errorf("%w: %s is empty", ErrMissing, path)
	}
	if st.Size < HeaderSize+BucketSize || st.Size%BucketSize != 0 || st.Size > reserve {
		unix.Close(fd)
		if k, _ := Classify(path); k != KindKeyFile {
			return nil, fmt.Errorf("%w: %s", ErrNotKeyFile, path)
		}
		return nil, fmt.Errorf("%w: size %d", ErrDamaged, st.Size)
	}
	mem, err := unix.Mmap(fd, 0, reserve, prot, unix.MAP_SHARED)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("keyfile: mmap %s: %w", path, err)
	}
	f := &File{path: path, fd: fd, mem: mem, size: st.Size, readOnly: readOnly, id: id}
	// Open reads every bucket page (load checks them): fault them in with
	// one call.
	populate(mem[:st.Size])
	f.bindWatermarks()
	if err := f.load(); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func (f *File) bindWatermarks() {
	word := func(off int) *atomic.Uint64 {
		// See the field comment: aligned words inside the live mapping.
		return (*atomic.Uint64)(unsafe.Pointer(&f.mem[off]))
	}
	f.extent, f.written, f.synced, f.clean = word(extentOff), word(writtenOff), word(syncedOff), word(cleanOff)
	g := word(liveGeomOff).Load()
	f.live = liveTable{buckets: g >> 32, pages: g & (1<<32 - 1)}
	if !f.readOnly {
		f.table.geomWord = word(liveGeomOff)
	}
}

// load checks the header and loads the table at the checkpointed geometry.
func (f *File) load() error {
	if err := checkIdentity(f.mem[:HeaderSize], f.id); err != nil {
		return err
	}
	cp, slot, ok := latestCheckpoint(f.mem[:HeaderSize])
	if !ok {
		return fmt.Errorf("%w: no valid checkpoint", ErrDamaged)
	}
	if err := checkGeometry(cp, f.size); err != nil {
		return err
	}
	f.cp, f.cpSlot = cp, slot
	// Every open checks the table's structure, even after a clean close:
	// a page damaged on the medium since then is found here, and the
	// store rebuilds the index, rather than lookups missing its entries.
	// It reads one line of each bucket page (and the overflow pages).
	//
	// After a process crash of this boot the table recovery will use is
	// the live one (UseLive), so that is the one checked, once: the
	// checkpoint's table is a part of it (its buckets' pages are the same
	// pages, its chains the same chains cut where they reach pages it does
	// not know), so it passes whenever the live one does.
	if !f.readOnly && f.clean.Load() == 0 && f.SameBoot() && f.liveFits() {
		f.liveChecked = f.table.load(f.mem, f.live.buckets, f.live.pages, true) == nil
	}
	if err := f.table.load(f.mem, cp.Buckets, cp.Pages, !f.liveChecked); err != nil {
		return err
	}
	if f.readOnly && f.clean.Load() == 0 {
		// A read-only open changes nothing, so count without clearing.
		f.sweep(nil)
	} else {
		f.items = cp.Items
		f.publish()
	}
	return nil
}

// liveTable is the table's geometry as a writer held it.
type liveTable struct{ buckets, pages uint64 }

// liveFits reports whether the live geometry describes a table this file
// can hold, at least as large as the checkpoint's.
func (f *File) liveFits() bool {
	l, cp := f.live, f.cp
	return l.buckets >= cp.Buckets && l.pages >= cp.Pages && l.pages >= l.buckets+headerPages &&
		l.pages < 1<<32 && int64(l.pages)*BucketSize <= f.size
}

// UseLive loads the table with the geometry the last writer held when it
// stopped, instead of the checkpoint's: right only after a process crash
// of this boot (SameBoot), when the page cache holds every page exactly as
// that writer left it, so entries in pages allocated after the checkpoint
// stand. The words are published only where the table is consistent under
// them (a page once initialised, a split's bucket once its entries are
// copied). A bucket page a split left unpublished is a reserved page no
// bucket uses: the split that makes its bucket again starts it afresh. It
// reports false, and keeps the checkpoint's geometry,
// when the words do not describe a table this file can hold.
//
// The entry count is the checkpoint's either way: the caller adds the
// items of the records past the checkpoint that it skips (AddItems), and
// Replay counts every entry it replays, found or put. That is exact at
// any instant the writer died, where a count published beside the table
// is off by one when the kill falls between an entry and its count.
func (f *File) UseLive() bool {
	if f.readOnly {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	l, cp := f.live, f.cp
	if !f.liveFits() {
		return false
	}
	if err := f.table.load(f.mem, l.buckets, l.pages, !f.liveChecked); err != nil {
		// Back to the checkpoint's table, which load proved before.
		f.table.load(f.mem, cp.Buckets, cp.Pages, false)
		f.items = cp.Items
		f.publish()
		return false
	}
	f.items = cp.Items
	f.publish()
	return true
}

// checkGeometry checks a checkpoint's table geometry against the file size.
func checkGeometry(cp Checkpoint, size int64) error {
	if cp.Buckets == 0 || cp.Buckets >= 1<<32 || cp.Pages < cp.Buckets+headerPages || cp.Pages >= 1<<32 || int64(cp.Pages)*BucketSize > size {
		return fmt.Errorf("%w: checkpoint geometry %d buckets, %d pages, file %d bytes", ErrDamaged, cp.Buckets, cp.Pages, size)
	}
	return nil
}

// AddItems adds to the entry count the items of records past the
// checkpoint that recovery does not replay because the writer indexed
// them before it stopped (see UseLive).
func (f *File) AddItems(n uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.items += n
}

// Checkpoint is the checkpoint in force.
func (f *File) Checkpoint() Checkpoint {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.cp
}

// Watermarks reads the header's watermarks.
func (f *File) Watermarks() Watermarks {
	return Watermarks{Extent: f.extent.Load(), Written: f.written.Load(), Synced: f.synced.Load(),
		Checkpoint: f.Checkpoint().Offset, Clean: f.clean.Load() != 0}
}

// SetExtent advances the extent watermark before a record is submitted:
// no record reaches past it. The watermarks are atomic stores, in
// DESIGN.md's order: extent, then written, then synced.
func (f *File) SetExtent(v int64) { f.extent.Store(uint64(v)) }

// SetWritten advances the written watermark once every write below it
// has completed.
func (f *File) SetWritten(v int64) { f.written.Store(uint64(v)) }

// SetSynced advances the synced watermark once the barrier (fdatasync or
// RWF_DSYNC) covering everything below it has completed.
func (f *File) SetSynced(v int64) { f.synced.Store(uint64(v)) }

// SetClean sets or clears the clean flag and msyncs the header page, so a
// cleared flag is durable before the first write of a session.
func (f *File) SetClean(clean bool) error {
	v := uint64(0)
	if clean {
		v = 1
	}
	f.clean.Store(v)
	return f.msync(f.mem[:HeaderSize])
}

// Sync msyncs every page in use.
func (f *File) Sync() error { return f.msync(f.mem[:f.size]) }

func (f *File) msync(b []byte) error {
	if f.readOnly {
		return nil
	}
	if err := unix.Msync(b, unix.MS_SYNC); err != nil {
		return fmt.Errorf("keyfile: msync: %w", err)
	}
	if f.AfterMsync != nil {
		f.AfterMsync(f.mem[:f.size])
	}
	return nil
}

// WriteCheckpoint makes the index durable up to cp.Offset and publishes the
// current geometry, in the order the crash rule needs: msync every page
// (new buckets and entries reach the disk), write the other checkpoint slot,
// msync the header (publish), then clear the stale entries that splits left
// behind (their durability comes with the next msync; until then they are
// harmless). cp's geometry, item count and generation are filled in here.
func (f *File) WriteCheckpoint(cp Checkpoint) error {
	if err := f.Sync(); err != nil {
		return err
	}
	f.mu.Lock()
	cp.Gen = f.cp.Gen + 1 // f.cp changes only here, on this goroutine
	cp.Buckets, cp.Pages, cp.Items = f.buckets, f.pages, f.items
	slot := 1 - f.cpSlot
	cp.encode(f.mem[slotAOff+slot*slotSize:])
	f.mu.Unlock()
	if err := f.msync(f.mem[:HeaderSize]); err != nil {
		return err
	}
	f.mu.Lock()
	f.cp, f.cpSlot = cp, slot
	f.cleanSplit()
	f.mu.Unlock()
	return nil
}

// Close unmaps and closes the file. It does not sync.
func (f *File) Close() error {
	var err error
	if f.mem != nil {
		err = unix.Munmap(f.mem)
		f.mem = nil
	}
	if f.fd >= 0 {
		if e := unix.Close(f.fd); err == nil {
			err = e
		}
		f.fd = -1
	}
	return err
}

// grow extends the file so page p exists, in steps of an eighth of its size
// (at least 64 pages): amortised O(1) growth without remapping. The space
// is allocated (fallocate) before any byte of it is touched through the
// mapping, so a full disk is an error here and never a SIGBUS later; when
// the whole step does not fit, it grows by just what page p needs.
func (f *File) grow(p uint64) error {
	need := int64(p+1) * BucketSize
	if need <= f.size {
		return nil
	}
	if need > reserve {
		return fmt.Errorf("%w: index larger than %d bytes", ErrNoSpace, int64(reserve))
	}
	n := max(need, f.size+max(f.size/8, 64*HeaderSize))
	n = min((n+HeaderSize-1)/HeaderSize*HeaderSize, reserve)
	err := f.allocate(n)
	if errors.Is(err, unix.ENOSPC) {
		err = f.allocate((need + HeaderSize - 1) / HeaderSize * HeaderSize)
	}
	return err
}

// allocate makes the file n bytes long with its blocks allocated.
func (f *File) allocate(n int64) error {
	err := fallocate(f.fd, f.size, n-f.size)
	if errors.Is(err, unix.EOPNOTSUPP) {
		// No fallocate here (some filesystems): write zeros instead, so
		// the blocks exist before the mapping touches them.
		err = zeroFill(f.fd, f.size, n)
	}
	if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) {
		return fmt.Errorf("%w: growing the key file to %d bytes: %w", ErrNoSpace, n, err)
	}
	if err != nil {
		return fmt.Errorf("keyfile: grow to %d: %w", n, err)
	}
	f.size = n
	return nil
}

func zeroFill(fd int, from, to int64) error {
	zero := make([]byte, 64<<10)
	for off := from; off < to; {
		m, err := unix.Pwrite(fd, zero[:min(int64(len(zero)), to-off)], off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		off += int64(m)
	}
	return nil
}

// EnsureRoom grows the file now so that inserting items more entries
// cannot need to grow it: the store's writer calls it before a record's
// data is written, so a full disk fails the record before anything of it
// is acknowledged or mapped. Worst case, every entry needs an overflow
// page, and the splits its entries bring reserve every chunk they open.
func (f *File) EnsureRoom(items int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	buckets := max(uint64(float64(f.items+uint64(items))/(SlotsPerPage*LoadFactor))+1, f.buckets)
	extra := uint64(items) + chunkPages(f.buckets, buckets) + 1
	return f.grow(f.pages + extra)
}

// Mapped returns the bytes of the file in use, as mapped (for tests that
// snapshot the file; only the writer's goroutine may call it).
func (f *File) Mapped() []byte { return f.mem[:f.size] }

// Size is the key file's size in bytes.
func (f *File) Size() int64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.size
}
