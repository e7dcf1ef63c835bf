package datafile

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"
)

// RecordMagic opens every record header. Its last byte is the format
// version: records of another version are not records of this store.
const RecordMagic = "nudbREC\x02"

// The record header, field by field. These offsets are part of the on-disk
// format: changing one is a format version bump.
const (
	recMagicOff      = 0   // [8]byte RecordMagic
	recUIDOff        = 8   // [16]byte store UID (the superblock's)
	recOffsetOff     = 24  // u64 the record's own offset in the data file
	recSeqOff        = 32  // u64 sequence number: the previous record's + 1
	recEpochOff      = 40  // u64 epoch of the session that wrote it, never decreasing
	recBlocksOff     = 48  // u32 length of the record in blocks
	recPayloadLenOff = 52  // u32 payload bytes
	recItemsOff      = 56  // u32 items in the payload
	recReservedOff   = 60  // u32 reserved, zero
	recTimestampOff  = 64  // u64 unix nanoseconds, never decreasing
	recPrevOffsetOff = 72  // u64 offset of the previous record (0: none)
	recDurableOff    = 80  // u64 durable mark: the log below it was durable when this record was built
	recPrevHashOff   = 88  // [32]byte hash of the previous record
	recHashOff       = 120 // [32]byte SHA-256 of header (this field zero) ‖ payload
	// HeaderSize is the size of a record header; the payload follows it.
	HeaderSize = recHashOff + sha256.Size
)

// The item framing inside a payload: key (the store's key size), value
// length, value, CRC-32C of key ‖ value.
const (
	itemLenSize = 4 // u32 value length
	itemCRCSize = 4 // u32 CRC-32C
	// ItemOverhead is the bytes an item takes besides its key and value.
	ItemOverhead = itemLenSize + itemCRCSize
	// MaxValueSize is the largest value a record can carry (16 MiB).
	MaxValueSize = 1 << 24
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Header is a decoded record header.
type Header struct {
	UID        [16]byte
	Offset     int64 // the record's own offset in the data file
	Seq        uint64
	Epoch      uint64 // the writing session's epoch (see the package doc)
	Blocks     uint32 // length of the record in blocks
	PayloadLen uint32
	Items      uint32
	Timestamp  int64 // unix nanoseconds, never decreasing along the log
	PrevOffset int64
	Durable    int64 // durable mark: the log below it was durable when the record was built
	PrevHash   [32]byte
	Hash       [32]byte
}

// End is the offset just past the record.
func (h *Header) End(blockSize int) int64 { return h.Offset + int64(h.Blocks)*int64(blockSize) }

// Encode writes h into b[:HeaderSize].
func (h *Header) Encode(b []byte) {
	le := binary.LittleEndian
	copy(b[recMagicOff:], RecordMagic)
	copy(b[recUIDOff:recUIDOff+16], h.UID[:])
	le.PutUint64(b[recOffsetOff:], uint64(h.Offset))
	le.PutUint64(b[recSeqOff:], h.Seq)
	le.PutUint64(b[recEpochOff:], h.Epoch)
	le.PutUint32(b[recBlocksOff:], h.Blocks)
	le.PutUint32(b[recPayloadLenOff:], h.PayloadLen)
	le.PutUint32(b[recItemsOff:], h.Items)
	le.PutUint32(b[recReservedOff:], 0)
	le.PutUint64(b[recTimestampOff:], uint64(h.Timestamp))
	le.PutUint64(b[recPrevOffsetOff:], uint64(h.PrevOffset))
	le.PutUint64(b[recDurableOff:], uint64(h.Durable))
	copy(b[recPrevHashOff:recPrevHashOff+32], h.PrevHash[:])
	copy(b[recHashOff:recHashOff+32], h.Hash[:])
}

// DecodeHeader parses a record header without checking its hash. It fails
// (never panics) when b is short or the magic is wrong.
func DecodeHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < HeaderSize || !bytes.Equal(b[recMagicOff:recMagicOff+len(RecordMagic)], []byte(RecordMagic)) {
		return h, fmt.Errorf("%w: no record header", ErrCorrupt)
	}
	le := binary.LittleEndian
	copy(h.UID[:], b[recUIDOff:])
	h.Offset = int64(le.Uint64(b[recOffsetOff:]))
	h.Seq = le.Uint64(b[recSeqOff:])
	h.Epoch = le.Uint64(b[recEpochOff:])
	h.Blocks = le.Uint32(b[recBlocksOff:])
	h.PayloadLen = le.Uint32(b[recPayloadLenOff:])
	h.Items = le.Uint32(b[recItemsOff:])
	h.Timestamp = int64(le.Uint64(b[recTimestampOff:]))
	h.PrevOffset = int64(le.Uint64(b[recPrevOffsetOff:]))
	h.Durable = int64(le.Uint64(b[recDurableOff:]))
	copy(h.PrevHash[:], b[recPrevHashOff:])
	copy(h.Hash[:], b[recHashOff:])
	return h, nil
}

