package ioengine

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"golang.org/x/sys/unix"
)

// Kind selects an I/O engine.
type Kind int

const (
	// Auto uses io_uring and falls back to pwrite when the kernel refuses it
	// (ENOSYS, EPERM: seccomp profiles of container runtimes).
	Auto Kind = iota
	// Uring forces io_uring; opening fails when it is refused.
	Uring
	// Pwrite forces the synchronous pwrite engine.
	Pwrite
)

// String names the kind as Stats reports it.
func (k Kind) String() string {
	switch k {
	case Uring:
		return "io_uring"
	case Pwrite:
		return "pwrite"
	default:
		return "auto"
	}
}

// ErrUnavailable reports that io_uring was refused by the kernel.
var ErrUnavailable = errors.New("ioengine: io_uring unavailable")

// Completion reports the outcome of one submitted write.
type Completion struct {
	ID  uint64 // the id given to SubmitWrite
	Err error  // nil when every byte was written
}

// Engine writes block-aligned buffers to one file descriptor.
type Engine interface {
	// Name is "io_uring", "pwrite" or "buffered".
	Name() string
	// SubmitWrite starts writing buf at off. The buffer must stay untouched
	// until Wait reports id. With dsync the write is durable on completion.
	SubmitWrite(id uint64, buf []byte, off int64, dsync bool) error
	// Pending is the number of submitted writes not yet reported by Wait.
	Pending() int
	// Wait blocks until at least one pending write completes (it returns at
	// once when none is pending) and appends every available completion.
	Wait(dst []Completion) ([]Completion, error)
	// Datasync makes every write reported complete so far durable.
	Datasync() error
	// Close releases the engine; it does not close the file descriptor.
	Close() error
}

// Engines allow one goroutine to call SubmitWrite and Datasync while one
// other goroutine calls Wait (the store's writer and its reaper); Pending
// may be called from either.

// New returns an engine of the given kind writing to fd.
func New(kind Kind, fd int, depth int) (Engine, error) {
	return newEngine(kind, fd, depth, func(fd, depth int) (Engine, error) { return newUring(fd, depth) })
}

// newEngine is New with the io_uring constructor as a parameter, so tests
// can play a kernel that refuses io_uring.
func newEngine(kind Kind, fd, depth int, uring func(fd, depth int) (Engine, error)) (Engine, error) {
	switch kind {
	case Pwrite:
		return newPwrite(fd), nil
	case Uring:
		return uring(fd, depth)
	default:
		// Any refusal to set up a ring (seccomp's EPERM, ENOSYS, a depth
		// the kernel rejects, a memlock limit) leaves pwrite, which
		// always works.
		e, err := uring(fd, depth)
		if err != nil {
			return newPwrite(fd), nil
		}
		return e, nil
	}
}

func shortWrite(n, want int) error {
	return fmt.Errorf("ioengine: wrote %d of %d bytes: %w", n, want, io.ErrShortWrite)
}

// NewBuffered returns the engine for a buffered descriptor (File.BufFd):
// synchronous pwrites into the page cache, each complete when SubmitWrite
// returns, so a write is acknowledged at memory speed and survives the
// process (not a power loss) from then on. Named "buffered".
func NewBuffered(fd int) Engine { return &pwriteEngine{fd: fd, name: "buffered"} }

// pwriteEngine is the fallback: each write is a synchronous pwritev2 whose
// completion is queued for the next Wait.
type pwriteEngine struct {
	fd   int
	name string
	mu   sync.Mutex // guards done: SubmitWrite and Wait run on different goroutines
	done []Completion
}

func newPwrite(fd int) *pwriteEngine { return &pwriteEngine{fd: fd, name: "pwrite"} }

func (e *pwriteEngine) Name() string { return e.name }

func (e *pwriteEngine) SubmitWrite(id uint64, buf []byte, off int64, dsync bool) error {
	var err error
	n := 0
	for n < len(buf) {
		var m int
		m, err = pwrite(e.fd, buf[n:], off+int64(n), dsync)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			break
		}
		if m == 0 {
			err = shortWrite(n, len(buf))
			break
		}
		n += m
	}
	if err != nil {
		err = fmt.Errorf("ioengine: pwrite at %d: %w", off, err)
	}
	e.mu.Lock()
	e.done = append(e.done, Completion{ID: id, Err: err})
	e.mu.Unlock()
	return nil
}

func (e *pwriteEngine) Pending() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.done)
}

func (e *pwriteEngine) Wait(dst []Completion) ([]Completion, error) {
	e.mu.Lock()
	dst = append(dst, e.done...)
	e.done = e.done[:0]
	e.mu.Unlock()
	return dst, nil
}

func (e *pwriteEngine) Datasync() error { return Datasync(e.fd) }

func (e *pwriteEngine) Close() error { return nil }

// Datasync makes the completed writes to fd durable (fdatasync, retried on EINTR).
func Datasync(fd int) error {
	for {
		err := datasync(fd)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("ioengine: fdatasync: %w", err)
		}
		return nil
	}
}
