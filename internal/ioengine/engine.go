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
//
// Every writebackEvery bytes it writes, it has the kernel start writing
// them to the device (sync_file_range, SYNC_FILE_RANGE_WRITE) without
// waiting, so the device writes the log while the store goes on and the
// next Datasync (the store syncs before each checkpoint) finds most pages
// clean instead of writing them all while the writer waits. The call
// builds the device's requests for its pages, work that would hold up the
// writer, so a goroutine of the engine's own makes it (writeback), and a
// range it is still busy with when the next is ready is merged into that
// next one. The hint changes nothing about durability: only Datasync
// makes writes durable.
func NewBuffered(fd int) Engine { return newBuffered(fd, writebackEvery, startWriteback) }

// newBuffered is NewBuffered with the hint's step and system call given
// (tests watch the ranges).
func newBuffered(fd int, every int64, start func(fd int, off, n int64)) *pwriteEngine {
	e := &pwriteEngine{fd: fd, name: "buffered", writebackEvery: every, startWriteback: start,
		hints: make(chan [2]int64, 1), hinterDone: make(chan struct{})}
	go e.writeback()
	return e
}

// writebackEvery is how many written bytes the buffered engine gathers
// before it starts their writeback: large enough that the hint is one
// system call per thousands of records, small enough that the device
// keeps up with a load as it goes.
const writebackEvery = 8 << 20

// pwriteEngine is the fallback: each write is a synchronous pwritev2 whose
// completion is queued for the next Wait.
type pwriteEngine struct {
	fd   int
	name string
	mu   sync.Mutex // guards done: SubmitWrite and Wait run on different goroutines
	done []Completion
	// Early writeback (buffered engine only; hints nil: off):
	// [hintFrom, hintTo) is the range written since the last hint was
	// handed to the writeback goroutine through hints. Only SubmitWrite's
	// goroutine touches hintFrom and hintTo.
	writebackEvery   int64
	hintFrom, hintTo int64
	hints            chan [2]int64
	hinterDone       chan struct{}
	startWriteback   func(fd int, off, n int64)
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
	} else if e.hints != nil {
		e.hint(off, off+int64(n))
	}
	e.mu.Lock()
	e.done = append(e.done, Completion{ID: id, Err: err})
	e.mu.Unlock()
	return nil
}

// hint adds [from, to) to the range written since the last writeback
// hint and hands that range to the writeback goroutine once it holds
// writebackEvery bytes, unless the goroutine is still busy with the one
// before: then the range keeps growing until the next write. Appends
// extend the range; a write elsewhere (not the store's pattern) starts a
// new one.
func (e *pwriteEngine) hint(from, to int64) {
	if from != e.hintTo {
		e.hintFrom = from
	}
	e.hintTo = to
	if e.hintTo-e.hintFrom < e.writebackEvery {
		return
	}
	select {
	case e.hints <- [2]int64{e.hintFrom, e.hintTo}:
		e.hintFrom = e.hintTo
	default:
	}
}

// writeback is the engine's goroutine that starts the writeback of the
// ranges hint hands it, until Close.
func (e *pwriteEngine) writeback() {
	defer close(e.hinterDone)
	for r := range e.hints {
		e.startWriteback(e.fd, r[0], r[1]-r[0])
	}
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

func (e *pwriteEngine) Close() error {
	if e.hints != nil {
		close(e.hints)
		<-e.hinterDone
		e.hints = nil
	}
	return nil
}

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
