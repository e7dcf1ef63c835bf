package keyfile

import "golang.org/x/sys/unix"

// populate faults a mapping's pages in with one call, batched by the
// kernel, rather than one fault per page as Open reads the page headers;
// on a kernel without MADV_POPULATE_READ they fault in as read.
func populate(mem []byte) { _ = unix.Madvise(mem, unix.MADV_POPULATE_READ) }

// fallocate gives the file blocks for [off, off+n); EOPNOTSUPP where the
// filesystem cannot.
func fallocate(fd int, off, n int64) error { return unix.Fallocate(fd, 0, off, n) }
