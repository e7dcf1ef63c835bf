package keyfile

import (
	"encoding/binary"
	"fmt"
	"iter"
	"math/bits"
	"runtime/debug"
	"sync/atomic"

	"github.com/nudbgo/nudb/internal/prefetch"
)

// Bucket page layout. A bucket page is one 512-byte sector: a lookup reads
// at most a few cache lines of it, and the page header and every slot sit
// inside the sector the crash rule reasons about.
const (
	// BucketSize is the size of a bucket or overflow page.
	BucketSize   = 512
	headerPages  = HeaderSize / BucketSize // the header occupies the first 4096 bytes
	kindBucket   = 1
	kindOverflow = 2
	// A page: a 16-byte header, then slots. These offsets are part of the
	// on-disk format.
	pageKindOff   = 0  // u32 kindBucket or kindOverflow
	pageBucketOff = 4  // u32 the bucket a bucket page holds
	pageNextOff   = 8  // u32 the next overflow page of the chain (0: none)
	pageReserved  = 12 // u32 reserved, zero
	// Then one tag byte per slot (tagOf the slot's hash; zero: the slot is
	// empty), so a lookup compares the tags in the page's first cache line
	// and reads a slot only where its tag matches: a miss touches one line
	// of the page instead of all eight, a hit two.
	pageTagsOff = 16
	pageTags    = 32 // SlotsPerPage tags, then zeros
	pageHeader  = pageTagsOff + pageTags
	// A slot: the key's salted hash, then the packed offset/size word
	// (zero: the slot is empty).
	slotHashOff = 0 // u64
	slotWordOff = 8 // u64 item offset << 16 | value-size hint
	slotBytes   = 16
	// SlotsPerPage is the number of entries a bucket page holds.
	SlotsPerPage = (BucketSize - pageHeader) / slotBytes
	// LoadFactor is the fill of bucket pages the table grows to keep.
	LoadFactor = 0.5
	// SizeUnknown marks a value too long for the 16-bit size hint of a slot.
	SizeUnknown = 0xFFFF
)

var le = binary.LittleEndian

// table is the in-memory view of the hash table in the mapping.
type table struct {
	mem     []byte
	buckets uint64
	pages   uint64
	items   uint64   // live entries (not stale)
	stale   uint64   // entries left behind by splits, not yet cleared
	split   []uint32 // buckets split since the last checkpoint
	// chunks holds the page of each chunk's first bucket, for the chunks
	// of buckets below the bucket count (see chunks.go).
	chunks [maxChunks]uint32

	// The live-table word in the header (nil when read only): the
	// geometry published as the table changes.
	geomWord   *atomic.Uint64
	pubBuckets uint64 // the bucket count published: a split's only once its copy is done
}

// publish stores the live-table word: the table is consistent under the
// current geometry. Called with the lock held (or before any reader),
// whenever the page or published bucket count changes; an insert that
// fills a slot changes neither, and stores nothing.
func (t *table) publish() {
	if t.geomWord != nil {
		t.geomWord.Store(t.pubBuckets<<32 | t.pages)
	}
}

func initPage(p []byte, kind uint32, bucket uint32) {
	clear(p[:BucketSize])
	le.PutUint32(p[pageKindOff:], kind)
	le.PutUint32(p[pageBucketOff:], bucket)
}

// bucketPage is the page bucket b lives on.
func (t *table) bucketPage(b uint64) uint32 {
	id, pos := chunkOf(b)
	return t.chunks[id] + uint32(pos)
}

func (t *table) page(p uint32) []byte {
	o := uint64(p) * BucketSize
	return t.mem[o : o+BucketSize : o+BucketSize]
}

func (t *table) kind(p uint32) uint32 { return le.Uint32(t.page(p)[pageKindOff:]) }

// next is the overflow page after p; links past the page count (pages
// allocated after the checkpoint in force) read as the end of the chain.
func (t *table) next(p uint32) uint32 {
	q := le.Uint32(t.page(p)[pageNextOff:])
	if uint64(q) >= t.pages {
		return 0
	}
	return q
}

func slotOff(i int) int { return pageHeader + i*slotBytes }

// tagOf is the tag byte of hash h: its top byte (buckets are addressed by
// the low bits), never zero, which marks an empty slot.
func tagOf(h uint64) byte { return max(byte(h>>56), 1) }

