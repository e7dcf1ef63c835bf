package ioengine

import "golang.org/x/sys/unix"

// macOS has no O_DIRECT: F_NOCACHE on the descriptor bypasses the cache.
const oDirect = 0

func setDirect(fd int) error {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_NOCACHE, 1)
	return err
}

// datasync is F_FULLFSYNC: fsync on macOS does not flush the drive's cache.
func datasync(fd int) error {
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_FULLFSYNC, 0); err != nil {
		return unix.Fsync(fd)
	}
	return nil
}
