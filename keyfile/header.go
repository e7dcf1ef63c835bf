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
	Version = 1
	// HeaderSize is the size of the header at the start of the file
	// (4 KiB); the table's 512-byte pages (BucketSize) follow it.
	HeaderSize = 4096

	identCRCOff = 48
	extentOff   = 64
	writtenOff  = 72
	syncedOff   = 80
	cleanOff    = 88
	bootOff     = 96 // [16]byte boot ID of the machine that last opened the file for writing
	slotAOff    = 128
	slotSize    = 128
	slotCRCOff  = 124
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
	copy(b[0:8], Magic)
	le.PutUint32(b[8:], Version)
	le.PutUint32(b[12:], uint32(id.KeySize))
	copy(b[16:32], id.UID[:])
	le.PutUint64(b[32:], id.Salt)
	le.PutUint32(b[40:], uint32(id.BlockSize))
	le.PutUint32(b[44:], HeaderSize)
	le.PutUint32(b[identCRCOff:], crc32.Checksum(b[:identCRCOff], castagnoli))
}

// checkIdentity compares the header page with want.
func checkIdentity(b []byte, want Identity) error {
	if len(b) < HeaderSize {
		return fmt.Errorf("%w: %d bytes", ErrDamaged, len(b))
	}
	if !bytes.Equal(b[:8], []byte(Magic)) {
		return fmt.Errorf("%w: bad magic", ErrNotKeyFile)
	}
	le := binary.LittleEndian
	if crc32.Checksum(b[:identCRCOff], castagnoli) != le.Uint32(b[identCRCOff:]) {
		return fmt.Errorf("%w: header CRC mismatch", ErrDamaged)
	}
	if v := le.Uint32(b[8:]); v != Version || le.Uint32(b[44:]) != HeaderSize {
		return fmt.Errorf("%w: version %d", ErrDamaged, v)
	}
	var got Identity
	got.KeySize = int(le.Uint32(b[12:]))
	copy(got.UID[:], b[16:32])
	got.Salt = le.Uint64(b[32:])
	got.BlockSize = int(le.Uint32(b[40:]))
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
	le.PutUint64(b[0:], c.Gen)
	le.PutUint64(b[8:], uint64(c.Offset))
	le.PutUint64(b[16:], uint64(c.LastOffset))
	le.PutUint64(b[24:], c.LastSeq)
	le.PutUint64(b[32:], uint64(c.LastTime))
	copy(b[40:72], c.LastHash[:])
	le.PutUint64(b[72:], c.Buckets)
	le.PutUint64(b[80:], c.Pages)
	le.PutUint64(b[88:], c.Items)
	le.PutUint64(b[96:], c.Records)
	le.PutUint32(b[slotCRCOff:], crc32.Checksum(b[:slotCRCOff], castagnoli))
}

func decodeCheckpoint(b []byte) (Checkpoint, bool) {
	le := binary.LittleEndian
	var c Checkpoint
	if crc32.Checksum(b[:slotCRCOff], castagnoli) != le.Uint32(b[slotCRCOff:]) {
		return c, false
	}
	c.Gen = le.Uint64(b[0:])
	c.Offset = int64(le.Uint64(b[8:]))
	c.LastOffset = int64(le.Uint64(b[16:]))
	c.LastSeq = le.Uint64(b[24:])
	c.LastTime = int64(le.Uint64(b[32:]))
	copy(c.LastHash[:], b[40:72])
	c.Buckets = le.Uint64(b[72:])
	c.Pages = le.Uint64(b[80:])
	c.Items = le.Uint64(b[88:])
	c.Records = le.Uint64(b[96:])
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