// setSlot writes slot i of page pg: the hash, then the word, then the tag,
// so a reader in another process that sees the tag finds the slot whole
// (and one that does not, a miss; see OpenFollower). A zero word clears it,
// tag first.
func setSlot(pg []byte, i int, h, w uint64) {
	o := slotOff(i)
	if w == 0 {
		pg[pageTagsOff+i] = 0
		le.PutUint64(pg[o+slotWordOff:], 0)
		le.PutUint64(pg[o+slotHashOff:], 0)
		return
	}
	le.PutUint64(pg[o+slotHashOff:], h)
	le.PutUint64(pg[o+slotWordOff:], w)
	pg[pageTagsOff+i] = tagOf(h)
}

// prefetchSlots asks for the page's slot lines, so the line a tag match
// sends the lookup to is on its way while the tag line is: a hit then waits
// for one miss in the page instead of two in a row (BenchmarkFetchFunc/1 at
// 1M items, same run: 530 ns against 620). A prefetch is not a load: a
// miss does not wait for those lines.
func prefetchSlots(pg []byte) {
	prefetch.Lines(pg[64:])
}

// tagMatches yields the slots below n of page pg whose tag is tag, eight
// tags compared at a time.
func tagMatches(pg []byte, n int, tag byte) iter.Seq[int] {
	return func(yield func(int) bool) {
		want := uint64(tag) * 0x0101010101010101
		for base := 0; base < n; base += 8 {
			m := zeroBytes(le.Uint64(pg[pageTagsOff+base:]) ^ want)
			for ; m != 0; m &= m - 1 {
				i := base + bits.TrailingZeros64(m)/8
				if i >= n || !yield(i) {
					return
				}
			}
		}
	}
}

// zeroBytes has the top bit of each byte set where x's byte is zero, and
// no other bit: exact, since no borrow crosses bytes (the usual
// (x-ones)&^x&highs can flag a 0x01 byte above a zero one).
func zeroBytes(x uint64) uint64 {
	const low7 = 0x7f7f7f7f7f7f7f7f
	return ^((x&low7 + low7) | x | low7)
}

// freeSlot is the first slot of page pg whose tag is zero (an empty slot),
// or -1 when the page is full: eight tags at a time, from the line the
// duplicate check before an insert has just read.
func freeSlot(pg []byte) int {
	for base := 0; base < SlotsPerPage; base += 8 {
		if m := zeroBytes(le.Uint64(pg[pageTagsOff+base:])); m != 0 {
			if i := base + bits.TrailingZeros64(m)/8; i < SlotsPerPage {
				return i
			}
			return -1 // only the tag bytes past the last slot are zero
		}
	}
	return -1
}

// usedSlots yields the slots of page pg whose tag is set.
func usedSlots(pg []byte) iter.Seq[int] {
	return func(yield func(int) bool) {
		for i, tag := range pg[pageTagsOff : pageTagsOff+SlotsPerPage] {
			if tag != 0 && !yield(i) {
				return
			}
		}
	}
}

// slotOf returns the hash and the word of slot i of page pg.
func slotOf(pg []byte, i int) (uint64, uint64) {
	o := slotOff(i)
	return le.Uint64(pg[o+slotHashOff:]), le.Uint64(pg[o+slotWordOff:])
}

func packWord(off int64, size int) uint64 {
	if size >= SizeUnknown {
		size = SizeUnknown
	}
	return uint64(off)<<16 | uint64(size)
}

func unpackWord(w uint64) (int64, int) { return int64(w >> 16), int(w & 0xFFFF) }

// MaxOffset is the largest data-file offset an entry can hold (2^48-1).
const MaxOffset = 1<<48 - 1

