package nudb

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/nudbgo/nudb/datafile"
)

// damagedStore makes a closed store of n items and returns it.
func damagedStore(t *testing.T, n int) *testStore {
	t.Helper()
	ts := newStore(t, &Options{Sync: SyncNever, MaxRecordSize: 8 << 10})
	for i := 0; i < n; i++ {
		if err := ts.Insert(testKey(i), testValue(i%49+1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	return ts
}

func garbage(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func overwrite(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// expectAll opens the store and checks items [from, to) are all there, then
// closes it and runs Verify.
func expectAll(t *testing.T, ts *testStore, from, to int) RecoveryStats {
	t.Helper()
	ts.reopen(t)
	rec := ts.Stats().Recovery
	for i := from; i < to; i++ {
		v, err := ts.Fetch(testKey(i))
		if err != nil || !bytes.Equal(v, testValue(i%49+1)) {
			t.Fatalf("item %d after damage: %v (recovery %+v)", i, err, rec)
		}
	}
	ts.Close()
	if rep, err := Verify(ts.data, ts.key, nil); err != nil || !rep.OK() {
		t.Fatalf("verify after damage: %v %+v", err, rep.Problems)
	}
	return rec
}

func TestDamagedKeyFile(t *testing.T) {
	const n = 3000
	cases := map[string]func(t *testing.T, ts *testStore){
		"deleted":     func(t *testing.T, ts *testStore) { os.Remove(ts.key) },
		"zero-length": func(t *testing.T, ts *testStore) { os.WriteFile(ts.key, nil, 0o644) },
		"damaged-header": func(t *testing.T, ts *testStore) {
			overwrite(t, ts.key, 20, garbage(100, 1)) // inside the identity, after the magic
		},
		"garbage-pages": func(t *testing.T, ts *testStore) {
			st, _ := os.Stat(ts.key)
			overwrite(t, ts.key, st.Size()/2&^511, garbage(8192, 2))
		},
		"another-store": func(t *testing.T, ts *testStore) {
			other := newStore(t, nil)
			other.Close()
			b, _ := os.ReadFile(other.key)
			os.WriteFile(ts.key, b, 0o644)
		},
		"truncated": func(t *testing.T, ts *testStore) {
			st, _ := os.Stat(ts.key)
			os.Truncate(ts.key, st.Size()/3&^511)
		},
	}
	t.Run("not-a-key-file", func(t *testing.T) {
		// A key path that holds something else is refused, untouched.
		ts := damagedStore(t, 10)
		text := []byte("not a key file\n")
		os.WriteFile(ts.key, text, 0o644)
		if _, err := Open(ts.data, ts.key, nil); !errors.Is(err, ErrNotStore) {
			t.Fatalf("open over a text file at the key path: %v, want ErrNotStore", err)
		}
		if b, _ := os.ReadFile(ts.key); !bytes.Equal(b, text) {
			t.Fatal("the file at the key path was changed")
		}
	})
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			ts := damagedStore(t, n)
			damage(t, ts)
			rec := expectAll(t, ts, 0, n)
			if name != "garbage-pages" && !rec.Rebuilt {
				t.Fatalf("a %s key file was not rebuilt: %+v", name, rec)
			}
		})
	}
}

func TestGarbageOverDataTail(t *testing.T) {
	t.Run("file's last block", func(t *testing.T) {
		ts := damagedStore(t, 500)
		st, _ := os.Stat(ts.data)
		overwrite(t, ts.data, st.Size()-4096, garbage(4096, 3))
		expectAll(t, ts, 0, 500)
	})
	t.Run("last data record", func(t *testing.T) {
		ts := damagedStore(t, 500)
		last := lastDataRecord(t, ts)
		overwrite(t, ts.data, last+100, garbage(300, 4))
		// The newest data record of a closed store is durable: garbage
		// over it is media damage. Its items are lost (reported, never
		// wrong); every other item is there; nothing is cut.
		size := fileSize(t, ts.data)
		ts.reopen(t)
		lost := 0
		for i := 0; i < 500; i++ {
			v, err := ts.Fetch(testKey(i))
			switch {
			case errors.Is(err, ErrNotFound), errors.Is(err, ErrCorrupt):
				lost++
			case err != nil || !bytes.Equal(v, testValue(i%49+1)):
				t.Fatalf("item %d: %v", i, err)
			}
		}
		if lost == 0 || lost > 100 {
			t.Fatalf("%d items lost with the last record", lost)
		}
		ts.Close()
		if got := fileSize(t, ts.data); got < size {
			t.Fatalf("the data file shrank from %d to %d: damage was cut", size, got)
		}
		rep, err := Verify(ts.data, ts.key, nil)
		if err != nil || rep.OK() || !rep.Consistent() || rep.DamagedRecords != 1 {
			t.Fatalf("verify: %v damaged %d %+v", err, rep.DamagedRecords, rep.Problems)
		}
	})
}

func TestMediaDamageInTheMiddle(t *testing.T) {
	ts := newStore(t, &Options{Sync: SyncNever, MaxRecordSize: 8 << 10})
	const n = 600
	for i := 0; i < n; i++ {
		if err := ts.Insert(testKey(i), testValue(i%49+1)); err != nil {
			t.Fatal(err)
		}
	}
	ts.Close()
	// Damage a record in the first half, a moment old: below synced, so
	// media damage whatever its age (the clock decides nothing).
	overwrite(t, ts.data, 4096*5+300, garbage(700, 5))
	ts.reopen(t)
	corrupt := 0
	for i := 0; i < n; i++ {
		v, err := ts.Fetch(testKey(i))
		switch {
		case errors.Is(err, ErrCorrupt):
			corrupt++
		case err != nil || !bytes.Equal(v, testValue(i%49+1)):
			t.Fatalf("item %d: %v", i, err)
		}
	}
	if corrupt == 0 {
		t.Fatal("no fetch reported the damage")
	}
	ts.Close()
	rep, err := Verify(ts.data, ts.key, nil)
	if err != nil || rep.OK() || !rep.Consistent() || rep.DamagedRecords != 1 {
		t.Fatalf("verify of a damaged store: %v, damaged %d, problems %+v", err, rep.DamagedRecords, rep.Problems)
	}
	os.Remove(ts.key) // rebuild from the data file alone: the durable marks decide
	rb, err := Rebuild(ts.data, ts.key, nil)
	if err != nil || rb.DamagedRecords != 1 || !rb.Lost() || rb.TornAt != 0 {
		t.Fatalf("rebuild: %v %+v", err, rb)
	}
	ts.reopen(t)
	present := 0
	for i := 0; i < n; i++ {
		v, err := ts.Fetch(testKey(i))
		if err == nil && bytes.Equal(v, testValue(i%49+1)) {
			present++
		} else if !errors.Is(err, ErrNotFound) {
			t.Fatalf("item %d after rebuild: %v", i, err)
		}
	}
	// Only the damaged record's items are gone; everything after it stays.
	if present != n-corrupt {
		t.Fatalf("%d items present after rebuild, want %d", present, n-corrupt)
	}
	for i := n / 2; i < n; i++ {
		if ok, _ := ts.Exists(testKey(i)); !ok {
			t.Fatalf("item %d after the damaged record was dropped", i)
		}
	}
}

func TestDamagedSuperblockChangesNothing(t *testing.T) {
	ts := damagedStore(t, 10)
	overwrite(t, ts.data, 20, []byte{0xFF})
	before, _ := os.ReadFile(ts.data)
	keyBefore, _ := os.ReadFile(ts.key)
	if _, err := Open(ts.data, ts.key, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open with a damaged superblock: %v, want ErrCorrupt", err)
	}
	after, _ := os.ReadFile(ts.data)
	keyAfter, _ := os.ReadFile(ts.key)
	if !bytes.Equal(before, after) || !bytes.Equal(keyBefore, keyAfter) {
		t.Fatal("a failed Open changed the store's files")
	}
	short := filepath.Join(t.TempDir(), "short")
	os.WriteFile(short, []byte("tiny"), 0o644)
	if _, err := Open(short, ts.key, nil); !errors.Is(err, ErrNotStore) {
		t.Fatalf("open of a 4-byte file: %v", err)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// lastDataRecord returns the offset of the newest record that holds items
// in a closed store (a clean Close ends the log with an empty marker).
func lastDataRecord(t *testing.T, ts *testStore) int64 {
	t.Helper()
	var last int64
	b, _ := os.ReadFile(ts.data)
	for off := int64(4096); off+4096 <= int64(len(b)); off += 4096 {
		if h, err := datafile.DecodeHeader(b[off:]); err == nil && h.Items > 0 && h.Plausible(h.UID, off, 4096) {
			last = off
		}
	}
	if last == 0 {
		t.Fatal("no data record")
	}
	return last
}
