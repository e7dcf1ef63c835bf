//go:build amd64 || arm64

package prefetch

import "unsafe"

// line asks the processor to bring the cache line at p closer (x86
// PREFETCHT0, arm64 PRFM PLDL1KEEP). It is a hint: it never faults, even on
// an address that is not mapped, and nothing waits for it. p is only
// passed to the instruction, never dereferenced by Go, which is why an
// unsafe.Pointer is safe here.
//
//go:noescape
func line(p unsafe.Pointer)