// load takes the table at the given geometry from the mapping: the chunk
// table from the header, checked to name pages below the page count in the
// order chunks are made. With check, it also reads every bucket page and
// overflow chain and proves them well formed (each bucket page names its
// bucket, no chain revisits a page or enters a bucket page); without it
// (the caller checked a table this one is a part of: see File.load and
// UseLive) it reads nothing past the header, and a chain walk stays
// bounded whatever the pages hold.
func (t *table) load(mem []byte, buckets, pages uint64, check bool) error {
	t.mem, t.buckets, t.pages, t.pubBuckets = mem, buckets, pages, buckets
	t.items, t.stale = 0, 0
	t.split = t.split[:0]
	clear(t.chunks[:])
	if buckets == 0 || buckets >= 1<<32 {
		return fmt.Errorf("%w: %d buckets", ErrDamaged, buckets)
	}
	last, _ := chunkOf(buckets - 1)
	if err := readChunks(mem, &t.chunks, 0, last, pages); err != nil {
		return err
	}
	if !check {
		return nil
	}
	seen := make([]bool, pages)
	for b := uint64(0); b < buckets; b++ {
		p := t.bucketPage(b)
		if t.kind(p) != kindBucket || uint64(le.Uint32(t.page(p)[pageBucketOff:])) != b {
			return fmt.Errorf("%w: page %d of bucket %d has kind %d, bucket %d", ErrDamaged, p, b,
				t.kind(p), le.Uint32(t.page(p)[pageBucketOff:]))
		}
		for q := range t.chain(p) {
			if seen[q] || (q != p && t.kind(q) != kindOverflow) {
				return fmt.Errorf("%w: overflow chain of bucket %d revisits page %d", ErrDamaged, b, q)
			}
			seen[q] = true
		}
	}
	return nil
}

// chain yields the pages of the overflow chain that starts at page p (a
// bucket's page): the one walk of a chain every reader and writer uses. It
// never yields more pages than the table has, so a cycle (damage that
// only a checked load would have refused) cannot hang it.
func (t *table) chain(p uint32) iter.Seq[uint32] {
	return func(yield func(uint32) bool) {
		n := t.pages
		for q := p; q != 0 && n > 0; q, n = t.next(q), n-1 {
			if !yield(q) {
				return
			}
		}
	}
}

// home is the bucket hash h lives in under the current geometry.
func (t *table) home(h uint64) uint64 { return bucketOf(h, t.buckets) }

// sweep visits every slot of every chain once: it clears the entries drop
// selects (counting them), and recomputes the counts of live and stale
// entries. With drop nil (a read-only open) it writes nothing. It is the
// pass over every slot that an open after a power loss pays (load's check
// reads only each page's first line).
func (t *table) sweep(drop func(b uint64, h, w uint64) bool) (cleared int) {
	t.items, t.stale = 0, 0
	for b := uint64(0); b < t.buckets; b++ {
		for q := range t.chain(t.bucketPage(b)) {
			pg := t.page(q)
			for i := 0; i < SlotsPerPage; i++ {
				h, w := slotOf(pg, i)
				if w != 0 && drop != nil && drop(b, h, w) {
					setSlot(pg, i, 0, 0)
					cleared++
					w = 0
				}
				// Tag and slot disagree only if something other than setSlot
				// wrote the page, or a writer in another process is halfway
				// through setSlot: a sweep that may write (Repair) makes them
				// agree; a read-only one (drop == nil: the mapping may not be
				// writable, and the writer is still at work) leaves them.
				if w == 0 {
					if drop != nil && pg[pageTagsOff+i] != 0 {
						pg[pageTagsOff+i] = 0 // a tag without its slot
					}
					continue
				}
				if drop != nil && pg[pageTagsOff+i] != tagOf(h) {
					pg[pageTagsOff+i] = tagOf(h) // a slot without its tag
				}
				if t.home(h) == b {
					t.items++
				} else {
					t.stale++
				}
			}
		}
	}
	return cleared
}

// Candidate is an index entry whose hash matches a lookup.
type Candidate struct {
	Offset int64 // data-file offset of the item
	Size   int   // value length, or SizeUnknown when it is 65535 or more
}

// Lookup appends the entries whose full 64-bit hash equals h. The caller
// reads each candidate item and compares keys. No I/O happens under the lock.
func (f *File) Lookup(h uint64, dst []Candidate) []Candidate {
	return f.lookup(h, dst, true)
}

// Probe is Lookup for a key that is most likely absent, such as the
// duplicate check before an insert: it does not prefetch the lines of the
// slots in use (see prefetchSlots), which a miss never reads. During a bulk
// load those prefetches are most of what a duplicate check costs beyond its
// one tag line.
func (f *File) Probe(h uint64, dst []Candidate) []Candidate {
	return f.lookup(h, dst, false)
}

func (f *File) lookup(h uint64, dst []Candidate, warm bool) []Candidate {
	if f.followGeom != nil {
		return f.lookupFollowing(h, dst, warm)
	}
	l := f.mu.rlockFor(h)
	dst = f.lookupLocked(h, dst, warm)
	l.RUnlock()
	return dst
}

