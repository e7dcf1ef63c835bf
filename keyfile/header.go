package keyfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Format constants.
const (
	Magic   = "nudbKEY\x01"
	Version = 3
	// HeaderSize is the size of the header at the start of the file
	// (4 KiB); the table's 512-byte pages (BucketSize) follow it.
	HeaderSize = 4096

	// The identity, in the header's first sector (part of the format).
	idMagicOff      = 0  // [8]byte Magic
	idVersionOff    = 8  // u32 Version
	idKeySizeOff    = 12 // u32
	idUIDOff        = 16 // [16]byte the store's UID
	idSaltOff       = 32 // u64
	idBlockSizeOff  = 40 // u32
	idHeaderSizeOff = 44 // u32 HeaderSize
	identCRCOff     = 48 // u32 CRC-32C of the bytes before it
	extentOff       = 64
	writtenOff      = 72
	syncedOff       = 80
	cleanOff        = 88
	bootOff         = 96 // [16]byte boot ID of the machine that last opened the file for writing
	// The live table, as the writer holds it in memory (the page cache
	// keeps it after a process crash; a power loss makes it meaningless):
	// u64 buckets<<32 | pages, published only where the table is
	// consistent under it. See File.UseLive. (The u64 after it is reserved:
	// an entry count published beside the geometry could not be exact
	// after a crash between an entry's write and the count's.)
	liveGeomOff = 384
	slotAOff    = 128
	slotSize    = 128
	slotCRCOff  = 124
	// A checkpoint slot, field by field (part of the format).
	cpGenOff        = 0   // u64 generation, increasing; 0: an empty slot
	cpOffsetOff     = 8   // u64 log offset below which everything is indexed
	cpLastOffsetOff = 16  // u64 the record ending there
	cpLastSeqOff    = 24  // u64 its sequence number
	cpLastTimeOff   = 32  // u64 its timestamp
	cpLastHashOff   = 40  // [32]byte its hash
	cpBucketsOff    = 72  // u64 table geometry
	cpPagesOff      = 80  // u64
	cpItemsOff      = 88  // u64 entries in the table
	cpRecordsOff    = 96  // u64 records below the offset
	cpReservedOff   = 104 // reserved, zero, up to slotCRCOff
)

var (
	// ErrMissing reports that there is no key file (or it is empty).
	ErrMissing = errors.New("keyfile: missing")
	// ErrForeign reports a key file that belongs to another store.
	ErrForeign = errors.New("keyfile: belongs to another store")
	// ErrDamaged reports a key file whose header or table is inconsistent.
	ErrDamaged = errors.New("keyfile: damaged")
	// ErrNotKeyFile reports a file at the key path that is not a key file
	// (no key-file magic, or not a regular file): it is never written.
	ErrNotKeyFile = errors.New("keyfile: not a key file")
	// ErrNoSpace reports that the key file could not grow: the disk (or
	// the reserved mapping) is full.
	ErrNoSpace = errors.New("keyfile: no space to grow")
)

