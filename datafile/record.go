package datafile

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"
)

// Record format constants.
const (
	RecordMagic = "nudbREC\x01"
	// HeaderSize is the size of a record header; the payload follows it.
	HeaderSize = 136
	// ItemOverhead is the bytes an item takes besides its key and value.
	ItemOverhead = 8
	// MaxValueSize is the largest value Insert accepts (16 MiB).
	MaxValueSize = 1 << 24
	hashOff      = 104
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Header is a decoded record header.
type Header struct {
	UID        [16]byte
	Offset     int64 // the record's own offset in the data file
	Seq        uint64
	Blocks     uint32 // length of the record in blocks
	PayloadLen uint32
	Items      uint32
	Timestamp  int64 // unix nanoseconds, never decreasing along the log
	PrevOffset int64
	PrevHash   [32]byte
	Hash       [32]byte
}

// End is the offset just past the record.
func (h *Header) End(blockSize int) int64 { return h.Offset + int64(h.Blocks)*int64(blockSize) }

// Encode writes h into b[:HeaderSize].
func (h *Header) Encode(b []byte) {
	le := binary.LittleEndian
	copy(b[0:8], RecordMagic)
	copy(b[8:24], h.UID[:])
	le.PutUint64(b[24:], uint64(h.Offset))
	le.PutUint64(b[32:], h.Seq)
	le.PutUint32(b[40:], h.Blocks)
	le.PutUint32(b[44:], h.PayloadLen)
	le.PutUint32(b[48:], h.Items)
	le.PutUint32(b[52:], 0)
	le.PutUint64(b[56:], uint64(h.Timestamp))
	le.PutUint64(b[64:], uint64(h.PrevOffset))
	copy(b[72:104], h.PrevHash[:])
	copy(b[104:136], h.Hash[:])
}

// DecodeHeader parses a record header without checking its hash. It fails
// (never panics) when b is short or the magic is wrong.
func DecodeHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < HeaderSize || !bytes.Equal(b[:8], []byte(RecordMagic)) {
		return h, fmt.Errorf("%w: no record header", ErrCorrupt)
	}
	le := binary.LittleEndian
	copy(h.UID[:], b[8:24])
	h.Offset = int64(le.Uint64(b[24:]))
	h.Seq = le.Uint64(b[32:])
	h.Blocks = le.Uint32(b[40:])
	h.PayloadLen = le.Uint32(b[44:])
	h.Items = le.Uint32(b[48:])
	h.Timestamp = int64(le.Uint64(b[56:]))
	h.PrevOffset = int64(le.Uint64(b[64:]))
	copy(h.PrevHash[:], b[72:104])
	copy(h.Hash[:], b[104:136])
	return h, nil
}

// Plausible reports whether a decoded header can describe a record of this
// store at off: right UID and self offset, and lengths that fit.
func (h *Header) Plausible(uid [16]byte, off int64, blockSize int) bool {
	if h.UID != uid || h.Offset != off || h.Blocks == 0 {
		return false
	}
	size := int64(h.Blocks) * int64(blockSize)
	return int64(h.PayloadLen)+HeaderSize <= size && size-int64(h.PayloadLen)-HeaderSize < int64(blockSize) &&
		int64(h.Items)*ItemOverhead <= int64(h.PayloadLen)
}

// Hasher computes record hashes without allocating.
type Hasher struct {
	h   hash.Hash
	sum [32]byte
}

// NewHasher returns a reusable record hasher.
func NewHasher() *Hasher { return &Hasher{h: sha256.New()} }

var zeroHash [32]byte

// Sum hashes rec (header then payload; rec must hold HeaderSize+payloadLen
// bytes) with the hash field taken as zero.
func (hs *Hasher) Sum(rec []byte, payloadLen int) [32]byte {
	hs.h.Reset()
	hs.h.Write(rec[:hashOff])
	hs.h.Write(zeroHash[:])
	hs.h.Write(rec[HeaderSize : HeaderSize+payloadLen])
	hs.h.Sum(hs.sum[:0])
	return hs.sum
}

// Follows reports whether h continues the chain after prev: next sequence,
// adjacent offset, matching previous hash, no step back in time.
func (h *Header) Follows(prev *Header, blockSize int) bool {
	return h.Seq == prev.Seq+1 && h.PrevOffset == prev.Offset && h.PrevHash == prev.Hash &&
		h.Timestamp >= prev.Timestamp && h.Offset == prev.End(blockSize)
}

// ItemSize is the bytes one item takes in a payload.
func ItemSize(keySize, valueLen int) int { return keySize + 4 + valueLen + 4 }

// PutItem encodes key and value at b and returns the bytes used.
func PutItem(b []byte, key, value []byte) int {
	n := copy(b, key)
	binary.LittleEndian.PutUint32(b[n:], uint32(len(value)))
	n += 4
	n += copy(b[n:], value)
	crc := crc32.Update(crc32.Checksum(key, castagnoli), castagnoli, value)
	binary.LittleEndian.PutUint32(b[n:], crc)
	return n + 4
}

// DecodeItem parses the item at the start of b (keySize fixed). It checks
// framing and the CRC and returns key, value and the bytes the item takes.
func DecodeItem(b []byte, keySize int) (key, value []byte, n int, err error) {
	if len(b) < keySize+4 {
		return nil, nil, 0, fmt.Errorf("%w: item cut short", ErrCorrupt)
	}
	vlen := int(binary.LittleEndian.Uint32(b[keySize:]))
	if vlen > MaxValueSize || len(b) < ItemSize(keySize, vlen) {
		return nil, nil, 0, fmt.Errorf("%w: item value length %d out of range", ErrCorrupt, vlen)
	}
	key = b[:keySize]
	value = b[keySize+4 : keySize+4+vlen]
	n = ItemSize(keySize, vlen)
	crc := crc32.Update(crc32.Checksum(key, castagnoli), castagnoli, value)
	if crc != binary.LittleEndian.Uint32(b[n-4:]) {
		return nil, nil, 0, fmt.Errorf("%w: item CRC mismatch", ErrCorrupt)
	}
	return key, value, n, nil
}

// ItemFunc receives each item of a payload: its offset in the data file,
// key and value (valid during the call only).
type ItemFunc func(off int64, key, value []byte) error

// EachItem walks the items of a record payload that starts at data-file
// offset payloadOff. It checks every item's framing and CRC.
func EachItem(payload []byte, items uint32, payloadOff int64, keySize int, fn ItemFunc) error {
	pos := 0
	for i := uint32(0); i < items; i++ {
		key, value, n, err := DecodeItem(payload[pos:], keySize)
		if err != nil {
			return fmt.Errorf("item %d at %d: %w", i, payloadOff+int64(pos), err)
		}
		if err := fn(payloadOff+int64(pos), key, value); err != nil {
			return err
		}
		pos += n
	}
	if pos != len(payload) {
		return fmt.Errorf("%w: %d stray payload bytes after %d items", ErrCorrupt, len(payload)-pos, items)
	}
	return nil
}
