package nudb

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"testing"
)

// A 16 MiB value goes in from a reader and comes out through FetchReader
// in place (io.Copy, ReadAt, Seek), byte for byte; a longer stream is
// ErrValueSize; a damaged value is ErrCorrupt before any byte is read.
func TestLargeValues(t *testing.T) {
	for _, mode := range []SyncMode{SyncAlways, SyncWriteBehind} {
		t.Run(mode.String(), func(t *testing.T) {
			ts := newStore(t, &Options{Sync: mode, MaxRecordSize: 32 << 20})
			big := make([]byte, MaxValueSize)
			for i := range big {
				big[i] = byte(i*31 + i>>13)
			}
			if err := ts.InsertReader(testKey(1), bytes.NewReader(big)); err != nil {
				t.Fatal(err)
			}
			r, err := ts.FetchReader(testKey(1))
			if err != nil {
				t.Fatal(err)
			}
			if r.Size() != MaxValueSize {
				t.Fatalf("size %d", r.Size())
			}
			h := sha256.New()
			if n, err := io.Copy(h, r); err != nil || n != MaxValueSize {
				t.Fatalf("copy: %d %v", n, err)
			}
			if sum := sha256.Sum256(big); !bytes.Equal(h.Sum(nil), sum[:]) {
				t.Fatal("the value read back differs")
			}
			p := make([]byte, 1000)
			for _, off := range []int64{0, 12345, MaxValueSize - 1000} {
				if n, err := r.ReadAt(p, off); n != 1000 || (err != nil && err != io.EOF) || !bytes.Equal(p, big[off:off+1000]) {
					t.Fatalf("ReadAt %d: %d %v", off, n, err)
				}
			}
			if n, err := r.ReadAt(p, MaxValueSize-10); n != 10 || err != io.EOF {
				t.Fatalf("ReadAt past the end: %d %v", n, err)
			}
			if pos, err := r.Seek(-5, io.SeekEnd); err != nil || pos != MaxValueSize-5 {
				t.Fatalf("seek: %d %v", pos, err)
			}
			if rest, err := io.ReadAll(r); err != nil || !bytes.Equal(rest, big[MaxValueSize-5:]) {
				t.Fatalf("read after seek: %v", err)
			}
			if err := ts.InsertReader(testKey(2), io.MultiReader(bytes.NewReader(big), bytes.NewReader([]byte{1}))); !errors.Is(err, ErrValueSize) {
				t.Fatalf("17 MiB from a reader: %v, want ErrValueSize", err)
			}
			if ok, _ := ts.Exists(testKey(2)); ok {
				t.Fatal("the refused value was stored")
			}
			if _, err := ts.FetchReader(testKey(3)); !errors.Is(err, ErrNotFound) {
				t.Fatalf("absent key: %v", err)
			}
			if err := ts.Close(); err != nil {
				t.Fatal(err)
			}
			if mode == SyncWriteBehind {
				return // the value was in memory at first: the reader held its copy
			}
			if _, err := r.ReadAt(p, 0); !errors.Is(err, ErrClosed) {
				t.Fatalf("ReadAt after Close: %v, want ErrClosed", err)
			}
			// Damage one byte of the value on disk: the CRC check refuses it.
			data, err := os.ReadFile(ts.data)
			if err != nil {
				t.Fatal(err)
			}
			at := bytes.Index(data, big[5000:5100])
			if at < 0 {
				t.Fatal("value not found in the data file")
			}
			f, err := os.OpenFile(ts.data, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteAt([]byte{data[at] ^ 0xff}, int64(at))
			f.Close()
			ts.reopen(t)
			if _, err := ts.FetchReader(testKey(1)); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("a damaged value: %v, want ErrCorrupt", err)
			}
		})
	}
}

// ValueSize answers from the item's key and length field: the right length
// for small values, for values past the 16 bits a key-file slot holds, and
// for items still held in memory under SyncWriteBehind; ErrNotFound for a
// key that is absent; the wrong key size is refused.
func TestValueSize(t *testing.T) {
	for _, mode := range []SyncMode{SyncAlways, SyncWriteBehind} {
		t.Run(mode.String(), func(t *testing.T) {
			ts := newStore(t, &Options{Sync: mode})
			sizes := []int{0, 1, 100, 65534, 65535, 300_000}
			for i, n := range sizes {
				if err := ts.Insert(testKey(i), make([]byte, n)); err != nil {
					t.Fatal(err)
				}
			}
			for i, n := range sizes {
				if got, err := ts.ValueSize(testKey(i)); err != nil || got != n {
					t.Fatalf("item %d: ValueSize %d, %v; want %d", i, got, err, n)
				}
			}
			if _, err := ts.ValueSize(testKey(99)); !errors.Is(err, ErrNotFound) {
				t.Fatalf("absent key: %v", err)
			}
			if _, err := ts.ValueSize([]byte("short")); !errors.Is(err, ErrKeySize) {
				t.Fatalf("short key: %v", err)
			}
		})
	}
}
