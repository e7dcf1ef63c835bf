package keyfile

import (
	"fmt"
	"math/bits"
)

// Where a bucket's page is. Bucket pages are reserved in chunks: buckets
// 0..15 one chunk each, then every power-of-two range of buckets
// [2^(k-1), 2^k) in eight chunks of 2^(k-4) buckets. A chunk's pages are
// reserved together, at the end of the table, when the split that makes its
// first bucket runs; overflow pages are appended after them. So bucket b's
// page is the start of its chunk plus b's position in it: one add and one
// load from a table of at most maxChunks words that stays in the cache,
// where a directory of every bucket's page (format 2) was a dependent cache
// miss of its own once the table outgrew the caches. Eight chunks a range
// keep a reservation to an eighth of the bucket pages, the step the file
// grows by anyway.
//
// The header keeps the chunk table: a u32 per chunk, the page of its first
// bucket, written before any bucket of the chunk is published (and so
// msync'd before any checkpoint whose geometry includes one). An entry of a
// chunk past the bucket count is meaningless: a split that reaches the
// chunk writes it again.
const (
	chunkTableOff = 512 // from the header's second sector: maxChunks u32 entries (960 bytes)
	smallBuckets  = 16  // buckets below this are chunks of one bucket each
	// maxChunks covers every bucket below 2^32: the last range (k = 32)
	// ends at chunk 8·(32-3)+7.
	maxChunks = 8*(32-3) + 8
)

// chunkOf returns the chunk bucket b lives in and b's position in it.
func chunkOf(b uint64) (id int, pos uint64) {
	if b < smallBuckets {
		return int(b), 0
	}
	sh := bits.Len64(b) - 4 // chunks of 2^sh buckets
	return 8*(sh+1) + int(b>>sh&7), b & (1<<sh - 1)
}

// chunkBuckets is how many buckets (and bucket pages) chunk id holds.
func chunkBuckets(id int) uint64 {
	if id < smallBuckets {
		return 1
	}
	return 1 << (id/8 - 1)
}

// chunkFirst is the first bucket of chunk id.
func chunkFirst(id int) uint64 {
	if id < smallBuckets {
		return uint64(id)
	}
	return uint64(8+id%8) << (id/8 - 1)
}

// chunkEntry is the chunk table's entry for chunk id in the header hdr.
func chunkEntry(hdr []byte, id int) uint64 {
	return uint64(le.Uint32(hdr[chunkTableOff+4*id:]))
}

// setChunkEntry records that chunk id starts at page p.
func setChunkEntry(hdr []byte, id int, p uint32) {
	le.PutUint32(hdr[chunkTableOff+4*id:], p)
}

// readChunks copies the header's entries of chunks from..to into chunks,
// checking each names pages inside the table (below pages) and after the
// chunk before it, as the writer makes them; entries below from are taken
// as they are in chunks.
func readChunks(hdr []byte, chunks *[maxChunks]uint32, from, to int, pages uint64) error {
	next := uint64(headerPages)
	if from > 0 {
		next = uint64(chunks[from-1]) + chunkBuckets(from-1)
	}
	for id := from; id <= to; id++ {
		p := chunkEntry(hdr, id)
		if p < next || p+chunkBuckets(id) > pages {
			return fmt.Errorf("%w: chunk %d at page %d (pages %d)", ErrDamaged, id, p, pages)
		}
		chunks[id] = uint32(p)
		next = p + chunkBuckets(id)
	}
	return nil
}

// chunkPages is how many pages the chunks opened by making buckets
// [from, to) reserve.
func chunkPages(from, to uint64) uint64 {
	n := uint64(0)
	for b := from; b < to; {
		id, pos := chunkOf(b)
		if pos == 0 {
			n += chunkBuckets(id)
		}
		b += chunkBuckets(id) - pos
	}
	return n
}
