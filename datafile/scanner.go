package datafile

import (
	"errors"
	"fmt"
)

// ReaderAt reads the data file. A short read at the end of the file returns
// the bytes read and a nil error or any error; Scanner treats it as the end.
// On a block device offsets and lengths are block aligned and p comes from
// an aligned arena.
type ReaderAt interface {
	ReadAt(p []byte, off int64) (int, error)
}

// Prefetcher is a ReaderAt that can start reading ahead (a hint; it may do
// nothing). Scanner uses it so the next chunk comes off the disk while the
// current one is hashed.
type Prefetcher interface {
	Prefetch(off, n int64)
}

// Geometry is what a reader needs to know about a store's data file.
type Geometry struct {
	UID       [16]byte
	BlockSize int
	KeySize   int
}

// LogStart is the offset of the first record: the block after the superblock.
func (g Geometry) LogStart() int64 { return int64(g.BlockSize) }

// Record is one record read by a Scanner or ReadRecord: its header and its
// payload (valid until the next read into the same buffer).
type Record struct {
	Header
	Payload []byte
}

// PayloadOffset is the data-file offset of the payload's first byte.
func (r *Record) PayloadOffset() int64 { return r.Offset + HeaderSize }

// ErrEndOfLog is returned by Scanner.Next where the chain stops: a record
// that is missing, torn, foreign or does not continue the chain. Reason says why.
var ErrEndOfLog = errors.New("datafile: end of log")

// Scanner reads the log forwards from a known record boundary, validating
// every record's hash and chain link. It reads in large chunks so a scan of
// the whole log runs at sequential read speed.
type Scanner struct {
	g      Geometry
	src    ReaderAt
	limit  int64 // no record reaches past this (device or file size)
	buf    []byte
	bufOff int64
	bufLen int
	hs     *Hasher
	pos    int64
	prev   Header
	first  bool // prev is unknown: accept any sequence at pos
	chunk  int  // next read size: starts small, doubles up to len(buf)
	// Reason explains the last ErrEndOfLog.
	Reason error
	// BytesRead counts the bytes read from the source.
	BytesRead int64
}

// NewScanner scans from pos. prev is the header of the record ending at pos;
// when havePrev is false (pos is the log start) the first record must have
// sequence 1 and no predecessor. buf must be block aligned and at least
// as large as the largest record (MaxRecordSize).
func NewScanner(g Geometry, src ReaderAt, limit int64, buf []byte, pos int64, prev Header, havePrev bool) *Scanner {
	s := &Scanner{g: g, src: src, limit: limit, buf: buf, hs: NewHasher(), pos: pos, prev: prev}
	if !havePrev {
		s.prev = Header{Seq: 0, Offset: 0, Blocks: 1}
		s.first = pos == g.LogStart()
	}
	return s
}

// MaxRecordSize is the largest record a store writes for a key size and
// block size: one item of MaxValueSize, rounded up to whole blocks.
func MaxRecordSize(keySize, blockSize int) int {
	return RecordSize(ItemSize(keySize, MaxValueSize), blockSize)
}

// Pos is the offset where the next record would start: after Next returns
// ErrEndOfLog it is the end of the log.
func (s *Scanner) Pos() int64 { return s.pos }

// fill makes [s.pos, s.pos+n) available in the buffer, reading as needed.
// It returns fewer bytes at the end of the file.
func (s *Scanner) fill(n int) ([]byte, error) {
	start := int(s.pos - s.bufOff)
	if s.pos >= s.bufOff && start+n <= s.bufLen {
		return s.buf[start : start+n], nil
	}
	s.bufOff = s.pos
	// Start with small reads so a short tail costs little, and double them
	// so a long scan soon reads in large sequential chunks.
	if s.chunk == 0 {
		s.chunk = 64 << 10
	}
	want := min(max(s.chunk, n), len(s.buf))
	s.chunk = min(2*s.chunk, len(s.buf))
	if rem := s.limit - s.pos; rem < int64(want) {
		want = int(rem)
	}
	if want < 0 {
		want = 0
	}
	m, err := s.src.ReadAt(s.buf[:want], s.pos)
	if m < 0 {
		m = 0
	}
	if p, ok := s.src.(Prefetcher); ok && m == want {
		p.Prefetch(s.pos+int64(m), int64(s.chunk))
	}
	s.BytesRead += int64(m)
	s.bufLen = m
	if m < n {
		if err == nil {
			err = fmt.Errorf("%w: %d bytes at %d, %d available", ErrEndOfLog, n, s.pos, m)
		}
		return s.buf[:m], err
	}
	return s.buf[:n], nil
}

