package datafile

import (
	"bytes"
	"errors"
	"testing"
)

type memFile []byte

func (m memFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(m)) {
		return 0, nil
	}
	return copy(p, m[off:]), nil
}

func TestSuperblockRoundTrip(t *testing.T) {
	sb := Superblock{Version: FormatVersion, BlockSize: 4096, KeySize: 32, Salt: 42, Created: 7}
	sb.UID[3] = 9
	b := make([]byte, 4096)
	sb.Encode(b)
	got, err := DecodeSuperblock(b)
	if err != nil || got != sb {
		t.Fatalf("decode: %+v, %v", got, err)
	}
	b[20] ^= 1
	if _, err := DecodeSuperblock(b); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("flipped byte: %v, want ErrCorrupt", err)
	}
	if _, err := DecodeSuperblock(make([]byte, 4096)); !errors.Is(err, ErrNotStore) {
		t.Fatalf("zero block: %v, want ErrNotStore", err)
	}
}

// buildLog writes n records of the given item counts into a memory file.
func buildLog(t *testing.T, g Geometry, counts []int) (memFile, [][]byte) {
	t.Helper()
	file := make(memFile, g.BlockSize)
	b := NewBuilder(g.UID, g.KeySize, g.BlockSize)
	hs := NewHasher()
	buf := make([]byte, 1<<20)
	prev := Header{}
	off := g.LogStart()
	var keys [][]byte
	for i, n := range counts {
		b.Reset(buf)
		for j := 0; j < n; j++ {
			key := bytes.Repeat([]byte{byte(i), byte(j)}, g.KeySize/2)
			val := bytes.Repeat([]byte{byte(j)}, j*300)
			if !b.Fits(len(val), 1<<20) {
				t.Fatal("item does not fit")
			}
			b.Add(key, val)
			keys = append(keys, key)
		}
		h, rec := b.Finish(hs, Header{Offset: off, Seq: prev.Seq + 1, Timestamp: int64(i), PrevOffset: prev.Offset, PrevHash: prev.Hash})
		if i == 0 {
			h.PrevOffset = 0
		}
		file = append(file, rec...)
		prev = h
		off += int64(len(rec))
	}
	return file, keys
}

func TestScannerWalksChainAndStopsAtTear(t *testing.T) {
	g := Geometry{BlockSize: 512, KeySize: 8}
	g.UID[0] = 1
	file, keys := buildLog(t, g, []int{1, 3, 0, 5, 2})
	scan := func(f memFile) (int, []byte) {
		s := NewScanner(g, f, int64(len(f)), make([]byte, 1<<20), g.LogStart(), Header{}, false)
		var got []byte
		n := 0
		for {
			r, err := s.Next()
			if errors.Is(err, ErrEndOfLog) {
				return n, got
			}
			n++
			if err := EachItem(r.Payload, r.Items, r.PayloadOffset(), g.KeySize, func(off int64, k, v []byte) error {
				got = append(got, k...)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	n, got := scan(file)
	if n != 5 || !bytes.Equal(got, bytes.Join(keys, nil)) {
		t.Fatalf("scanned %d records, keys match %v", n, bytes.Equal(got, bytes.Join(keys, nil)))
	}
	// Tear one sector of the fourth record: the log must end before it,
	// even though the fifth record still hashes correctly.
	torn := append(memFile(nil), file...)
	s := NewScanner(g, file, int64(len(file)), make([]byte, 1<<20), g.LogStart(), Header{}, false)
	var fourth int64
	for i := 0; i < 3; i++ {
		s.Next()
	}
	fourth = s.Pos()
	torn[fourth+600] ^= 0xff
	if n, _ := scan(torn); n != 3 {
		t.Fatalf("torn log scanned %d records, want 3", n)
	}
}

func FuzzDecodeSuperblock(f *testing.F) {
	b := make([]byte, 512)
	(&Superblock{Version: 1, BlockSize: 4096, KeySize: 32}).Encode(b)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		if sb, err := DecodeSuperblock(b); err == nil {
			if CheckGeometry(int(sb.BlockSize), int(sb.KeySize)) != nil {
				t.Fatal("accepted a superblock with bad geometry")
			}
		}
	})
}

func FuzzRecord(f *testing.F) {
	g := Geometry{BlockSize: 512, KeySize: 4}
	b := NewBuilder(g.UID, g.KeySize, g.BlockSize)
	buf := make([]byte, 4096)
	b.Reset(buf)
	b.Add([]byte("abcd"), []byte("value"))
	_, rec := b.Finish(NewHasher(), Header{Offset: 512, Seq: 1})
	f.Add(append([]byte(nil), rec...))
	f.Fuzz(func(t *testing.T, data []byte) {
		file := append(make(memFile, 512), data...)
		s := NewScanner(g, file, int64(len(file)), make([]byte, 1<<16), 512, Header{}, false)
		for i := 0; i < 4; i++ {
			r, err := s.Next()
			if err != nil {
				return
			}
			_ = EachItem(r.Payload, r.Items, r.PayloadOffset(), g.KeySize, func(int64, []byte, []byte) error { return nil })
		}
		_, _ = ReadRecord(g, file, make([]byte, 1<<16), NewHasher(), 512)
	})
}
