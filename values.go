package nudb

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/nudbgo/nudb/datafile"
)

// ValueReader reads one stored value in place, without copying it whole:
// an io.Reader, io.ReaderAt and io.Seeker over the value's bytes in the data
// file. FetchReader checked the item's CRC before returning it; the bytes
// never change afterwards (the log is append-only), so reads need no
// further check. A ValueReader is not safe for concurrent Read and Seek
// (ReadAt is); it fails with ErrClosed once the store is closed.
type ValueReader struct {
	s    *Store
	off  int64  // the value's offset in the data file
	held []byte // a value still held in memory (SyncWriteBehind), or nil
	size int64
	pos  int64
}

// FetchReader returns a reader over the value stored under key, for
// values too large to copy comfortably (up to MaxValueSize, 16 MiB): the
// item's CRC is checked in place, then the reader reads from the data
// file's mapping as it is asked. ErrNotFound and ErrCorrupt as Fetch.
func (s *Store) FetchReader(key []byte) (*ValueReader, error) {
	h, c, err := s.enterKey(key)
	if err != nil {
		return nil, err
	}
	defer s.gate.exit(c, &s.closed)
	r := &ValueReader{s: s}
	if s.opts.Sync == SyncWriteBehind && s.pending.find(h, key, func(v []byte) { r.held = bytes.Clone(v) }) {
		r.size = int64(len(r.held))
		return r, nil
	}
	item, err := s.lookupItem(h, key, func(v []byte) { r.size = int64(len(v)) }, nil, false)
	if err != nil {
		return nil, err
	}
	r.off = item.Offset + int64(datafile.ValueOffset(s.geom.KeySize))
	return r, nil
}

// ValueSize returns the length of the value stored under key, reading only
// the item's key and length field from the data file, not the value (whose
// CRC Fetch checks when it reads it): what a block store's GetSize needs.
// ErrNotFound when no item has the key.
func (s *Store) ValueSize(key []byte) (int, error) {
	h, c, err := s.enterKey(key)
	if err != nil {
		return 0, err
	}
	defer s.gate.exit(c, &s.closed)
	size := 0
	if s.opts.Sync == SyncWriteBehind && s.pending.find(h, key, func(v []byte) { size = len(v) }) {
		s.gate.count(h, true)
		return size, nil
	}
	_, err = s.lookupItem(h, key, nil, &size, false)
	s.gate.countResult(h, err)
	return size, err
}

// Size is the value's length in bytes.
func (r *ValueReader) Size() int64 { return r.size }

// ReadAt implements io.ReaderAt.
func (r *ValueReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("%w: negative offset %d", ErrInvalidArgument, off)
	}
	if off >= r.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), r.size-off))
	if r.held != nil {
		copy(p, r.held[off:off+int64(n)])
	} else {
		c, ok := r.s.gate.enter(0, &r.s.closed)
		if !ok {
			return 0, ErrClosed
		}
		err := r.s.reads.read(r.off+off, n, func(b []byte) error { copy(p, b); return nil })
		r.s.gate.exit(c, &r.s.closed)
		if err != nil {
			return 0, err
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Read implements io.Reader.
func (r *ValueReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, err := r.ReadAt(p, r.pos)
	r.pos += int64(n)
	if errors.Is(err, io.EOF) && n > 0 {
		err = nil // io.Reader: the EOF comes with the next call
	}
	return n, err
}

// Seek implements io.Seeker.
func (r *ValueReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.pos
	case io.SeekEnd:
		offset += r.size
	default:
		return 0, fmt.Errorf("%w: whence %d", ErrInvalidArgument, whence)
	}
	if offset < 0 {
		return 0, fmt.Errorf("%w: seek to %d", ErrInvalidArgument, offset)
	}
	r.pos = offset
	return offset, nil
}

// InsertReader inserts the value read from r (to its end) under key, as
// Insert does. It reads at most MaxValueSize bytes: a longer stream is
// ErrValueSize and nothing is inserted. The value is read into memory
// first, since a record is hashed and checked whole before it is written.
func (s *Store) InsertReader(key []byte, r io.Reader) error {
	if s.w == nil {
		return ErrReadOnly
	}
	if r == nil {
		return fmt.Errorf("%w: nil reader", ErrInvalidArgument)
	}
	if err := s.checkKey(key); err != nil {
		return err
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(r, MaxValueSize+1)); err != nil {
		return fmt.Errorf("nudb: reading the value: %w", err)
	}
	if buf.Len() > MaxValueSize {
		return fmt.Errorf("%w: the reader holds more than %d bytes", ErrValueSize, MaxValueSize)
	}
	return s.Insert(key, buf.Bytes())
}
