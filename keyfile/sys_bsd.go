//go:build darwin || freebsd

package keyfile

import "golang.org/x/sys/unix"

// populate: pages fault in as Open reads them.
func populate(mem []byte) {}

// fallocate: no fallocate here; allocate writes zeros instead.
func fallocate(fd int, off, n int64) error { return unix.EOPNOTSUPP }