// lookupFollowing is a follower's lookup: the table first follows the
// writer's geometry, and a fault (the file cut short under the follower by
// a rebuild) ends the lookup instead of the reader's program.
func (f *File) lookupFollowing(h uint64, dst []Candidate, warm bool) (out []Candidate) {
	f.follow()
	l := f.mu.rlockFor(h)
	defer l.RUnlock()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	out = dst
	defer func() {
		if recover() != nil {
			out = dst
		}
	}()
	return f.lookupLocked(h, dst, warm)
}

// lookupLocked collects the candidates of h; the caller holds h's lock.
// warm: prefetch the slot lines (a hit is expected).
func (f *File) lookupLocked(h uint64, dst []Candidate, warm bool) []Candidate {
	for p := range f.chain(f.bucketPage(f.home(h))) {
		pg := f.page(p)
		// Every tag is compared: they sit in one line, so a page's fill
		// would be one more thing to read, and a dependent miss in a table
		// too large for the caches.
		if warm {
			prefetchSlots(pg)
		}
		for i := range tagMatches(pg, SlotsPerPage, tagOf(h)) {
			if sh, w := slotOf(pg, i); sh == h && w != 0 {
				off, size := unpackWord(w)
				dst = append(dst, Candidate{off, size})
			}
		}
	}
	return dst
}

// Insert adds an entry for an item at off with a value of size bytes. Only
// the writer calls it. It fills an empty slot (or a new overflow page) and
// then splits buckets while the table is above its load factor.
func (f *File) Insert(h uint64, off int64, size int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.insertLocked(h, off, size)
}

// insertBatch is how many entries InsertMany adds under one lock: enough to
// amortise the lock, few enough that readers wait microseconds at most.
const insertBatch = 64

// InsertMany adds n entries, entry(i) giving each, taking the lock once per
// few dozen entries instead of once per entry.
func (f *File) InsertMany(n int, entry func(i int) (h uint64, off int64, size int)) error {
	return f.inBatches(n, entry, f.insertLocked)
}

// inBatches calls add for each of n entries with the lock held, taking it
// once per insertBatch entries. Before each entry it has asked for the
// home pages of the entries up to PrefetchAhead places on (see
// PrefetchHomes), each once.
func (f *File) inBatches(n int, entry func(i int) (h uint64, off int64, size int), add func(h uint64, off int64, size int) error) error {
	asked := 0 // the entries below have had their home page asked for
	for i := 0; i < n; {
		f.mu.Lock()
		for end := min(i+insertBatch, n); i < end; i++ {
			for ; asked < min(i+PrefetchAhead, n); asked++ {
				h, _, _ := entry(asked)
				f.prefetchHome(h)
			}
			if err := add(entry(i)); err != nil {
				f.mu.Unlock()
				return err
			}
		}
		f.mu.Unlock()
	}
	return nil
}

// PrefetchAhead is how many entries ahead a run of inserts or lookups asks
// for home pages: enough misses in flight to hide most of a miss's
// latency behind the work on the entries before it, few enough that the
// processor's miss buffers do not overflow.
const PrefetchAhead = 16

// PrefetchHomes asks the processor for the first line (the page header
// and the tags, all a probe for an absent key reads) of the home bucket
// page of each of n hashes. A run of lookups over unrelated buckets, such
// as InsertBatch's duplicate checks, then waits for its misses together
// instead of one after another. It is a hint: it reads no page and changes
// nothing, and a split that moves a bucket afterwards costs only the
// prefetch. It does nothing on a follower, whose geometry it would have to
// follow first.
func (f *File) PrefetchHomes(n int, hash func(i int) uint64) {
	if f.followGeom != nil || n == 0 {
		return
	}
	f.mu.RLock()
	for i := 0; i < n; i++ {
		f.prefetchHome(hash(i))
	}
	f.mu.RUnlock()
}

// prefetchHome asks for the first line of h's home page; the lock is held.
func (f *File) prefetchHome(h uint64) {
	prefetch.Line(f.page(f.bucketPage(f.home(h))))
}

// Replay re-inserts, after an unclean stop, the entries of the log past the
// checkpoint: an entry already in its bucket (it reached the disk before
// the stop) is left as it is, so a process crash costs no page writes, and
// the table does not split, so the checkpointed geometry stays in force
// until Repair has swept it (the writer's next insert splits as needed).
// CutLinks must have run first. Only recovery calls it.
func (f *File) Replay(n int, entry func(i int) (h uint64, off int64, size int)) error {
	return f.inBatches(n, entry, f.replayLocked)
}

