package rotate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/nudbgo/nudb"
	"github.com/nudbgo/nudb/internal/testfs"
)

func testKey(tag string, i int) []byte {
	k := sha256.Sum256(fmt.Appendf(nil, "%s-%d", tag, i))
	return k[:]
}

// testValue is derived from the key, so a checker needs only the key; its
// length varies with the key (64 B to 2 KiB).
func testValue(key []byte) []byte {
	n := 64 + int(key[1])*8
	return bytes.Repeat(key, n/len(key)+1)[:n]
}

// live is the keep function of the tests: a quarter of the keys are
// garbage.
func live(key []byte) bool { return key[0]&3 != 0 }

func openSet(t testing.TB, dir string, opts *Options) *Set {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// insertN inserts the test items tag-0 … tag-(n-1).
func insertN(t testing.TB, s *Set, tag string, n int) {
	t.Helper()
	for i := range n {
		k := testKey(tag, i)
		if err := s.Insert(k, testValue(k)); err != nil {
			t.Fatal(err)
		}
	}
}

func mustFetch(t testing.TB, s *Set, key []byte) {
	t.Helper()
	v, err := s.Fetch(key)
	if err != nil {
		t.Fatalf("fetch %x: %v", key[:4], err)
	}
	if !bytes.Equal(v, testValue(key)) {
		t.Fatalf("fetch %x: wrong value", key[:4])
	}
}

func mustMiss(t testing.TB, s *Set, key []byte) {
	t.Helper()
	if _, err := s.Fetch(key); !errors.Is(err, nudb.ErrNotFound) {
		t.Fatalf("fetch %x: %v, want ErrNotFound", key[:4], err)
	}
	if ok, err := s.Exists(key); ok || err != nil {
		t.Fatalf("exists %x: %v %v", key[:4], ok, err)
	}
}

// Inserts, deletes and a Put after a Delete survive Close and Open; a
// duplicate is ErrKeyExists; bad keys are refused.
func TestInsertDeleteReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "set")
	s := openSet(t, dir, nil)
	insertN(t, s, "a", 100)
	if err := s.Insert(testKey("a", 1), []byte("x")); !errors.Is(err, nudb.ErrKeyExists) {
		t.Fatalf("duplicate: %v", err)
	}
	if err := s.Insert([]byte("short"), nil); !errors.Is(err, nudb.ErrKeySize) {
		t.Fatalf("short key: %v", err)
	}
	if err := s.Delete([]byte("short")); !errors.Is(err, nudb.ErrKeySize) {
		t.Fatalf("short key delete: %v", err)
	}
	if err := s.Delete(testKey("a", 1), testKey("a", 2), testKey("absent", 0)); err != nil {
		t.Fatal(err)
	}
	mustMiss(t, s, testKey("a", 1))
	if err := s.Insert(testKey("a", 2), testValue(testKey("a", 2))); err != nil {
		t.Fatalf("put after delete: %v", err)
	}
	check := func(s *Set) {
		t.Helper()
		mustMiss(t, s, testKey("a", 1))
		mustFetch(t, s, testKey("a", 2))
		mustFetch(t, s, testKey("a", 3))
		if n, err := s.ValueSize(testKey("a", 3)); err != nil || n != len(testValue(testKey("a", 3))) {
			t.Fatalf("ValueSize: %d %v", n, err)
		}
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Fetch(testKey("a", 3)); !errors.Is(err, nudb.ErrClosed) {
		t.Fatalf("fetch after close: %v", err)
	}
	s = openSet(t, dir, nil)
	check(s)
	if _, err := Open(dir, nil); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
}

// ReadGenerations on a directory without a manifest says it is not a set.
func TestReadGenerationsOfOtherDirectory(t *testing.T) {
	if _, err := ReadGenerations(t.TempDir()); !errors.Is(err, ErrNotSet) {
		t.Fatalf("ReadGenerations: %v, want ErrNotSet", err)
	}
}

