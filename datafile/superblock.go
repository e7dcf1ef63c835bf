package datafile

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// Superblock constants.
const (
	SuperblockMagic   = "nudbDAT\x01"
	FormatVersion     = 1
	superblockHashOff = 56
	superblockSize    = superblockHashOff + sha256.Size
	// MinBlockSize and MaxBlockSize bound Options.BlockSize.
	MinBlockSize = 512
	MaxBlockSize = 1 << 20
	// MaxKeySize bounds the fixed key size.
	MaxKeySize = 4096
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

// Encode writes the superblock and its hash into b (at least one block, zeroed past the end).
func (s *Superblock) Encode(b []byte) {
	clear(b)
	copy(b, SuperblockMagic)
	le := binary.LittleEndian
	le.PutUint32(b[8:], s.Version)
	le.PutUint32(b[12:], s.BlockSize)
	le.PutUint32(b[16:], s.KeySize)
	copy(b[24:40], s.UID[:])
	le.PutUint64(b[40:], s.Salt)
	le.PutUint64(b[48:], uint64(s.Created))
	sum := sha256.Sum256(b[:superblockHashOff])
	copy(b[superblockHashOff:], sum[:])
}

// DecodeSuperblock parses and checks b. A wrong magic is ErrNotStore; a right
// magic with a wrong hash or impossible geometry is ErrCorrupt.
func DecodeSuperblock(b []byte) (Superblock, error) {
	var s Superblock
	if len(b) < superblockSize || !bytes.Equal(b[:8], []byte(SuperblockMagic)) {
		return s, ErrNotStore
	}
	sum := sha256.Sum256(b[:superblockHashOff])
	if !bytes.Equal(sum[:], b[superblockHashOff:superblockSize]) {
		return s, fmt.Errorf("%w: superblock hash mismatch", ErrCorrupt)
	}
	le := binary.LittleEndian
	s.Version = le.Uint32(b[8:])
	s.BlockSize = le.Uint32(b[12:])
	s.KeySize = le.Uint32(b[16:])
	copy(s.UID[:], b[24:40])
	s.Salt = le.Uint64(b[40:])
	s.Created = int64(le.Uint64(b[48:]))
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
