package benchkit

import "encoding/binary"

const (
	keySize   = 32
	valueSize = 128
)

// splitmix is a fast, well-mixed 64-bit sequence.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// items generates the deterministic random keys and values of a workload.
// Keys from different seeds never collide in practice.
type items struct {
	seed      uint64
	valueSize int
}

// fill writes item i's key and value into k and v.
func (it items) fill(i int, k, v []byte) {
	x := it.seed<<40 ^ uint64(i)
	for j := 0; j < keySize; j += 8 {
		x = splitmix(x)
		binary.LittleEndian.PutUint64(k[j:], x)
	}
	for j := 0; j+8 <= len(v); j += 8 {
		x = splitmix(x)
		binary.LittleEndian.PutUint64(v[j:], x)
	}
}

// gen returns a generator for Load that reuses two buffers per call site.
// The DB must copy what it keeps before the next call.
func (it items) gen() func(i int) ([]byte, []byte) {
	k, v := make([]byte, keySize), make([]byte, it.valueSize)
	return func(i int) ([]byte, []byte) {
		it.fill(i, k, v)
		return k, v
	}
}

// key returns item i's key in a new slice.
func (it items) key(i int) []byte {
	k, v := make([]byte, keySize), make([]byte, it.valueSize)
	it.fill(i, k, v)
	return k
}

// loadBatched copies items [0, n) into batches of per items and hands each
// batch to write (the slices are valid during the call), reporting progress.
func loadBatched(n, per int, item func(i int) ([]byte, []byte), progress func(int), write func(keys, values [][]byte) error) error {
	var buf []byte
	keys := make([][]byte, 0, per)
	values := make([][]byte, 0, per)
	var offs []int
	for i := 0; i < n; {
		buf, keys, values, offs = buf[:0], keys[:0], values[:0], offs[:0]
		start := i
		for ; i < n && i-start < per; i++ {
			k, v := item(i)
			offs = append(offs, len(buf), len(k), len(v))
			buf = append(buf, k...)
			buf = append(buf, v...)
		}
		for j := 0; j < len(offs); j += 3 {
			o, kl, vl := offs[j], offs[j+1], offs[j+2]
			keys = append(keys, buf[o:o+kl])
			values = append(values, buf[o+kl:o+kl+vl])
		}
		if err := write(keys, values); err != nil {
			return err
		}
		if progress != nil {
			progress(i)
		}
	}
	return nil
}