// Plausible reports whether a decoded header can describe a record of this
// store at off: right UID and self offset, lengths that fit, and a durable
// mark that does not reach past the record itself.
func (h *Header) Plausible(uid [16]byte, off int64, blockSize int) bool {
	if h.UID != uid || h.Offset != off || h.Blocks == 0 || h.Durable > off || h.Durable < 0 {
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
	hs.h.Write(rec[:recHashOff])
	hs.h.Write(zeroHash[:])
	hs.h.Write(rec[HeaderSize : HeaderSize+payloadLen])
	hs.h.Sum(hs.sum[:0])
	return hs.sum
}

// Follows reports whether h continues the chain after prev: next sequence,
// adjacent offset, matching previous hash, no step back in time, epoch or
// durable mark.
func (h *Header) Follows(prev *Header, blockSize int) bool {
	return h.Seq == prev.Seq+1 && h.PrevOffset == prev.Offset && h.PrevHash == prev.Hash &&
		h.Timestamp >= prev.Timestamp && h.Epoch >= prev.Epoch && h.Durable >= prev.Durable &&
		h.Offset == prev.End(blockSize)
}

// RoundUp rounds n up to a whole number of blocks of size blockSize.
func RoundUp(n int64, blockSize int) int64 {
	bs := int64(blockSize)
	return (n + bs - 1) / bs * bs
}

// RecordSize is the bytes a record with payloadLen payload bytes occupies.
func RecordSize(payloadLen, blockSize int) int {
	return int(RoundUp(int64(HeaderSize+payloadLen), blockSize))
}

// ValueOffset is where an item's value starts, from the item's start.
func ValueOffset(keySize int) int { return keySize + itemLenSize }

// ItemSize is the bytes one item takes in a payload.
func ItemSize(keySize, valueLen int) int { return keySize + itemLenSize + valueLen + itemCRCSize }

// PutItem encodes key and value at b and returns the bytes used.
func PutItem(b []byte, key, value []byte) int {
	n := copy(b, key)
	binary.LittleEndian.PutUint32(b[n:], uint32(len(value)))
	n += itemLenSize
	n += copy(b[n:], value)
	binary.LittleEndian.PutUint32(b[n:], itemCRC(key, value))
	return n + itemCRCSize
}

func itemCRC(key, value []byte) uint32 {
	return crc32.Update(crc32.Checksum(key, castagnoli), castagnoli, value)
}

// ValueLen reads the value length of the item whose first keySize+4 bytes
// are b (so a reader can size its second read).
func ValueLen(b []byte, keySize int) (int, error) {
	if len(b) < keySize+itemLenSize {
		return 0, fmt.Errorf("%w: item cut short", ErrCorrupt)
	}
	n := int(binary.LittleEndian.Uint32(b[keySize:]))
	if n > MaxValueSize {
		return 0, fmt.Errorf("%w: item value length %d out of range", ErrCorrupt, n)
	}
	return n, nil
}

// DecodeItem parses the item at the start of b (keySize fixed). It checks
// framing and the CRC and returns key, value and the bytes the item takes.
func DecodeItem(b []byte, keySize int) (key, value []byte, n int, err error) {
	vlen, err := ValueLen(b, keySize)
	if err != nil {
		return nil, nil, 0, err
	}
	if len(b) < ItemSize(keySize, vlen) {
		return nil, nil, 0, fmt.Errorf("%w: item of %d value bytes cut short", ErrCorrupt, vlen)
	}
	key = b[:keySize]
	value = b[keySize+itemLenSize : keySize+itemLenSize+vlen]
	n = ItemSize(keySize, vlen)
	if itemCRC(key, value) != binary.LittleEndian.Uint32(b[n-itemCRCSize:]) {
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
