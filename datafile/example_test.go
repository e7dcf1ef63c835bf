package datafile_test

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/nudbgo/nudb/datafile"
)

// mem is a data file in memory.
type mem []byte

func (m mem) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(m)) {
		return 0, nil
	}
	return copy(p, m[off:]), nil
}

// Build a log of three records with a Builder, damage the middle one, and
// walk it: the Walker steps over the damage and says where it was.
func Example() {
	g := datafile.Geometry{UID: [16]byte{1}, BlockSize: 512, KeySize: 8}
	sb := datafile.Superblock{Version: datafile.FormatVersion, BlockSize: 512, KeySize: 8, UID: g.UID}
	file := make(mem, 512)
	sb.Encode(file)

	b := datafile.NewBuilder(g.UID, g.KeySize, g.BlockSize)
	hs := datafile.NewHasher()
	buf := make([]byte, 4096)
	var prev datafile.Header
	for i := 0; i < 3; i++ {
		b.Reset(buf)
		b.Add([]byte(fmt.Sprintf("key-%04d", i)), bytes.Repeat([]byte{'v'}, 100))
		off := int64(len(file))
		h, rec := b.Finish(hs, datafile.Header{Offset: off, Seq: prev.Seq + 1, Epoch: 1,
			PrevOffset: prev.Offset, PrevHash: prev.Hash, Durable: off})
		file = append(file, rec...)
		prev = h
	}
	file[512*2+200] ^= 0xFF // media damage in the second record

	w := datafile.NewWalker(g, file, int64(len(file)), make([]byte, 2*datafile.MaxRecordSize(8, 512)), g.LogStart(), datafile.Header{}, false)
	for {
		r, err := w.Next()
		if errors.Is(err, datafile.ErrEndOfLog) {
			break
		}
		datafile.EachItem(r.Payload, r.Items, r.PayloadOffset(), g.KeySize, func(_ int64, k, _ []byte) error {
			fmt.Printf("record %d: %s\n", r.Seq, k)
			return nil
		})
	}
	for _, gap := range w.Gaps {
		fmt.Printf("stepped over %d record(s) at %d..%d\n", gap.Lost(), gap.At, gap.Next)
	}
	// Output:
	// record 1: key-0000
	// record 3: key-0002
	// stepped over 1 record(s) at 1024..1536
}
