//go:build darwin || freebsd

package ioengine

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// The BSD side of sys_linux.go: no io_uring, no RWF_DSYNC, no fallocate, no
// raw devices. Development machines run nudb here; the durable paths fall
// back to pwrite + a full sync.

const mapAnon = unix.MAP_ANON

func pwrite(fd int, b []byte, off int64, dsync bool) (int, error) {
	n, err := unix.Pwrite(fd, b, off)
	if err == nil && dsync {
		err = datasync(fd)
	}
	return n, err
}

func allocate(fd int, off, n int64) error { return unix.EOPNOTSUPP }

func advise(fd int, off, n int64, willNeed bool) {}

func startWriteback(fd int, off, n int64) {}

func deviceGeometry(fd int) (int64, int, error) {
	return 0, 0, fmt.Errorf("%w: raw block devices are supported on Linux only", ErrNotFile)
}