func (f *File) replayLocked(h uint64, off int64, size int) error {
	w := packWord(off, size)
	b := uint32(f.home(h))
	// The count holds the entries below where the replay starts (see
	// UseLive); this entry is counted whether it is found or put.
	f.items++
	if f.holds(b, h, w) {
		return nil
	}
	return f.put(b, h, w)
}

// holds reports whether bucket b's chain has the entry (h, w).
func (f *File) holds(b uint32, h, w uint64) bool {
	for p := range f.chain(f.bucketPage(uint64(b))) {
		pg := f.page(p)
		for i := range tagMatches(pg, SlotsPerPage, tagOf(h)) {
			if sh, sw := slotOf(pg, i); sh == h && sw == w {
				return true
			}
		}
	}
	return false
}

// CutLinks clears every overflow link into a page the checkpoint does not
// know (allocated after it, before a stop), so pages allocated from now on
// can never be reached through a stale link. It reads every page header and
// writes only where it cuts.
func (f *File) CutLinks() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cutLinksLocked()
}

func (f *File) cutLinksLocked() int {
	n := 0
	for p := uint32(headerPages); uint64(p) < f.pages; p++ {
		if q := le.Uint32(f.page(p)[pageNextOff:]); q != 0 && uint64(q) >= f.pages {
			le.PutUint32(f.page(p)[pageNextOff:], 0)
			n++
		}
	}
	return n
}

func (f *File) insertLocked(h uint64, off int64, size int) error {
	if err := f.put(uint32(f.home(h)), h, packWord(off, size)); err != nil {
		return err
	}
	f.items++
	for float64(f.items) > float64(f.buckets)*SlotsPerPage*LoadFactor {
		if err := f.splitOne(); err != nil {
			return err
		}
	}
	return nil
}

// Reserve grows the table now to the size items entries need, so a bulk
// index (a rebuild) inserts into a table of its final size instead of
// splitting as it goes.
func (f *File) Reserve(items uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for float64(items) > float64(f.buckets)*SlotsPerPage*LoadFactor {
		if err := f.splitOne(); err != nil {
			return err
		}
	}
	return nil
}

// put stores an entry in the first empty slot of bucket b's chain, linking
// a new overflow page to its end when every page is full.
func (f *File) put(b uint32, h, w uint64) error {
	last := uint32(0)
	for p := range f.chain(f.bucketPage(uint64(b))) {
		pg := f.page(p)
		if i := freeSlot(pg); i >= 0 {
			setSlot(pg, i, h, w)
			return nil
		}
		last = p
	}
	q, err := f.allocOverflow()
	if err != nil {
		return err
	}
	setSlot(f.page(q), 0, h, w)
	le.PutUint32(f.page(last)[pageNextOff:], q)
	return nil
}

// allocOverflow appends a zeroed overflow page.
func (f *File) allocOverflow() (uint32, error) {
	p, err := f.reservePages(1)
	if err != nil {
		return 0, err
	}
	// The page may hold garbage from pages forgotten by recovery.
	initPage(f.page(p), kindOverflow, 0)
	f.publish()
	return p, nil
}

// reservePages appends n pages to the table (growing the file first) and
// returns the first; the caller initialises them and publishes.
func (f *File) reservePages(n uint64) (uint32, error) {
	p := f.pages
	if p+n >= 1<<32-1 {
		return 0, fmt.Errorf("%w: page limit reached", ErrNoSpace)
	}
	if err := f.grow(p + n - 1); err != nil {
		return 0, err
	}
	f.pages += n
	return uint32(p), nil
}

// splitOne adds bucket B and copies into it the entries of bucket B-n that
// now address it. The originals stay until the next checkpoint (see the
// package doc). The first bucket of a chunk reserves the chunk's pages and
// records where they start, in memory and in the header's chunk table,
// before the bucket is published.
func (f *File) splitOne() error {
	nb := f.buckets
	if nb >= 1<<32-1 {
		return fmt.Errorf("%w: bucket limit reached", ErrNoSpace)
	}
	n := uint64(1) << (63 - bits.LeadingZeros64(nb))
	s := uint32(nb - n)
	if id, pos := chunkOf(nb); pos == 0 {
		p, err := f.reservePages(chunkBuckets(id))
		if err != nil {
			return err
		}
		f.chunks[id] = p
		setChunkEntry(f.mem, id, p)
	}
	p := f.bucketPage(nb)
	// The page may hold garbage: a split a crash cut short, pages
	// forgotten by recovery.
	initPage(f.page(p), kindBucket, uint32(nb))
	f.buckets++
	f.publish() // the pages, not the bucket: pubBuckets has not moved
	for q := range f.chain(f.bucketPage(uint64(s))) {
		pg := f.page(q)
		for i := range usedSlots(pg) {
			h, w := slotOf(pg, i)
			if w != 0 && f.home(h) == nb {
				if err := f.put(uint32(nb), h, w); err != nil {
					return err
				}
				f.stale++
			}
		}
	}
	f.split = append(f.split, s)
	f.pubBuckets = f.buckets // the new bucket holds all its entries now
	f.publish()
	return nil
}

