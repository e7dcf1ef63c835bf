// Package rotate keeps a set of nudb stores ("generations") in one
// directory and gives disk space back by rotation: the answer NuDB's
// largest user (rippled's online delete) built outside the store, built in
// and crash-safe.
//
// # Layout
//
//	dir/MANIFEST           the generations, oldest first, and the next id (text, CRC-32C)
//	dir/gen-00000007.data  a generation's nudb data file
//	dir/gen-00000007.key   its key file
//	dir/TOMBSTONES         deleted keys (append-only, fixed-size entries with CRC-32C)
//	dir/LOCK               flock: one process opens the set
//	dir/RESERVE            256 KiB kept free for the manifest on a full disk
//
// Inserts go to the newest generation. Fetch, Exists and ValueSize look
// from the newest to the oldest; an absent key costs one index lookup per
// generation (nudb's Exists reads one bucket page and no data), so with
// the default two generations a miss is two O(1) lookups.
//
// # Rotation
//
// Rotate(ctx, keep) opens a new generation and retires the oldest until
// Options.Generations remain. Each retired generation's log is walked; an
// item is copied forward into the new generation when keep says it is
// live, it is not deleted and no newer generation holds it. Then the
// retired files are removed. With Generations = 2 the disk holds at most
// the live items plus what was written in the last two rotation periods;
// with 1, the live items plus one period (and every rotation copies every
// live item).
//
// The copy-forward shares the new generation's writer with foreground
// inserts. It inserts batches of CopyBatchBytes and sleeps after each so it
// takes at most CopyShare of the wall time (default a quarter).
//
// # Crash safety
//
// The manifest is the only record of which generations exist. It is
// replaced atomically (temporary file, fsync, rename, fsync of the
// directory), and the steps of a rotation are ordered so every manifest
// that can be on disk names files that exist and that together hold every
// live acknowledged item:
//
//  1. create the new generation's files, fsync the directory;
//  2. write the manifest naming old and new generations (inserts now go
//     to the new one, and are acknowledged by its own durability mode);
//  3. copy forward; Sync the new generation, so the copies are durable;
//  4. write the manifest without the retired generations;
//  5. remove their files, fsync the directory; compact the tombstones.
//
// A rotation that fails before step 4 (a full disk, a cancelled context)
// leaves the retired generations in place and removes its new generation
// if nothing but its own copies were written to it, giving back the space
// they took; on a full disk the RESERVE file is given up so the manifest
// that drops it can be written. A rotation needs room for a new
// generation's first growth step (16 MiB) and for the items it copies:
// rotate before the disk fills, or keep less.
//
// A crash before 2 leaves files no manifest names; a crash after 4 leaves
// retired files no manifest names: Open deletes both. A crash between 2
// and 4 leaves every generation in place; the next Rotate retires them
// again. Ids are never reused, so a leftover file is never taken for a
// live one. The kill tests end a writer at each of these steps and at
// random moments, and check every acknowledged live item after reopen;
// a power loss, which the page cache hides from kill tests, is checked by
// replaying a traced workload's durability steps (trace.go) with every
// subset of the unsynced directory changes.
//
// # Deletes
//
// Delete records a tombstone (synced before it returns under SyncAlways)
// that hides the key at once and that the next rotation retiring the
// generations holding the key honours by not copying it. A Put after a
// Delete writes the item again to the newest generation, makes it durable
// (its own Insert under SyncAlways, a Sync otherwise) and then records a
// revival, so the later Put wins across restarts and power loss; a crash
// between the two leaves the item hidden, never acknowledged. Tombstones
// stay in memory (a map of keys) until no generation holds their key;
// compaction after each rotation drops the others.
//
// Items are immutable per generation, as in nudb. When the newest
// generation still holds a deleted key with another value than the one
// put, the set forks: it installs a new, empty generation for the Put (no
// copying; the next rotation retires the extra generations), up to
// Options.MaxGenerations, past which the Put rotates first. For
// content-addressed data, where a key is its value's hash, the value is
// the same and nothing forks.
//
// # Inserts during a rotation
//
// A generation being retired does not count as holding a key for Insert:
// an item inserted during a rotation is written to the newest generation
// even if the retiring one holds it, so what a caller inserts while a
// rotation runs survives whatever keep says: every Insert that begins
// after Rotate was called. (Rotate installs the new generation and the
// retiring marks with the set held exclusively; reads and inserts wait
// for it, Report.Paused, a few milliseconds.) Items inserted before Rotate
// was called are kept only if keep says so: computing the live set and
// rotating is the caller's garbage collection, as pinning is in IPFS.
package rotate
