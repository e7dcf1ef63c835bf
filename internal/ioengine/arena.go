package ioengine

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Arena is block-aligned memory outside the Go heap for O_DIRECT I/O. The
// garbage collector neither moves nor frees it, so an address given to the
// kernel stays valid until Free. Pages are faulted in on first touch, so a
// large arena costs address space, not memory.
type Arena struct {
	mem []byte
}

// NewArena maps size bytes (rounded up to the page size) of anonymous memory.
func NewArena(size int) (*Arena, error) {
	page := unix.Getpagesize()
	size = (size + page - 1) / page * page
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|mapAnon)
	if err != nil {
		return nil, fmt.Errorf("ioengine: mmap arena of %d bytes: %w", size, err)
	}
	return &Arena{mem: mem}, nil
}

// Bytes is the whole arena; it is page aligned.
func (a *Arena) Bytes() []byte { return a.mem }

// Free unmaps the arena. No I/O may be in flight on it.
func (a *Arena) Free() error {
	if a.mem == nil {
		return nil
	}
	err := unix.Munmap(a.mem)
	a.mem = nil
	return err
}