// Next returns the next valid record, or ErrEndOfLog (with Reason set).
func (s *Scanner) Next() (Record, error) {
	var r Record
	if s.pos+int64(s.g.BlockSize) > s.limit {
		return r, s.end(fmt.Errorf("data file ends at %d", s.limit))
	}
	b, err := s.fill(s.g.BlockSize)
	if err != nil {
		return r, s.end(err)
	}
	h, err := DecodeHeader(b)
	if err != nil {
		return r, s.end(err)
	}
	if !h.Plausible(s.g.UID, s.pos, s.g.BlockSize) {
		return r, s.end(fmt.Errorf("%w: implausible header at %d", ErrCorrupt, s.pos))
	}
	if s.first {
		if h.Seq != 1 || h.PrevOffset != 0 {
			return r, s.end(fmt.Errorf("%w: first record at %d has sequence %d", ErrCorrupt, s.pos, h.Seq))
		}
	} else if !h.Follows(&s.prev, s.g.BlockSize) {
		return r, s.end(fmt.Errorf("%w: record at %d does not continue the chain", ErrCorrupt, s.pos))
	}
	size := int(h.Blocks) * s.g.BlockSize
	if size > len(s.buf) || s.pos+int64(size) > s.limit {
		return r, s.end(fmt.Errorf("%w: record at %d of %d bytes overruns", ErrCorrupt, s.pos, size))
	}
	rec, err := s.fill(size)
	if err != nil {
		return r, s.end(err)
	}
	if s.hs.Sum(rec, int(h.PayloadLen)) != h.Hash {
		return r, s.end(fmt.Errorf("%w: record hash mismatch at %d", ErrCorrupt, s.pos))
	}
	s.first = false
	s.prev = h
	s.pos += int64(size)
	return Record{Header: h, Payload: rec[HeaderSize : HeaderSize+int(h.PayloadLen)]}, nil
}

func (s *Scanner) end(reason error) error {
	s.Reason = reason
	return ErrEndOfLog
}

// ReadRecord reads and checks the whole record at off into buf (block
// aligned, at least MaxRecordSize for the store). It verifies the header and
// the hash but not the chain.
func ReadRecord(g Geometry, src ReaderAt, buf []byte, hs *Hasher, off int64) (Record, error) {
	var r Record
	bs := g.BlockSize
	if n, err := src.ReadAt(buf[:bs], off); n < bs {
		return r, fmt.Errorf("%w: reading record at %d: %v", ErrCorrupt, off, err)
	}
	h, err := DecodeHeader(buf[:bs])
	if err != nil {
		return r, err
	}
	if !h.Plausible(g.UID, off, bs) {
		return r, fmt.Errorf("%w: implausible header at %d", ErrCorrupt, off)
	}
	size := int(h.Blocks) * bs
	if size > len(buf) {
		return r, fmt.Errorf("%w: record at %d of %d bytes is too large", ErrCorrupt, off, size)
	}
	if size > bs {
		if n, err := src.ReadAt(buf[bs:size], off+int64(bs)); n < size-bs {
			return r, fmt.Errorf("%w: reading record at %d: %v", ErrCorrupt, off, err)
		}
	}
	if hs.Sum(buf[:size], int(h.PayloadLen)) != h.Hash {
		return r, fmt.Errorf("%w: record hash mismatch at %d", ErrCorrupt, off)
	}
	return Record{Header: h, Payload: buf[HeaderSize : HeaderSize+int(h.PayloadLen)]}, nil
}
