//go:build !linux

package ioengine

// newUring is the io_uring engine; io_uring is Linux's alone.
func newUring(fd, depth int) (Engine, error) { return nil, ErrUnavailable }
