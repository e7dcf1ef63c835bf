//go:build linux

package ioengine

import (
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Kernel ABI constants (include/uapi/linux/io_uring.h).
const (
	sysIOUringSetup = 425
	sysIOUringEnter = 426

	offSQRing = 0
	offCQRing = 0x8000000
	offSQEs   = 0x10000000

	featSingleMmap = 1 << 0
	enterGetEvents = 1 << 0

	opNop   = 0
	opWrite = 23

	sqeSize = 64
	cqeSize = 16
)

// uringParams mirrors struct io_uring_params (120 bytes).
type uringParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFd uint32
	resv                                                                   [3]uint32
	sqOff                                                                  sqringOffsets
	cqOff                                                                  cqringOffsets
}

type sqringOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

type cqringOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

// sqe mirrors struct io_uring_sqe for the fields nudb uses. It is always
// written whole, so no field is left over from an earlier use of the slot
// (the rw-flags bug of giouring).
type sqe struct {
	opcode      uint8
	flags       uint8
	ioprio      uint16
	fd          int32
	off         uint64
	addr        uint64
	len         uint32
	rwFlags     uint32
	userData    uint64
	bufIndex    uint16
	personality uint16
	spliceFdIn  int32
	addr3       uint64
	pad         uint64
}

type cqe struct {
	userData uint64
	res      int32
	flags    uint32
}

// Ring is a minimal io_uring instance. One goroutine may queue and submit
// while another reaps: the submission side (Queue, Submit with wait 0) and
// the completion side (Reap, Submit with wait > 0 and nothing queued) touch
// disjoint ring words, and the kernel allows concurrent io_uring_enter.
type Ring struct {
	fd      int
	sqRing  []byte
	cqRing  []byte // aliases sqRing with IORING_FEAT_SINGLE_MMAP
	sqeMem  []byte
	sqHead  *uint32 // written by the kernel
	sqTail  *uint32 // written by us
	sqMask  uint32
	sqArray unsafe.Pointer
	cqHead  *uint32 // written by us
	cqTail  *uint32 // written by the kernel
	cqMask  uint32
	cqes    unsafe.Pointer
	entries uint32
	// inflight counts operations queued and not yet reaped. It is atomic
	// because the submitting and the reaping goroutine may differ.
	inflight atomic.Int64
	unsubmit uint32 // SQEs queued but not yet passed to io_uring_enter (submitter only)
}

// NewRing sets up a ring with at least entries submission slots.
func NewRing(entries uint32) (*Ring, error) {
	var p uringParams
	fd, _, errno := unix.Syscall(sysIOUringSetup, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		if errno == unix.ENOSYS || errno == unix.EPERM || errno == unix.EACCES {
			return nil, fmt.Errorf("%w: io_uring_setup: %v", ErrUnavailable, errno)
		}
		return nil, fmt.Errorf("ioengine: io_uring_setup: %w", errno)
	}
	r := &Ring{fd: int(fd), entries: p.sqEntries}
	if err := r.mapRings(&p); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func (r *Ring) mapRings(p *uringParams) error {
	sqSize := int(p.sqOff.array + p.sqEntries*4)
	cqSize := int(p.cqOff.cqes + p.cqEntries*cqeSize)
	single := p.features&featSingleMmap != 0
	if single && cqSize > sqSize {
		sqSize = cqSize
	}
	var err error
	prot := unix.PROT_READ | unix.PROT_WRITE
	flags := unix.MAP_SHARED | unix.MAP_POPULATE
	if r.sqRing, err = unix.Mmap(r.fd, offSQRing, sqSize, prot, flags); err != nil {
		return fmt.Errorf("ioengine: mmap sq ring: %w", err)
	}
	r.cqRing = r.sqRing
	if !single {
		if r.cqRing, err = unix.Mmap(r.fd, offCQRing, cqSize, prot, flags); err != nil {
			return fmt.Errorf("ioengine: mmap cq ring: %w", err)
		}
	}
	if r.sqeMem, err = unix.Mmap(r.fd, offSQEs, int(p.sqEntries)*sqeSize, prot, flags); err != nil {
		return fmt.Errorf("ioengine: mmap sqes: %w", err)
	}
	// The ring memory is a kernel mapping shared with the kernel; the
	// pointers below stay valid until Close unmaps it. Head and tail words are
	// accessed only through sync/atomic, which gives the acquire/release
	// ordering the io_uring ABI requires.
	u32 := func(b []byte, off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&b[off])) }
	r.sqHead = u32(r.sqRing, p.sqOff.head)
	r.sqTail = u32(r.sqRing, p.sqOff.tail)
	r.sqMask = *u32(r.sqRing, p.sqOff.ringMask)
	r.sqArray = unsafe.Pointer(&r.sqRing[p.sqOff.array])
	r.cqHead = u32(r.cqRing, p.cqOff.head)
	r.cqTail = u32(r.cqRing, p.cqOff.tail)
	r.cqMask = *u32(r.cqRing, p.cqOff.ringMask)
	r.cqes = unsafe.Pointer(&r.cqRing[p.cqOff.cqes])
	return nil
}