// A directory that holds anything else is refused and left as it was.
func TestOpenRefusesOtherDirectories(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "photo.jpg")
	if err := os.WriteFile(other, []byte("not a store"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, nil); !errors.Is(err, ErrNotSet) {
		t.Fatalf("open: %v, want ErrNotSet", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("open left %d entries, want the one that was there", len(entries))
	}
	if b, _ := os.ReadFile(other); string(b) != "not a store" {
		t.Fatal("the file was changed")
	}
	if _, err := Open(t.TempDir(), &Options{Generations: -1}); !errors.Is(err, nudb.ErrInvalidOptions) {
		t.Fatalf("bad options: %v", err)
	}
}

// A damaged manifest is ErrCorrupt, never a panic or a fresh set over the
// old data.
func TestDamagedManifest(t *testing.T) {
	dir := t.TempDir()
	s := openSet(t, dir, nil)
	s.Close()
	path := filepath.Join(dir, manifestName)
	good, _ := os.ReadFile(path)
	for i := range good {
		bad := bytes.Clone(good)
		bad[i] ^= 0x20
		os.WriteFile(path, bad, 0o644)
		if _, err := Open(dir, nil); err == nil {
			t.Fatalf("byte %d flipped: open succeeded", i)
		}
	}
	os.WriteFile(path, good[:len(good)/2], 0o644)
	if _, err := Open(dir, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("cut manifest: %v", err)
	}
}

// A torn last tombstone entry is cut; a bad entry with good ones after it
// is damage, and Open says so.
func TestTombstoneLogDamage(t *testing.T) {
	dir := t.TempDir()
	s := openSet(t, dir, nil)
	insertN(t, s, "t", 3)
	for i := range 3 {
		s.Delete(testKey("t", i))
	}
	s.Close()
	path := filepath.Join(dir, tombstonesName)
	good, _ := os.ReadFile(path)
	os.WriteFile(path, append(bytes.Clone(good), opDelete, 1, 2, 3), 0o644)
	s = openSet(t, dir, nil)
	for i := range 3 {
		mustMiss(t, s, testKey("t", i))
	}
	s.Close()
	if b, _ := os.ReadFile(path); !bytes.Equal(b, good) {
		t.Fatal("the torn tail was not cut")
	}
	bad := bytes.Clone(good)
	bad[5] ^= 1
	os.WriteFile(path, bad, 0o644)
	if _, err := Open(dir, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged entry: %v, want ErrCorrupt", err)
	}
}

// Rotation drops what keep calls dead and what was deleted, keeps the
// rest through any number of rotations, honours a Put after a Delete, and
// drops tombstones once nothing holds their keys.
func TestRotateKeepsLiveItems(t *testing.T) {
	for _, gens := range []int{1, 2, 3} {
		t.Run(fmt.Sprint(gens), func(t *testing.T) {
			dir := t.TempDir()
			s := openSet(t, dir, &Options{Generations: gens})
			want := map[string]bool{} // key -> must be present
			for round := range 5 {
				tag := fmt.Sprint("r", round)
				for i := range 300 {
					k := testKey(tag, i)
					if err := s.Insert(k, testValue(k)); err != nil {
						t.Fatal(err)
					}
					want[string(k)] = true
				}
				for i := 0; i < 300; i += 7 {
					s.Delete(testKey(tag, i))
					want[string(testKey(tag, i))] = false
				}
				for i := 0; i < 300; i += 21 {
					k := testKey(tag, i)
					if err := s.Insert(k, testValue(k)); err != nil && !errors.Is(err, nudb.ErrKeyExists) {
						t.Fatal(err)
					}
					want[string(k)] = true
				}
				rep, err := s.Rotate(context.Background(), live)
				if err != nil {
					t.Fatal(err)
				}
				if got := len(s.Generations()); got != min(gens, round+2) {
					t.Fatalf("round %d: %d generations, want %d", round, got, min(gens, round+2))
				}
				if round+2 > gens && len(rep.Retired) != 1 {
					t.Fatalf("round %d: retired %v", round, rep.Retired)
				}
				for k, present := range want {
					key := []byte(k)
					switch {
					case !present:
						mustMiss(t, s, key)
					case live(key) || len(rep.Retired) == 0:
						mustFetch(t, s, key)
					}
				}
			}
			// Every key that is not live and was written at least gens
			// rotations ago has been retired by now.
			for round := range 5 - gens + 1 {
				for i := range 300 {
					if k := testKey(fmt.Sprint("r", round), i); !live(k) {
						mustMiss(t, s, k)
					}
				}
			}
			s.Close()
			s = openSet(t, dir, &Options{Generations: gens})
			for k, present := range want {
				if key := []byte(k); present && live(key) {
					mustFetch(t, s, key)
				} else if !present {
					mustMiss(t, s, key)
				}
			}
			if gens == 1 && s.tomb.count.Load() != 0 {
				t.Fatalf("%d tombstones left after every generation holding them was retired", s.tomb.count.Load())
			}
		})
	}
}

// Space comes back: after a rotation that keeps a tenth of the items the
// directory takes a fraction of the disk it took.
func TestRotateReturnsSpace(t *testing.T) {
	dir := t.TempDir()
	s := openSet(t, dir, &Options{Generations: 1, CopyShare: 1})
	value := bytes.Repeat([]byte{7}, 4096)
	var b nudb.Batch
	for i := range 24_000 { // 96 MiB of values
		b.Put(testKey("s", i), value)
		if b.Len() == 1000 {
			if _, err := s.InsertBatch(&b); err != nil {
				t.Fatal(err)
			}
			b.Reset()
		}
	}
	before := testfs.DirAllocated(t, dir)
	rep, err := s.Rotate(context.Background(), func(k []byte) bool { return k[0] < 26 })
	if err != nil {
		t.Fatal(err)
	}
	after := testfs.DirAllocated(t, dir)
	t.Logf("disk before %d MiB, after %d MiB; copied %d items, dropped %d, freed %d MiB",
		before>>20, after>>20, rep.Copied, rep.Dropped, rep.BytesFreed>>20)
	if after*3 > before || rep.BytesFreed < before/2 {
		t.Fatalf("disk before %d, after %d, report says %d freed", before, after, rep.BytesFreed)
	}
	if rep.Copied+rep.Dropped != 24_000 || rep.Copied == 0 {
		t.Fatalf("copied %d + dropped %d of 24000", rep.Copied, rep.Dropped)
	}
	for i := range 24_000 {
		k := testKey("s", i)
		if ok, _ := s.Exists(k); ok != (k[0] < 26) {
			t.Fatalf("item %d: exists %v", i, ok)
		}
	}
}

// Items inserted while a rotation runs survive it even when keep calls
// every key dead; reads during it find every live item.
func TestInsertsDuringRotation(t *testing.T) {
	dir := t.TempDir()
	s := openSet(t, dir, &Options{Generations: 1, CopyBatchBytes: 64 << 10})
	var b nudb.Batch
	for i := range 5000 {
		k := testKey("old", i)
		b.Put(k, testValue(k))
	}
	if _, err := s.InsertBatch(&b); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var inserted [][]byte // inserts that began after Rotate was called
	var rotating atomic.Bool
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			after := rotating.Load()
			// Half are new keys, half re-insert old ones the rotation
			// would drop: both must survive.
			k := testKey("new", i)
			if i%2 == 1 {
				k = testKey("old", i)
			}
			if err := s.Insert(k, testValue(k)); err != nil && !errors.Is(err, nudb.ErrKeyExists) {
				t.Error(err)
				return
			}
			if after {
				inserted = append(inserted, k)
			}
		}
	})
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			k := testKey("old", i%5000)
			if _, err := s.Fetch(k); err != nil && !errors.Is(err, nudb.ErrNotFound) {
				t.Error(err)
				return
			}
		}
	})
	rotating.Store(true)
	rep, err := s.Rotate(context.Background(), func([]byte) bool { return false })
	cancel()
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rotation: %d inserts beside it, %+v", len(inserted), rep)
	if len(inserted) == 0 {
		t.Fatal("no insert ran beside the rotation")
	}
	for _, k := range inserted {
		mustFetch(t, s, k)
	}
}

