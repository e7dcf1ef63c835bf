package keyfile

import (
	"sync/atomic"
	"unsafe"
)

// A follower is a read-only File that serves lookups beside a live writer
// in another process. It maps the file read-only and never writes a byte.
// The writer publishes the table's live geometry (bucket and page counts)
// in the header only where the table is consistent under it: a page once
// initialised, a split's new bucket once its entries are copied; it fills
// only empty slots between checkpoints, writing an entry only after its
// record is written, and clears the entries a split moved only after the
// new geometry is published. So the follower, before each lookup:
//
//   - reads the live geometry and, when it grew, the chunk table entries
//     of the new buckets (the writer writes an entry before it publishes a
//     bucket of its chunk, and a bucket's page never moves once made);
//   - reports the geometry it used, so that a miss can be retried when the
//     geometry moved during the lookup (an entry may have moved to the new
//     bucket of a split and been cleared from the old one meanwhile).
//
// A slot read while the writer fills or clears it reads as empty or as a
// hash that does not match: callers compare the full key and the item's
// CRC, so a follower may miss an entry for an instant but never returns
// another's.

// OpenFollower opens the key file at path read-only to follow a writer.
func OpenFollower(path string, id Identity) (*File, error) {
	f, err := Open(path, id, true)
	if err != nil {
		return nil, err
	}
	// See bindWatermarks: an aligned word inside the live mapping.
	f.followGeom = (*atomic.Uint64)(unsafe.Pointer(&f.mem[liveGeomOff]))
	f.follow()
	return f, nil
}

// Geometry is the live geometry word a follower's lookup used (0 for a
// writer's File): a caller that misses retries when it changed.
func (f *File) Geometry() uint64 {
	if f.followGeom == nil {
		return 0
	}
	return f.followGeom.Load()
}

// follow extends the table to the writer's published geometry.
func (f *File) follow() {
	g := f.followGeom.Load()
	buckets, pages := g>>32, g&(1<<32-1)
	if buckets <= f.buckets && pages <= f.pages {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if buckets < f.buckets || pages < f.pages || pages >= 1<<32 || int64(pages)*BucketSize > int64(len(f.mem)) {
		return // not a geometry this follower can take (the file was rebuilt): keep what it has
	}
	// The writer grew the file before it published pages in it, and wrote
	// the chunk table entries before it published the buckets.
	chunks := f.chunks
	from, _ := chunkOf(f.buckets)
	to, _ := chunkOf(buckets - 1)
	if readChunks(f.mem, &chunks, from, to, pages) != nil {
		return // not consistent yet under this word: try again next lookup
	}
	f.chunks = chunks
	f.size = max(f.size, int64(pages)*BucketSize)
	f.buckets, f.pages = buckets, pages
}
