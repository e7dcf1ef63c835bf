// Package ioengine is nudb's I/O layer for the data file: a small io_uring
// driver of its own, a pwrite fallback, a buffered engine, block-aligned
// buffer arenas outside the Go heap, block-device probing and the
// exclusive store lock.
//
// A File has two descriptors on the data file: Fd, opened O_DIRECT, for the
// durable writes (io_uring or pwrite, with RWF_DSYNC), and BufFd, through the
// page cache, for every read and for the writes of the modes that are
// acknowledged once the kernel holds them (NewBuffered). The kernel keeps the
// two coherent: a direct write first writes back dirty cached pages in its
// range and then drops the cached pages it covers.
//
// # Why not giouring
//
// DESIGN.md names github.com/pawelgaczynski/giouring. Its only resolvable
// version (2023) carries a //go:linkname to syscall.munmap that Go 1.23 and
// later refuse to link without -ldflags=-checklinkname=0, and its READ/WRITE
// preparation leaves rw-flags from an earlier FSYNC in a reused SQE. A library
// cannot ask every program that imports it for a linker flag, so nudb drives
// the ring itself through golang.org/x/sys/unix: setup, the three mmapped
// regions, WRITE and NOP, and io_uring_enter. That is all the store needs.
//
// # Invariants
//
//   - Every buffer handed to an Engine comes from an Arena: anonymous mmap
//     memory that the Go garbage collector never moves or frees, so the
//     kernel may keep its address for as long as the I/O is in flight.
//   - Buffers, offsets and lengths are multiples of the block size (O_DIRECT;
//     the buffered engine is given the same records).
//   - An Engine reports every submitted write exactly once through Wait, with
//     the number of bytes written or an error; a short write is an error.
//   - A write submitted with dsync=true is durable when its completion is
//     reported (RWF_DSYNC: FUA or a cache flush by the kernel). A plain write
//     is durable only after a later Datasync returns.
//   - One goroutine submits (SubmitWrite, Datasync) and one other may reap
//     (Wait) at the same time; nothing else about an Engine is concurrent.
//     The buffered engine's own goroutine only starts writeback
//     (sync_file_range) of ranges already written, which no durability
//     claim rests on; Close stops it.
package ioengine
