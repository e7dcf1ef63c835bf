package keyfile

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func testIdentity() Identity {
	id := Identity{KeySize: 32, BlockSize: 4096, Salt: 99}
	id.UID[0] = 7
	return id
}

func newTestFile(t *testing.T) (string, *File) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key")
	if err := Create(path, testIdentity(), 4096); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path, testIdentity(), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return path, f
}

func keyOf(i int) []byte {
	k := make([]byte, 32)
	binary.LittleEndian.PutUint64(k, uint64(i))
	return k
}

// offOf is a distinct fake item offset for item i.
func offOf(i int) int64 { return 4096 + 136 + int64(i)*100 }

// insertItems indexes items 0..n-1 (values of one byte).
func insertItems(t *testing.T, f *File, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if err := f.Insert(Hash(99, keyOf(i)), offOf(i), 1); err != nil {
			t.Fatal(err)
		}
	}
}

func find(f *File, i int) bool {
	for _, c := range f.Lookup(Hash(99, keyOf(i)), nil) {
		if c.Offset == offOf(i) {
			return true
		}
	}
	return false
}

func TestInsertLookupGrowAndReopen(t *testing.T) {
	path, f := newTestFile(t)
	const n = 100000
	for i := 0; i < n; i++ {
		if err := f.Insert(Hash(99, keyOf(i)), offOf(i), i%70000); err != nil {
			t.Fatal(err)
		}
	}
	st := f.Stats()
	if st.Items != n || st.Buckets < n/SlotsPerPage {
		t.Fatalf("stats after %d inserts: %+v", n, st)
	}
	for i := 0; i < n; i++ {
		if !find(f, i) {
			t.Fatalf("item %d not found after growth", i)
		}
	}
	if err := f.WriteCheckpoint(Checkpoint{Offset: offOf(n)}); err != nil {
		t.Fatal(err)
	}
	if f.Stats().Stale != 0 {
		t.Fatalf("stale entries left after checkpoint: %d", f.Stats().Stale)
	}
	f.Close()
	g, err := Open(path, testIdentity(), true)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if g.Stats().Items != n {
		t.Fatalf("reopened with %d items, want %d", g.Stats().Items, n)
	}
	for i := 0; i < n; i += 7 {
		if !find(g, i) {
			t.Fatalf("item %d lost across reopen", i)
		}
	}
}

func TestRepairDropsEntriesPastCut(t *testing.T) {
	_, f := newTestFile(t)
	insertItems(t, f, 5000)
	r := f.Repair(offOf(3000), offOf(5000), 4096)
	if r.Dropped != 2000 || r.Items != 3000 {
		t.Fatalf("repair: %+v", r)
	}
	for i := 0; i < 5000; i++ {
		if find(f, i) != (i < 3000) {
			t.Fatalf("item %d: found=%v after repair at 3000", i, find(f, i))
		}
	}
}

func TestOpenRejectsForeignAndDamaged(t *testing.T) {
	path, f := newTestFile(t)
	f.Close()
	other := testIdentity()
	other.UID[1] = 1
	if _, err := Open(path, other, false); !errors.Is(err, ErrForeign) {
		t.Fatalf("foreign: %v", err)
	}
	b, _ := os.ReadFile(path)
	b[20] ^= 1 // inside the identity: the header CRC fails
	os.WriteFile(path, b, 0o644)
	if _, err := Open(path, testIdentity(), false); !errors.Is(err, ErrDamaged) {
		t.Fatalf("damaged: %v", err)
	}
	b[5] ^= 1 // the magic: not a key file at all, never to be rebuilt over
	os.WriteFile(path, b, 0o644)
	if _, err := Open(path, testIdentity(), false); !errors.Is(err, ErrNotKeyFile) || Unusable(err) {
		t.Fatalf("bad magic: %v, want ErrNotKeyFile", err)
	}
	os.WriteFile(path, nil, 0o644)
	if _, err := Open(path, testIdentity(), false); !errors.Is(err, ErrMissing) {
		t.Fatalf("empty: %v", err)
	}
	if _, err := Open(path+".none", testIdentity(), false); !errors.Is(err, ErrMissing) {
		t.Fatalf("missing: %v", err)
	}
}

func FuzzOpen(f *testing.F) {
	dir := f.TempDir()
	seed := filepath.Join(dir, "seed")
	if err := Create(seed, testIdentity(), 4096); err != nil {
		f.Fatal(err)
	}
	b, _ := os.ReadFile(seed)
	f.Add(b[:HeaderSize], b[HeaderSize:])
	f.Fuzz(func(t *testing.T, hdr, page []byte) {
		buf := make([]byte, 2*HeaderSize)
		copy(buf, hdr)
		copy(buf[HeaderSize:], page)
		path := filepath.Join(t.TempDir(), "key")
		os.WriteFile(path, buf, 0o644)
		g, err := Open(path, testIdentity(), false)
		if err != nil {
			return
		}
		defer g.Close()
		g.Lookup(12345, nil)
		g.Repair(8192, 8192, 4096)
		_ = g.Insert(Hash(99, keyOf(1)), offOf(1), 1)
	})
}

// FuzzHeader feeds arbitrary bytes to everything Open reads from a key
// file (identity, checkpoint slots, geometry, page headers and chains, the
// slot sweep), in memory, so the fuzzer runs thousands of inputs a second.
func FuzzHeader(f *testing.F) {
	seed := filepath.Join(f.TempDir(), "seed")
	if err := Create(seed, testIdentity(), 4096); err != nil {
		f.Fatal(err)
	}
	b, _ := os.ReadFile(seed)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		mem := make([]byte, max(HeaderSize+BucketSize, (len(b)+BucketSize-1)/BucketSize*BucketSize))
		copy(mem, b)
		if checkIdentity(mem[:HeaderSize], testIdentity()) != nil {
			return
		}
		cp, _, ok := latestCheckpoint(mem[:HeaderSize])
		if !ok || checkGeometry(cp, int64(len(mem))) != nil {
			return
		}
		// Checked (what every open does) and unchecked (a part of a table
		// checked before: whatever the pages hold, no walk may fault or
		// hang). A checked table visits each page once; an unchecked one
		// may walk a cycle, at most the page count long, from each bucket.
		for _, check := range []bool{true, false} {
			var tb table
			if tb.load(slices.Clone(mem), cp.Buckets, cp.Pages, check) != nil {
				continue
			}
			tb.sweep(func(b, h, w uint64) bool { return w&1 == 1 })
			limit := uint64(len(mem) / slotBytes)
			if !check {
				limit = cp.Buckets * cp.Pages * SlotsPerPage
			}
			if tb.items+tb.stale > limit {
				t.Fatalf("check %v: swept %d entries, at most %d possible", check, tb.items+tb.stale, limit)
			}
		}
	})
}
