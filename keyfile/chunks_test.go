package keyfile

import (
	"math/rand/v2"
	"testing"
)

// Every bucket below 2^32 has exactly one place: chunkOf and chunkFirst
// agree, a position lies inside its chunk, chunks follow one another
// without gaps (the ids in bucket order, each chunk starting where the one
// before ended), and the last bucket's chunk is within the table.
func TestChunkAddressing(t *testing.T) {
	check := func(b uint64) {
		id, pos := chunkOf(b)
		if id < 0 || id >= maxChunks || pos >= chunkBuckets(id) || chunkFirst(id)+pos != b {
			t.Fatalf("bucket %d: chunk %d (first %d, %d buckets), position %d", b, id, chunkFirst(id), chunkBuckets(id), pos)
		}
	}
	for b := uint64(0); b < 1<<16; b++ {
		check(b)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 100000; i++ {
		check(r.Uint64N(1 << 32))
	}
	for k := 1; k <= 32; k++ {
		check(1<<k - 1)
		check(1 << (k - 1))
	}
	for id := 1; id < maxChunks; id++ {
		if chunkFirst(id) != chunkFirst(id-1)+chunkBuckets(id-1) {
			t.Fatalf("chunk %d starts at bucket %d, chunk %d ends at %d", id, chunkFirst(id), id-1, chunkFirst(id-1)+chunkBuckets(id-1))
		}
	}
	if last := maxChunks - 1; chunkFirst(last)+chunkBuckets(last) != 1<<32 {
		t.Fatalf("the last chunk ends at bucket %d, not 2^32", chunkFirst(last)+chunkBuckets(last))
	}
	// chunkPages counts the chunks whose first bucket is made.
	for _, c := range [][3]uint64{{0, 1, 1}, {1, 16, 15}, {16, 18, 2}, {17, 18, 0}, {16, 32, 16}, {100, 100, 0}} {
		if got := chunkPages(c[0], c[1]); got != c[2] {
			t.Fatalf("chunkPages(%d, %d) = %d, want %d", c[0], c[1], got, c[2])
		}
	}
}
