//go:build !amd64 && !arm64

package keyfile

import "unsafe"

// prefetch does nothing where there is no prefetch instruction wired up
// (see prefetch_asm.go).
func prefetch(unsafe.Pointer) {}