// cleanSplit clears the stale originals in buckets split since the last
// checkpoint. Called with mu held, after the new geometry is durable.
func (f *File) cleanSplit() {
	for _, s := range f.split {
		n := f.clearWhere(s, func(h, w uint64) bool { return f.home(h) != uint64(s) })
		// Stale copies left by a session before a clean open were never
		// counted (that open does not sweep): the count cannot go below 0.
		f.stale -= min(f.stale, uint64(n))
	}
	f.split = f.split[:0]
}

// clearWhere zeroes the entries of bucket b's chain for which drop is true,
// and returns how many it cleared.
func (f *File) clearWhere(b uint32, drop func(h, w uint64) bool) int {
	n := 0
	for q := range f.chain(f.bucketPage(uint64(b))) {
		pg := f.page(q)
		for i := range usedSlots(pg) {
			h, w := slotOf(pg, i)
			if w == 0 || !drop(h, w) {
				continue
			}
			setSlot(pg, i, 0, 0)
			n++
		}
	}
	return n
}

// RepairReport says what Repair changed.
type RepairReport struct {
	Dropped      int // entries at or past the cut
	BeyondExtent int // of those, entries past the extent watermark (damage)
	Stale        int // stale split copies cleared
	CutLinks     int // overflow links into forgotten pages
	Items        uint64
}

// Repair makes the table loaded at the checkpointed geometry consistent,
// in one pass over every slot: it cuts overflow links into pages allocated
// after the checkpoint, clears every entry whose item lies at or past cut
// (or before logStart) and every stale split copy, and measures the pages
// for lookups and inserts. Open runs it every time (after a clean close it
// proves that no entry points past the end of the log); after an unclean
// stop the caller then re-indexes the log from cut and writes a checkpoint.
func (f *File) Repair(cut, extent, logStart int64) RepairReport {
	f.mu.Lock()
	defer f.mu.Unlock()
	var r RepairReport
	r.CutLinks = f.cutLinksLocked()
	f.sweep(func(b, h, w uint64) bool {
		off, _ := unpackWord(w)
		switch {
		case f.home(h) != b:
			r.Stale++
			return true
		case off >= cut || off < logStart:
			r.Dropped++
			if off >= extent || off < logStart {
				r.BeyondExtent++
			}
			return true
		}
		return false
	})
	f.split = f.split[:0]
	r.Items = f.items
	f.publish()
	return r
}

// Entry is one live index entry, as Scan reports it.
type Entry struct {
	Bucket uint64
	Hash   uint64
	Offset int64
	Size   int
}

// Scan calls fn for every live entry (stale split copies are skipped), in
// bucket order, under the read lock. fn must not call back into f.
func (f *File) Scan(fn func(e Entry) error) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for b := uint64(0); b < f.buckets; b++ {
		for q := range f.chain(f.bucketPage(b)) {
			pg := f.page(q)
			for i := range usedSlots(pg) {
				h, w := slotOf(pg, i)
				if w == 0 || f.home(h) != b {
					continue
				}
				off, size := unpackWord(w)
				if err := fn(Entry{b, h, off, size}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// TableStats describes the table.
type TableStats struct {
	Items, Stale, Buckets, Pages uint64
	LoadFactor                   float64 // live entries ÷ bucket-page slots
}

// Stats reports the table's size and fill.
func (f *File) Stats() TableStats {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return TableStats{Items: f.items, Stale: f.stale, Buckets: f.buckets, Pages: f.pages,
		LoadFactor: float64(f.items) / float64(f.buckets*SlotsPerPage)}
}

// PendingSplits is the number of splits since the last checkpoint: the
// stale copies a checkpoint would clear.
func (f *File) PendingSplits() int {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return len(f.split)
}
