package nudb

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/nudbgo/nudb/internal/testfs"
)

// A full disk is ErrFull from Insert, never a crash: reads go on, every
// acknowledged item stays, Close succeeds, and with more space the store
// reopens, verifies and takes inserts again.
func TestFullDisk(t *testing.T) {
	for _, fs := range []struct {
		kind string
		size int64
	}{{"ext4", 64 << 20}, {"tmpfs", 48 << 20}} {
		for _, mode := range []SyncMode{SyncAlways, SyncInterval, SyncNever} {
			t.Run(fs.kind+"/"+mode.String(), func(t *testing.T) {
				mnt := testfs.Small(t, fs.kind, fs.size)
				// Ballast, freed later to give the store more space.
				ballast := filepath.Join(mnt, "ballast")
				if err := os.WriteFile(ballast, make([]byte, 8<<20), 0o644); err != nil {
					t.Fatal(err)
				}
				ts := &testStore{data: filepath.Join(mnt, "data"), key: filepath.Join(mnt, "key"), opts: &Options{Sync: mode}}
				if err := Create(ts.data, ts.key, nil); err != nil {
					t.Fatal(err)
				}
				ts.reopen(t)
				var acked []int
				var err error
				for i := 0; i < 100000 && err == nil; {
					if mode == SyncAlways {
						if err = ts.Insert(testKey(i), fullValue(i)); err == nil {
							acked = append(acked, i)
						}
						i++
						continue
					}
					var b Batch
					for j := 0; j < 64; j++ {
						b.Put(testKey(i+j), fullValue(i+j))
					}
					if _, err = ts.InsertBatch(&b); err == nil {
						for j := 0; j < 64; j++ {
							acked = append(acked, i+j)
						}
					}
					i += 64
				}
				whenFull(t, ts, err, acked)
				os.Remove(ballast)
				ts.reopen(t)
				checkItems(t, ts.Store, acked, fullValue)
				if err := ts.Insert(testKey(1<<30), []byte("room again")); err != nil {
					t.Fatalf("insert after space came back: %v", err)
				}
				ts.Close()
				if rep, err := Verify(ts.data, ts.key, nil); err != nil || !rep.OK() {
					t.Fatalf("verify: %v %+v", err, rep.Problems)
				}
				t.Logf("%d items acknowledged before the disk was full: %v", len(acked), err)
			})
		}
	}
}

// whenFull checks a store that has just run out of space: the insert
// failed with ErrFull, every acknowledged item reads back, Close succeeds.
func whenFull(t *testing.T, ts *testStore, err error, acked []int) {
	t.Helper()
	if !errors.Is(err, ErrFull) {
		t.Fatalf("filling the store: %v, want ErrFull", err)
	}
	checkItems(t, ts.Store, acked, fullValue)
	if err := ts.Close(); err != nil {
		t.Fatalf("close when full: %v", err)
	}
}

func fullValue(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 3000+i%2000) }

// checkItems fetches every item in idx and compares it with value(i).
func checkItems(t *testing.T, s *Store, idx []int, value func(int) []byte) {
	t.Helper()
	for _, i := range idx {
		v, err := s.Fetch(testKey(i))
		if err != nil || !bytes.Equal(v, value(i)) {
			t.Fatalf("acknowledged item %d: %v", i, err)
		}
	}
}

// A full loop device, in every sync mode: ErrFull, what was acknowledged
// stays, and the store closes and verifies.
func TestFullDevice(t *testing.T) {
	for _, mode := range []SyncMode{SyncAlways, SyncInterval, SyncNever} {
		t.Run(mode.String(), func(t *testing.T) {
			dev := loopDevice(t, 24<<20)
			ts := &testStore{data: dev, key: filepath.Join(t.TempDir(), "key"), opts: &Options{Sync: mode}}
			if err := Create(ts.data, ts.key, &Options{Overwrite: true}); err != nil {
				t.Fatal(err)
			}
			ts.reopen(t)
			var acked []int
			var err error
			for i := 0; i < 100000 && err == nil; i++ {
				if err = ts.Insert(testKey(i), fullValue(i)); err == nil {
					acked = append(acked, i)
				}
			}
			whenFull(t, ts, err, acked)
			ts.reopen(t)
			checkItems(t, ts.Store, acked, fullValue)
			ts.Close()
			if rep, err := Verify(ts.data, ts.key, nil); err != nil || !rep.OK() {
				t.Fatalf("verify: %v %+v", err, rep.Problems)
			}
		})
	}
}