// Close unmaps the rings and closes the ring descriptor.
func (r *Ring) Close() error {
	if r.sqeMem != nil {
		_ = unix.Munmap(r.sqeMem)
	}
	if r.cqRing != nil && (r.sqRing == nil || &r.cqRing[0] != &r.sqRing[0]) {
		_ = unix.Munmap(r.cqRing)
	}
	if r.sqRing != nil {
		_ = unix.Munmap(r.sqRing)
	}
	r.sqeMem, r.cqRing, r.sqRing = nil, nil, nil
	if r.fd >= 0 {
		err := unix.Close(r.fd)
		r.fd = -1
		return err
	}
	return nil
}

// InFlight is the number of operations queued or submitted and not yet reaped.
func (r *Ring) InFlight() int { return int(r.inflight.Load()) }

// Queue places one operation in the submission ring without entering the
// kernel. It fails when the ring is full; call Submit or Reap first.
func (r *Ring) Queue(op uint8, fd int, buf []byte, off int64, rwFlags uint32, userData uint64) error {
	head := atomic.LoadUint32(r.sqHead)
	tail := *r.sqTail // only we write the tail
	if tail-head >= r.entries || r.inflight.Load() >= int64(r.entries) {
		return fmt.Errorf("ioengine: submission ring full (%d entries)", r.entries)
	}
	idx := tail & r.sqMask
	s := (*sqe)(unsafe.Pointer(&r.sqeMem[idx*sqeSize]))
	var addr uintptr
	if len(buf) > 0 {
		// buf lives in an Arena (mmap memory the GC does not move), so its
		// address stays valid while the kernel uses it.
		addr = uintptr(unsafe.Pointer(&buf[0]))
	}
	*s = sqe{opcode: op, fd: int32(fd), off: uint64(off), addr: uint64(addr), len: uint32(len(buf)), rwFlags: rwFlags, userData: userData}
	*(*uint32)(unsafe.Add(r.sqArray, uintptr(idx)*4)) = idx
	r.inflight.Add(1)
	atomic.StoreUint32(r.sqTail, tail+1) // release: the SQE is visible before the tail
	r.unsubmit++
	return nil
}

// Submit passes the queued operations to the kernel and, when wait > 0,
// blocks until at least wait completions are available.
func (r *Ring) Submit(wait uint32) error {
	flags := uintptr(0)
	if wait > 0 {
		flags = enterGetEvents
	}
	for {
		n, _, errno := unix.Syscall6(sysIOUringEnter, uintptr(r.fd), uintptr(r.unsubmit), uintptr(wait), flags, 0, 0)
		if errno == unix.EINTR {
			if wait > 0 && r.unsubmit == 0 {
				continue
			}
			// A signal may arrive after submission; count what went in.
			r.unsubmit -= min(r.unsubmit, uint32(n))
			continue
		}
		if errno == unix.EAGAIN || errno == unix.EBUSY {
			// The kernel wants completions reaped first: do not spin here.
			return nil
		}
		if errno != 0 {
			return fmt.Errorf("ioengine: io_uring_enter: %w", errno)
		}
		r.unsubmit -= min(r.unsubmit, uint32(n))
		if r.unsubmit == 0 || wait == 0 {
			return nil
		}
	}
}

