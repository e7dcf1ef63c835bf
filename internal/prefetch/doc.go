// Package prefetch asks the processor to start fetching cache lines that a
// lookup is about to read, so that misses which do not depend on each other
// overlap instead of following one another. A prefetch is a hint: it never
// faults, not even on an address that is not mapped, and no instruction
// waits for it; where the architecture has no prefetch wired up here it
// does nothing.
package prefetch

import "unsafe"

// lineSize is the cache line size assumed for striding.
const lineSize = 64

// Lines prefetches every cache line of b.
func Lines(b []byte) {
	if len(b) == 0 {
		return
	}
	for o := 0; o < len(b); o += lineSize {
		line(unsafe.Pointer(&b[o]))
	}
	// The last byte may sit in a line the stride did not reach.
	line(unsafe.Pointer(&b[len(b)-1]))
}

// Line prefetches the cache line that holds b[0]; it does nothing for an
// empty b.
func Line(b []byte) {
	if len(b) > 0 {
		line(unsafe.Pointer(&b[0]))
	}
}
