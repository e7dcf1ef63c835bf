//go:build !amd64 && !arm64

package prefetch

import "unsafe"

// line does nothing where there is no prefetch instruction wired up
// (see prefetch_asm.go).
func line(unsafe.Pointer) {}