// Unusable reports whether err from Open means the file cannot serve as
// this store's index (missing, another store's, or damaged), so that it is
// to be rebuilt from the data file rather than reported as an I/O error.
func Unusable(err error) bool {
	return errors.Is(err, ErrMissing) || errors.Is(err, ErrForeign) || errors.Is(err, ErrDamaged)
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Identity is what ties a key file to its data file's superblock.
type Identity struct {
	UID       [16]byte
	KeySize   int
	BlockSize int
	Salt      uint64
}

func (id Identity) encode(b []byte) {
	le := binary.LittleEndian
	copy(b[idMagicOff:idMagicOff+8], Magic)
	le.PutUint32(b[idVersionOff:], Version)
	le.PutUint32(b[idKeySizeOff:], uint32(id.KeySize))
	copy(b[idUIDOff:idUIDOff+16], id.UID[:])
	le.PutUint64(b[idSaltOff:], id.Salt)
	le.PutUint32(b[idBlockSizeOff:], uint32(id.BlockSize))
	le.PutUint32(b[idHeaderSizeOff:], HeaderSize)
	le.PutUint32(b[identCRCOff:], crc32.Checksum(b[:identCRCOff], castagnoli))
}

// checkIdentity compares the header page with want.
func checkIdentity(b []byte, want Identity) error {
	if len(b) < HeaderSize {
		return fmt.Errorf("%w: %d bytes", ErrDamaged, len(b))
	}
	if !bytes.Equal(b[idMagicOff:idMagicOff+8], []byte(Magic)) {
		return fmt.Errorf("%w: bad magic", ErrNotKeyFile)
	}
	le := binary.LittleEndian
	if crc32.Checksum(b[:identCRCOff], castagnoli) != le.Uint32(b[identCRCOff:]) {
		return fmt.Errorf("%w: header CRC mismatch", ErrDamaged)
	}
	if v := le.Uint32(b[idVersionOff:]); v != Version || le.Uint32(b[idHeaderSizeOff:]) != HeaderSize {
		return fmt.Errorf("%w: format version %d, this build reads version %d", ErrDamaged, v, Version)
	}
	var got Identity
	got.KeySize = int(le.Uint32(b[idKeySizeOff:]))
	copy(got.UID[:], b[idUIDOff:idUIDOff+16])
	got.Salt = le.Uint64(b[idSaltOff:])
	got.BlockSize = int(le.Uint32(b[idBlockSizeOff:]))
	if got != want {
		return ErrForeign
	}
	return nil
}

// Checkpoint is the durable state of the index: every item in a record
// below Offset is indexed under this geometry.
type Checkpoint struct {
	Gen        uint64   // increases with every checkpoint
	Offset     int64    // the log offset below which everything is indexed
	LastOffset int64    // offset of the record ending at Offset (0: none)
	LastSeq    uint64   // its sequence number
	LastTime   int64    // its timestamp
	LastHash   [32]byte // its hash
	Buckets    uint64   // table geometry
	Pages      uint64
	Items      uint64 // entries in the table
	Records    uint64 // records below Offset
}

func (c *Checkpoint) encode(b []byte) {
	le := binary.LittleEndian
	clear(b[:slotSize])
	le.PutUint64(b[cpGenOff:], c.Gen)
	le.PutUint64(b[cpOffsetOff:], uint64(c.Offset))
	le.PutUint64(b[cpLastOffsetOff:], uint64(c.LastOffset))
	le.PutUint64(b[cpLastSeqOff:], c.LastSeq)
	le.PutUint64(b[cpLastTimeOff:], uint64(c.LastTime))
	copy(b[cpLastHashOff:cpLastHashOff+32], c.LastHash[:])
	le.PutUint64(b[cpBucketsOff:], c.Buckets)
	le.PutUint64(b[cpPagesOff:], c.Pages)
	le.PutUint64(b[cpItemsOff:], c.Items)
	le.PutUint64(b[cpRecordsOff:], c.Records)
	le.PutUint32(b[slotCRCOff:], crc32.Checksum(b[:slotCRCOff], castagnoli))
}

func decodeCheckpoint(b []byte) (Checkpoint, bool) {
	le := binary.LittleEndian
	var c Checkpoint
	if crc32.Checksum(b[:slotCRCOff], castagnoli) != le.Uint32(b[slotCRCOff:]) {
		return c, false
	}
	c.Gen = le.Uint64(b[cpGenOff:])
	c.Offset = int64(le.Uint64(b[cpOffsetOff:]))
	c.LastOffset = int64(le.Uint64(b[cpLastOffsetOff:]))
	c.LastSeq = le.Uint64(b[cpLastSeqOff:])
	c.LastTime = int64(le.Uint64(b[cpLastTimeOff:]))
	copy(c.LastHash[:], b[cpLastHashOff:cpLastHashOff+32])
	c.Buckets = le.Uint64(b[cpBucketsOff:])
	c.Pages = le.Uint64(b[cpPagesOff:])
	c.Items = le.Uint64(b[cpItemsOff:])
	c.Records = le.Uint64(b[cpRecordsOff:])
	return c, c.Gen != 0
}

// latestCheckpoint returns the valid slot with the highest generation.
func latestCheckpoint(hdr []byte) (Checkpoint, int, bool) {
	a, okA := decodeCheckpoint(hdr[slotAOff:])
	b, okB := decodeCheckpoint(hdr[slotAOff+slotSize:])
	switch {
	case okA && (!okB || a.Gen > b.Gen):
		return a, 0, true
	case okB:
		return b, 1, true
	}
	return Checkpoint{}, 0, false
}

// Watermarks are the data-file positions the header tracks.
type Watermarks struct {
	Extent, Written, Synced uint64
	Checkpoint              int64
	Clean                   bool
}

// Valid reports checkpoint ≤ synced ≤ written ≤ extent.
func (w Watermarks) Valid() bool {
	return uint64(w.Checkpoint) <= w.Synced && w.Synced <= w.Written && w.Written <= w.Extent
}
