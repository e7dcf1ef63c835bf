package keyfile

import (
	"encoding/binary"
	"math/bits"
)

// Hash is the salted 64-bit hash of a key. Keys are usually hashes already,
// but the salt (random per store) keeps the table safe from chosen keys.
func Hash(salt uint64, key []byte) uint64 {
	const m1, m2 = 0xa0761d6478bd642f, 0xe7037ed1a0b428db
	h := salt ^ uint64(len(key))*m1
	for len(key) >= 8 {
		hi, lo := bits.Mul64(h^binary.LittleEndian.Uint64(key), m2)
		h = hi ^ lo
		key = key[8:]
	}
	if len(key) > 0 {
		var tail [8]byte
		copy(tail[:], key)
		hi, lo := bits.Mul64(h^binary.LittleEndian.Uint64(tail[:]), m1)
		h = hi ^ lo
	}
	// splitmix64 finaliser: every output bit depends on every input bit.
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// bucketOf addresses hash h in a table of buckets buckets (linear hashing).
func bucketOf(h uint64, buckets uint64) uint64 {
	n := uint64(1) << (63 - bits.LeadingZeros64(buckets))
	b := h & (2*n - 1)
	if b >= buckets {
		b = h & (n - 1)
	}
	return b
}