// wait blocks in io_uring_enter until a completion is available, without
// submitting (the submitter may be another goroutine).
func (r *Ring) wait() error {
	for {
		_, _, errno := unix.Syscall6(sysIOUringEnter, uintptr(r.fd), 0, 1, enterGetEvents, 0, 0)
		switch errno {
		case 0:
			return nil
		case unix.EINTR:
			continue
		case unix.EAGAIN, unix.EBUSY:
			return nil
		}
		return fmt.Errorf("ioengine: io_uring_enter: %w", errno)
	}
}

// Reap calls fn for every completion available now, without blocking.
func (r *Ring) Reap(fn func(userData uint64, res int32)) int {
	head := *r.cqHead
	tail := atomic.LoadUint32(r.cqTail) // acquire: CQEs below tail are written
	n := 0
	for head != tail {
		c := (*cqe)(unsafe.Add(r.cqes, uintptr(head&r.cqMask)*cqeSize))
		ud, res := c.userData, c.res
		head++
		n++
		atomic.StoreUint32(r.cqHead, head) // release the slot to the kernel
		r.inflight.Add(-1)
		fn(ud, res)
	}
	return n
}

// uringEngine drives data-file writes through a Ring.
type uringEngine struct {
	ring *Ring
	fd   int
	mu   sync.Mutex     // guards lens: SubmitWrite and Wait run on different goroutines
	lens map[uint64]int // expected length per in-flight id
}

func newUring(fd int, depth int) (*uringEngine, error) {
	if depth < 1 {
		depth = 8
	}
	r, err := NewRing(uint32(depth))
	if err != nil {
		return nil, err
	}
	// Probe once with a NOP: some sandboxes allow setup but refuse enter.
	if err := r.Queue(opNop, -1, nil, 0, 0, 0); err == nil {
		if err := r.Submit(1); err != nil {
			r.Close()
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		r.Reap(func(uint64, int32) {})
	}
	return &uringEngine{ring: r, fd: fd, lens: make(map[uint64]int, depth)}, nil
}

func (e *uringEngine) Name() string { return "io_uring" }

func (e *uringEngine) SubmitWrite(id uint64, buf []byte, off int64, dsync bool) error {
	var fl uint32
	if dsync {
		fl = unix.RWF_DSYNC
	}
	e.mu.Lock()
	e.lens[id] = len(buf)
	e.mu.Unlock()
	if err := e.ring.Queue(opWrite, e.fd, buf, off, fl, id); err != nil {
		return err
	}
	return e.ring.Submit(0)
}

func (e *uringEngine) Pending() int { return e.ring.InFlight() }

func (e *uringEngine) Wait(dst []Completion) ([]Completion, error) {
	if e.ring.InFlight() == 0 {
		return dst, nil
	}
	for {
		got := e.ring.Reap(func(id uint64, res int32) {
			e.mu.Lock()
			want := e.lens[id]
			delete(e.lens, id)
			e.mu.Unlock()
			var err error
			switch {
			case res < 0:
				err = fmt.Errorf("ioengine: io_uring write: %w", unix.Errno(-res))
			case int(res) != want:
				err = shortWrite(int(res), want)
			}
			dst = append(dst, Completion{ID: id, Err: err})
		})
		if got > 0 {
			return dst, nil
		}
		if err := e.ring.wait(); err != nil {
			return dst, err
		}
	}
}

func (e *uringEngine) Datasync() error { return Datasync(e.fd) }

func (e *uringEngine) Close() error { return e.ring.Close() }
