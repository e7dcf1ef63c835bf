package ioengine

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The system calls that differ between Linux and the BSDs (sys_bsd.go),
// one home each.

// oDirect is the open flag for direct I/O.
const oDirect = unix.O_DIRECT

// mapAnon is the mmap flag for anonymous memory.
const mapAnon = unix.MAP_ANONYMOUS

// setDirect turns on direct I/O on an open descriptor where the open flag
// cannot (nothing to do on Linux).
func setDirect(fd int) error { return nil }

// pwrite writes b at off, durable on return when dsync (RWF_DSYNC: FUA or
// a cache flush by the kernel).
func pwrite(fd int, b []byte, off int64, dsync bool) (int, error) {
	flags := 0
	if dsync {
		flags = unix.RWF_DSYNC
	}
	return unix.Pwritev2(fd, [][]byte{b}, off, flags)
}

// datasync makes fd's written data durable.
func datasync(fd int) error { return unix.Fdatasync(fd) }

// allocate gives fd's file blocks for [off, off+n); EOPNOTSUPP where the
// filesystem cannot.
func allocate(fd int, off, n int64) error { return unix.Fallocate(fd, 0, off, n) }

// advise passes a page-cache hint on.
func advise(fd int, off, n int64, willNeed bool) {
	a := unix.FADV_DONTNEED
	if willNeed {
		a = unix.FADV_WILLNEED
	}
	_ = unix.Fadvise(fd, off, n, a)
}

// startWriteback asks the kernel to start writing the dirty cached pages of
// [off, off+n) to the device, without waiting for them (a hint: durability
// still comes only from Datasync).
func startWriteback(fd int, off, n int64) {
	_ = unix.SyncFileRange(fd, off, n, unix.SYNC_FILE_RANGE_WRITE)
}

// deviceGeometry reads a block device's size and logical block size.
func deviceGeometry(fd int) (size int64, logical int, err error) {
	var sz uint64
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.BLKGETSIZE64, uintptr(unsafe.Pointer(&sz))); errno != 0 {
		return 0, 0, errnoErr("BLKGETSIZE64", errno)
	}
	lbs, err := unix.IoctlGetInt(fd, unix.BLKSSZGET)
	if err != nil {
		return 0, 0, errnoErr("BLKSSZGET", err)
	}
	return int64(sz), lbs, nil
}
