package ioengine

import "golang.org/x/sys/unix"

const oDirect = unix.O_DIRECT

func setDirect(fd int) error { return nil }

func datasync(fd int) error { return unix.Fsync(fd) }
