package datafile

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// Superblock constants.
const (
	SuperblockMagic = "nudbDAT\x01"
	FormatVersion   = 2
	// MinBlockSize and MaxBlockSize bound Options.BlockSize.
	MinBlockSize = 512
	MaxBlockSize = 1 << 20
	// MaxKeySize bounds the fixed key size.
	MaxKeySize = 4096
)

// The superblock, field by field (part of the on-disk format).
const (
	sbMagicOff     = 0  // [8]byte SuperblockMagic
	sbVersionOff   = 8  // u32 FormatVersion
	sbBlockSizeOff = 12 // u32 block size
	sbKeySizeOff   = 16 // u32 key size
	sbReservedOff  = 20 // u32 reserved, zero
	sbUIDOff       = 24 // [16]byte store UID
	sbSaltOff      = 40 // u64 hash-index salt
	sbCreatedOff   = 48 // u64 creation time, unix nanoseconds
	sbHashOff      = 56 // [32]byte SHA-256 of the bytes before it
	superblockSize = sbHashOff + sha256.Size
)

// Superblock is block 0 of the data file, written once by Create.
type Superblock struct {
	Version   uint32
	BlockSize uint32
	KeySize   uint32
	UID       [16]byte
	Salt      uint64
	Created   int64 // unix nanoseconds
}

// Geometry is what a reader of the log needs from the superblock.
func (s *Superblock) Geometry() Geometry {
	return Geometry{UID: s.UID, BlockSize: int(s.BlockSize), KeySize: int(s.KeySize)}
}

// Encode writes the superblock and its hash into b (at least one block, zeroed past the end).
func (s *Superblock) Encode(b []byte) {
	clear(b)
	copy(b[sbMagicOff:], SuperblockMagic)
	le := binary.LittleEndian
	le.PutUint32(b[sbVersionOff:], s.Version)
	le.PutUint32(b[sbBlockSizeOff:], s.BlockSize)
	le.PutUint32(b[sbKeySizeOff:], s.KeySize)
	copy(b[sbUIDOff:sbUIDOff+16], s.UID[:])
	le.PutUint64(b[sbSaltOff:], s.Salt)
	le.PutUint64(b[sbCreatedOff:], uint64(s.Created))
	sum := sha256.Sum256(b[:sbHashOff])
	copy(b[sbHashOff:], sum[:])
}

// DecodeSuperblock parses and checks b. A wrong magic is ErrNotStore; a right
// magic with a wrong hash or impossible geometry is ErrCorrupt.
func DecodeSuperblock(b []byte) (Superblock, error) {
	var s Superblock
	if len(b) < superblockSize || !bytes.Equal(b[sbMagicOff:sbMagicOff+8], []byte(SuperblockMagic)) {
		return s, ErrNotStore
	}
	sum := sha256.Sum256(b[:sbHashOff])
	if !bytes.Equal(sum[:], b[sbHashOff:superblockSize]) {
		return s, fmt.Errorf("%w: superblock hash mismatch", ErrCorrupt)
	}
	le := binary.LittleEndian
	s.Version = le.Uint32(b[sbVersionOff:])
	s.BlockSize = le.Uint32(b[sbBlockSizeOff:])
	s.KeySize = le.Uint32(b[sbKeySizeOff:])
	copy(s.UID[:], b[sbUIDOff:])
	s.Salt = le.Uint64(b[sbSaltOff:])
	s.Created = int64(le.Uint64(b[sbCreatedOff:]))
	if s.Version != FormatVersion {
		return s, fmt.Errorf("%w: format version %d, this build reads %d", ErrNotStore, s.Version, FormatVersion)
	}
	if err := CheckGeometry(int(s.BlockSize), int(s.KeySize)); err != nil {
		return s, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return s, nil
}

// CheckGeometry validates a block size and key size pair.
func CheckGeometry(blockSize, keySize int) error {
	if blockSize < MinBlockSize || blockSize > MaxBlockSize || blockSize&(blockSize-1) != 0 {
		return fmt.Errorf("block size %d is not a power of two in [%d, %d]", blockSize, MinBlockSize, MaxBlockSize)
	}
	if keySize < 1 || keySize > MaxKeySize {
		return fmt.Errorf("key size %d is not in [1, %d]", keySize, MaxKeySize)
	}
	if HeaderSize+ItemOverhead+keySize > blockSize*64 {
		return fmt.Errorf("key size %d is too large for block size %d", keySize, blockSize)
	}
	return nil
}