// Close during a rotation stops it; the set reopens with every item.
func TestCloseStopsRotation(t *testing.T) {
	dir := t.TempDir()
	s := openSet(t, dir, &Options{Generations: 1, CopyShare: 0.01, CopyBatchBytes: 4096})
	var b nudb.Batch
	for i := range 2000 {
		k := testKey("c", i)
		b.Put(k, testValue(k))
	}
	s.InsertBatch(&b)
	started := make(chan struct{})
	s.hook = func(step string) {
		if step == "installed" {
			close(started)
		}
	}
	done := make(chan error, 1)
	go func() { _, err := s.Rotate(context.Background(), nil); done <- err }()
	<-started
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("rotation ended with %v, want context.Canceled", err)
	}
	s = openSet(t, dir, nil)
	for i := range 2000 {
		mustFetch(t, s, testKey("c", i))
	}
}

// VisitContext yields every live item once, across generations, with
// deleted and shadowed keys left out.
func TestVisitAcrossGenerations(t *testing.T) {
	s := openSet(t, t.TempDir(), &Options{Generations: 3})
	want := map[string]bool{}
	for round := range 3 {
		for i := range 100 {
			k := testKey("v", round*50+i) // half of each round repeats the last
			if err := s.Insert(k, testValue(k)); err == nil {
				want[string(k)] = true
			} else if !errors.Is(err, nudb.ErrKeyExists) {
				t.Fatal(err)
			}
		}
		if _, err := s.Rotate(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
	}
	s.Delete(testKey("v", 3))
	delete(want, string(testKey("v", 3)))
	seen := map[string]int{}
	err := s.VisitContext(context.Background(), func(k, v []byte) error {
		seen[string(k)]++
		if !bytes.Equal(v, testValue(k)) {
			t.Errorf("wrong value for %x", k[:4])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(want) {
		t.Fatalf("visited %d keys, want %d", len(seen), len(want))
	}
	for k, n := range seen {
		if n != 1 || !want[k] {
			t.Fatalf("key %x visited %d times, wanted %v", k[:4], n, want[k])
		}
	}
}

// A Put after a Delete of a key the newest generation holds with another
// value forks a generation for it; the new value wins across reopen and
// rotations, which retire the extra generation.
func TestPutAfterDeleteForks(t *testing.T) {
	dir := t.TempDir()
	s := openSet(t, dir, nil)
	k := testKey("f", 0)
	for i, v := range []string{"one", "two", "three"} {
		if i > 0 {
			if err := s.Delete(k); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Insert(k, []byte(v)); err != nil {
			t.Fatalf("put %q: %v", v, err)
		}
		if got, err := s.Fetch(k); err != nil || string(got) != v {
			t.Fatalf("fetch: %q %v, want %q", got, err, v)
		}
		if n := len(s.Generations()); n != i+1 {
			t.Fatalf("%d generations after %d replacements", n, i)
		}
	}
	s.Close()
	s = openSet(t, dir, nil)
	for range 3 {
		if got, err := s.Fetch(k); err != nil || string(got) != "three" {
			t.Fatalf("fetch: %q %v", got, err)
		}
		if _, err := s.Rotate(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(s.Generations()); n != 2 {
		t.Fatalf("%d generations after rotations, want 2", n)
	}
}

// A Put after a Delete of a key an older generation holds writes the new
// value to the newest generation; it wins over the old one across reopen
// and rotations.
func TestPutAfterDeleteWins(t *testing.T) {
	dir := t.TempDir()
	s := openSet(t, dir, nil)
	k := testKey("p", 0)
	if err := s.Insert(k, []byte("old")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rotate(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(k); err != nil {
		t.Fatal(err)
	}
	if err := s.Insert(k, []byte("new")); err != nil {
		t.Fatalf("put after delete: %v", err)
	}
	want := func(s *Set) {
		t.Helper()
		if v, err := s.Fetch(k); err != nil || string(v) != "new" {
			t.Fatalf("fetch: %q %v, want \"new\"", v, err)
		}
	}
	want(s)
	s.Close()
	s = openSet(t, dir, nil)
	want(s)
	for range 3 {
		if _, err := s.Rotate(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		want(s)
	}
}

// A set keeps the key size it was created with: reopened without one it
// adopts it, and a different one asked for is refused.
func TestKeySizeOfASet(t *testing.T) {
	dir := t.TempDir()
	s := openSet(t, dir, &Options{Store: nudb.Options{KeySize: 20}})
	k := bytes.Repeat([]byte{1}, 20)
	if err := s.Insert(k, []byte("v")); err != nil {
		t.Fatal(err)
	}
	s.Delete(k)
	s.Close()
	s = openSet(t, dir, nil)
	if s.KeySize() != 20 {
		t.Fatalf("key size %d, want 20", s.KeySize())
	}
	mustMissKey := func() {
		if ok, err := s.Exists(k); ok || err != nil {
			t.Fatalf("the deleted key: %v %v", ok, err)
		}
	}
	mustMissKey()
	s.Close()
	if _, err := Open(dir, &Options{Store: nudb.Options{KeySize: 32}}); !errors.Is(err, nudb.ErrInvalidOptions) {
		t.Fatalf("open with another key size: %v", err)
	}
}

// A set whose manifest was removed is refused, not started afresh over its
// generations; the files stay as they were.
func TestLostManifestIsRefused(t *testing.T) {
	dir := t.TempDir()
	s := openSet(t, dir, nil)
	insertN(t, s, "m", 100)
	s.Close()
	os.Remove(filepath.Join(dir, manifestName))
	before := testfs.DirAllocated(t, dir)
	if _, err := Open(dir, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open without the manifest: %v, want ErrCorrupt", err)
	}
	if after := testfs.DirAllocated(t, dir); after != before {
		t.Fatalf("the refused open changed the files: %d bytes before, %d after", before, after)
	}
	// A creation that crashed before its first manifest is finished.
	fresh := t.TempDir()
	s = openSet(t, fresh, nil)
	s.Close()
	os.Remove(filepath.Join(fresh, manifestName))
	s = openSet(t, fresh, nil)
	if g := s.Generations(); len(g) != 1 || g[0].ID != 1 {
		t.Fatalf("generations %v", g)
	}
}
