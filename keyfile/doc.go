// Package keyfile is nudb's index: a memory-mapped file holding a
// linear-hashing hash table of 512-byte bucket pages, after a 4096-byte
// header with the store's watermarks. It is a cache of the data file:
// deleting it loses nothing, because it can always be rebuilt from the log.
//
// # Why 512-byte buckets (DESIGN.md suggests 4096)
//
// A lookup scans its bucket's slots. With 4096-byte pages (255 slots, half
// full) that is ~127 slots and 64 cache lines per lookup; a 512-byte bucket
// (29 slots) is one sector and a few cache lines (BenchmarkInsertBatch
// went from 2.2 to 1.8 µs per item here, most of it the lookup that checks
// for a duplicate). A bucket page is also exactly the
// unit the crash rule reasons about (a 512-byte sector is old or new).
//
// # Why tags (format version 2)
//
// Version 1 pages held 31 slots after the page header, and a lookup read
// the hash of every slot in use: up to eight cache lines, each a miss once
// the table outgrows the caches. Version 2 gives two slots' room to a tag
// byte per slot (the hash's top byte, never zero; zero marks an empty
// slot) in the page's first cache line, beside the page header. A lookup
// compares the tags eight at a time and reads a slot only where its tag
// matches: a miss reads one line of the page (FetchFunc of an absent key
// at 1M items: 650 → 234 ns), a hit two — and the lines holding slots in
// use are prefetched while the tag line arrives, so a hit waits for one
// miss in the page, not two in a row. The tags also give a page's fill:
// an insert takes the first zero tag, and no per-page state is kept in
// memory.
//
// # Why a chunk table (format version 3)
//
// A bucket's page must be found without a miss of its own. Version 2 kept
// a directory in memory, bucket → page, rebuilt at open from every page
// header; at 10M items it was 2.7 MB, and its entry was a dependent cache
// miss before the page's. Version 3 reserves bucket pages in chunks (see
// chunks.go): the page of bucket b is its chunk's first page plus b's
// position in the chunk, from a table of at most 240 words in the header
// that stays in the cache. Overflow pages are appended after the chunks.
// The price is file space: a chunk is reserved whole, an eighth of a
// doubling of the buckets at a time, the step the file grows by anyway.
//
// Key files of older versions are not ones this package opens
// (ErrDamaged): a writable Open rebuilds them from the data file.
//
// # Layout
//
// Words: a "page" is always a 512-byte unit of the table (BucketSize), a
// bucket page or an overflow page; the "header" is the first HeaderSize
// (4 KiB) bytes, which the pages follow (the first page is page 8).
//
// The header's first 512-byte sector holds the identity (magic,
// version, key size, store UID, salt, block size, a CRC of those), the
// watermarks extent, written, synced and clean as 8-byte aligned words that
// are only ever written with atomic stores, the boot ID of the last writer
// (see SameBoot), and two checkpoint slots (A/B,
// each with a generation and a CRC; the valid one with the highest
// generation wins, so a checkpoint caught half written by page writeback
// leaves the previous one in force).
//
// From the header's second sector on, 960 bytes hold the chunk table: a
// u32 per chunk of buckets, the page of its first bucket (chunks.go).
//
// The rest of the file is 512-byte bucket pages and overflow pages (one
// sector each, so a lookup touches a few cache lines): a 16-byte page header
// (kind, bucket number, next overflow page), 32 bytes of tags (one per slot,
// then zeros) and 29 slots of 16 bytes (the key's full 64-bit salted hash,
// then the item offset (48 bits) and a 16-bit value-length hint). A slot is
// in use when its tag is not zero; it is written hash, word, tag and
// cleared tag first, so a reader racing the writer sees a whole slot or
// none, and Repair's sweep makes tag and slot agree. Bucket b lives on
// the page the chunk table gives it, whose header names b. Reserved pages
// of buckets not made yet hold zeros or whatever a lost session left:
// nothing reads them until the split that makes their bucket initialises
// them.
//
// Every open checks the structure (each bucket page names its bucket, no
// overflow chain revisits a page or enters a bucket page), reading one
// line of each bucket page: a page damaged on the medium is found at open
// and the store rebuilds the index, where lookups would otherwise miss its
// entries (DESIGN.md asks a clean open to read only the header; this is
// the one departure, for data that stays findable). After a power loss
// (or a process crash whose live table cannot be used) Repair then sweeps
// every slot once: it proves no entry points past the end of the log.
//
// # Linear hashing
//
// With B buckets and n the largest power of two not above B, a key hash h
// lives in bucket h mod 2n, or h mod n when that is not below B. Adding
// bucket B splits bucket B-n. The table grows one bucket at a time as items
// arrive, never with a stop-the-world rehash.
//
// # Crash rule and how it is kept
//
// After a power loss any 512-byte sector written since the last msync may
// hold its old or its new contents. The checkpoint slot records, together
// and after an msync of everything else, the table geometry (bucket and
// page counts) and the data-file offset below which every item is indexed.
// Between checkpoints:
//
//   - Inserts only fill empty slots and only link new, zeroed overflow pages.
//   - A split's bucket page is one no geometry up to now has used (a
//     reserved page of its chunk); the chunk table entry of a new chunk is
//     written before any of its buckets is.
//   - A split copies the moving entries into the new bucket page and leaves
//     the originals where they were. The originals become stale (they no
//     longer live in the bucket their hash addresses, so no lookup finds
//     them) but they keep every entry findable under the geometry of the last
//     checkpoint, which is the one recovery uses.
//   - Stale entries are cleared only after the next checkpoint has
//     published the new geometry (write new, msync, publish, msync, clean).
//
// Recovery opens the table with the checkpointed geometry, forgets pages
// allocated after it, cuts overflow links into them, clears every entry at
// or past the checkpoint offset and every stale entry, and re-indexes the
// log from the checkpoint. Entries below the checkpoint therefore survive
// every sector mix, and entries above it may be lost but never point at the
// wrong item.
//
// # After a process crash: the live table
//
// A power loss leaves any mix of sectors, and only the checkpoint's
// geometry can be trusted. A process crash leaves the page cache exactly as
// the writer had it. For that case the header keeps, as words stored
// atomically, the live geometry (bucket and page counts), published only
// where the table is consistent under it: a page
// once it is initialised, a split's new bucket once every entry it takes
// has been copied into it. UseLive loads that table; a bucket page of a
// split that was not finished is a reserved page again (its entries are
// still in the bucket being split). The store uses it only
// when the key file's boot ID is this boot's (SameBoot). The entry count
// is not published: recovery derives it from the checkpoint's and the
// item counts in the headers of the records it hops over (see UseLive).
//
// # Concurrency
//
// One writer (the store's writer goroutine, or recovery) mutates the table
// under a write lock; any number of readers look up under a read lock that
// is never held across I/O. Watermarks are read and written atomically
// without the lock.
package keyfile
