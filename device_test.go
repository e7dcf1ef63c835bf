package nudb

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// loopDevice attaches a sparse file of size bytes as a loop device with
// direct I/O, and detaches it when the test ends. It skips, with the reason,
// where that cannot be done (not root, no losetup, no loop support).
func loopDevice(t *testing.T, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to attach a loop device")
	}
	if _, err := exec.LookPath("losetup"); err != nil {
		t.Skip("losetup is not installed")
	}
	img := filepath.Join(t.TempDir(), "loop.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out, err := exec.Command("losetup", "-f", "--show", "--direct-io=on", img).CombinedOutput()
	if err != nil {
		t.Skipf("losetup refused: %v: %s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v: %s", dev, err, out)
		}
	})
	return dev
}

func TestBlockDevice(t *testing.T) {
	dev := loopDevice(t, 64<<20)
	key := filepath.Join(t.TempDir(), "key")
	forEngines(t, func(t *testing.T, e IOEngine) {
		if err := Create(dev, key, &Options{Overwrite: true}); err != nil {
			t.Fatal(err)
		}
		if err := Create(dev, key, nil); !errors.Is(err, ErrExists) {
			t.Fatalf("create over a device holding a store: %v, want ErrExists", err)
		}
		ts := &testStore{data: dev, key: key, opts: &Options{IOEngine: e}}
		ts.reopen(t)
		for i := 0; i < 200; i++ {
			if err := ts.Insert(testKey(i), testValue(i)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := Open(dev, key, nil); !errors.Is(err, ErrLocked) {
			t.Fatalf("second open of the device: %v, want ErrLocked", err)
		}
		ts.Close()
		ts.reopen(t)
		for i := 0; i < 200; i++ {
			v, err := ts.Fetch(testKey(i))
			if err != nil || !bytes.Equal(v, testValue(i)) {
				t.Fatalf("fetch %d from the device: %v", i, err)
			}
		}
		// Fill the device: it must say it is full, and keep what it has.
		big := make([]byte, 4<<20)
		var err error
		for i := 1000; err == nil; i++ {
			err = ts.Insert(testKey(i), big)
		}
		if !errors.Is(err, ErrFull) {
			t.Fatalf("filling the device: %v, want ErrFull", err)
		}
		if err := ts.Insert(testKey(5000), []byte("small still fits")); err != nil {
			t.Fatalf("small insert after ErrFull: %v", err)
		}
		ts.Close()
		if rep, err := Verify(dev, key, nil); err != nil || !rep.OK() {
			t.Fatalf("verify full device: %v %+v", err, rep.Problems)
		}
	})
}

// A device is read through the page cache (mapped like a file), and the
// cache must never show what a block held before a direct write covered
// it. The device is filled with garbage and read into the cache first, so
// a stale cached page would be garbage, not zeros; then records are
// written over it by every path (O_DIRECT under SyncAlways, buffered under
// SyncNever, alternately, across reopens) and every item is fetched back
// through the cache after each round.
func TestDeviceReadsThroughTheCache(t *testing.T) {
	dev := loopDevice(t, 32<<20)
	key := filepath.Join(t.TempDir(), "key")
	garbage := bytes.Repeat([]byte("stale block, never a record. "), 1<<20/29+1)[:1<<20]
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	for off := int64(0); off < 32<<20; off += 1 << 20 {
		if _, err := f.WriteAt(garbage, off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	warm := func() { // every block of the device into the page cache
		if _, err := io.Copy(io.Discard, io.NewSectionReader(f, 0, 32<<20)); err != nil {
			t.Fatal(err)
		}
	}
	defer f.Close()
	if err := Create(dev, key, &Options{Overwrite: true}); err != nil {
		t.Fatal(err)
	}
	n := 0
	for round, mode := range []SyncMode{SyncAlways, SyncNever, SyncAlways, SyncWriteBehind, SyncAlways} {
		warm()
		ts := &testStore{data: dev, key: key, opts: &Options{Sync: mode}}
		ts.reopen(t)
		for end := n + 150; n < end; n++ {
			if err := ts.Insert(testKey(n), testValue(n)); err != nil {
				t.Fatal(err)
			}
			if round%2 == 0 && n%10 == 0 {
				warm() // the tail the next direct write covers is cached now
			}
		}
		for i := 0; i < n; i++ {
			v, err := ts.Fetch(testKey(i))
			if err != nil || !bytes.Equal(v, testValue(i)) {
				t.Fatalf("round %d (%v): fetch %d through the cache: %v", round, mode, i, err)
			}
		}
		if err := ts.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if rep, err := Verify(dev, key, nil); err != nil || !rep.OK() {
		t.Fatalf("verify: %v %+v", err, rep.Problems)
	}
}
