package nudb

import (
	"crypto/sha256"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

// fileHash is the SHA-256 of a file's bytes (or of a device's first MiB).
func fileHash(t *testing.T, path string) [32]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1<<20)
	n, _ := f.ReadAt(b, 0)
	return sha256.Sum256(b[:n])
}

// Files that are not ours are never written: each case hashes its victim
// before and after.
func TestFilesThatAreNotOurs(t *testing.T) {
	dir := t.TempDir()
	ts := newStore(t, nil)
	for i := 0; i < 20; i++ {
		ts.Insert(testKey(i), testValue(i))
	}
	ts.Close()
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("a user's notes\n"), 0o644)
	cases := []struct {
		name   string
		victim string
		call   func() error
		want   error
	}{
		{"Open(p, p)", ts.data, func() error { _, err := Open(ts.data, ts.data, nil); return err }, ErrInvalidOptions},
		{"Create(p, p)", ts.data, func() error { return Create(ts.data, ts.data, &Options{Overwrite: true}) }, ErrInvalidOptions},
		{"Rebuild(p, p)", ts.data, func() error { _, err := Rebuild(ts.data, ts.data, nil); return err }, ErrInvalidOptions},
		{"Create over a text key path", text, func() error { return Create(filepath.Join(dir, "new.dat"), text, nil) }, ErrNotStore},
		{"Create over a text key path, Overwrite", text, func() error {
			return Create(filepath.Join(dir, "new2.dat"), text, &Options{Overwrite: true})
		}, ErrNotStore},
		{"Open with a text key path", text, func() error { _, err := Open(ts.data, text, nil); return err }, ErrNotStore},
		{"Open with another store's data file as key path", ts.data, func() error {
			other := newStore(t, nil)
			other.Close()
			_, err := Open(other.data, ts.data, nil)
			return err
		}, ErrNotStore},
		{"Rebuild over a text key path", text, func() error { _, err := Rebuild(ts.data, text, nil); return err }, ErrNotStore},
		{"Open of a text file as data", text, func() error { _, err := Open(text, filepath.Join(dir, "k"), nil); return err }, ErrNotStore},
		{"Create over a store's data file", ts.data, func() error { return Create(ts.data, filepath.Join(dir, "k2"), nil) }, ErrExists},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := fileHash(t, c.victim)
			if err := c.call(); !errors.Is(err, c.want) {
				t.Fatalf("%v, want %v", err, c.want)
			}
			if fileHash(t, c.victim) != before {
				t.Fatalf("%s was changed", c.victim)
			}
		})
	}
	// Nothing was left behind by the failed Creates.
	for _, f := range []string{"new.dat", "new2.dat"} {
		if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a failed Create left %s behind", f)
		}
	}
	// The store itself is intact.
	if rep, err := Verify(ts.data, ts.key, nil); err != nil || !rep.OK() {
		t.Fatalf("verify: %v %+v", err, rep.Problems)
	}
}

// Create on a device holding a filesystem refuses without Overwrite and
// leaves the filesystem as it was.
func TestCreateRefusesADeviceWithAFilesystem(t *testing.T) {
	dev := loopDevice(t, 32<<20)
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", dev).CombinedOutput(); err != nil {
		t.Skipf("mkfs.ext4: %v: %s", err, out)
	}
	before := fileHash(t, dev)
	key := filepath.Join(t.TempDir(), "key")
	err := Create(dev, key, nil)
	if !errors.Is(err, ErrExists) {
		t.Fatalf("create over ext4: %v, want ErrExists", err)
	}
	if fileHash(t, dev) != before {
		t.Fatal("the ext4 filesystem was changed")
	}
	if out, err := exec.Command("dumpe2fs", "-h", dev).CombinedOutput(); err != nil {
		t.Fatalf("dumpe2fs after a refused Create: %v: %s", err, out)
	}
	if _, err := os.Stat(key); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a refused Create made a key file")
	}
	if err := Create(dev, key, &Options{Overwrite: true}); err != nil {
		t.Fatalf("create with Overwrite: %v", err)
	}
}

func TestRecognise(t *testing.T) {
	b := make([]byte, probeSize)
	if got := recognise(b); got != "" {
		t.Fatalf("zeros recognised as %q", got)
	}
	for name, mark := range map[string]func([]byte){
		"ext":   func(b []byte) { b[1080], b[1081] = 0x53, 0xEF },
		"xfs":   func(b []byte) { copy(b, "XFSB") },
		"btrfs": func(b []byte) { copy(b[65536+64:], "_BHRfS_M") },
		"gpt":   func(b []byte) { copy(b[512:], "EFI PART") },
		"lvm":   func(b []byte) { copy(b[512:], "LABELONE") },
		"swap":  func(b []byte) { copy(b[4086:], "SWAPSPACE2") },
		"mbr":   func(b []byte) { b[510], b[511] = 0x55, 0xAA },
		"byte":  func(b []byte) { b[60000] = 1 },
	} {
		b := make([]byte, probeSize)
		mark(b)
		if recognise(b) == "" {
			t.Errorf("%s not recognised", name)
		}
	}
}

// A Visit callback that calls back into the store while another goroutine
// closes it gets ErrClosed (or success), never a deadlock.
func TestVisitCallbackDuringClose(t *testing.T) {
	ts := newStore(t, nil)
	for i := 0; i < 50; i++ {
		ts.Insert(testKey(i), testValue(i))
	}
	closing := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-closing
		ts.Close()
	}()
	first := true
	err := ts.Visit(func(k, v []byte) error {
		if first {
			first = false
			close(closing)
		}
		ts.Stats()
		if err := ts.Insert(testKey(1000+len(v)), []byte("x")); err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, ErrKeyExists) {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wg.Wait()
}

// A second Close waits for the first, so an Open right after either succeeds.
func TestConcurrentClose(t *testing.T) {
	ts := newStore(t, &Options{Sync: SyncNever})
	for i := 0; i < 2000; i++ {
		ts.Insert(testKey(i), testValue(i))
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = ts.Close() }()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	s, err := Open(ts.data, ts.key, &Options{LockTimeout: -1})
	if err != nil {
		t.Fatalf("open right after Close returned: %v", err)
	}
	s.Close()
}

func TestBadArguments(t *testing.T) {
	ts := newStore(t, nil)
	if n, err := ts.InsertBatch(nil); n != 0 || err != nil {
		t.Fatalf("InsertBatch(nil): %d, %v", n, err)
	}
	if err := ts.Visit(nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Visit(nil): %v", err)
	}
	dir := t.TempDir()
	if err := Create(filepath.Join(dir, "d"), filepath.Join(dir, "k"), &Options{InFlight: 65536}); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("InFlight 65536: %v", err)
	}
	// A Create that fails on the key path leaves no data file behind.
	data := filepath.Join(dir, "d2")
	if err := Create(data, filepath.Join(dir, "no", "such", "dir", "k"), nil); err == nil {
		t.Fatal("create with a key path in a missing directory succeeded")
	}
	if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a failed Create left its data file behind")
	}
	if err := Create(data, filepath.Join(dir, "k2"), nil); err != nil {
		t.Fatalf("retry after the failed Create: %v", err)
	}
	// A missing store verifies as an error, not as OK.
	rep, err := Verify(filepath.Join(dir, "missing"), filepath.Join(dir, "k"), nil)
	if err == nil || rep.OK() {
		t.Fatalf("verify of a missing store: %v, OK %v", err, rep.OK())
	}
}

// Inspect and Verify on a FIFO return at once with ErrNotStore.
func TestFIFOIsNotAStore(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	if _, err := Inspect(fifo, filepath.Join(dir, "k")); !errors.Is(err, ErrNotStore) {
		t.Fatalf("inspect of a FIFO: %v", err)
	}
	if _, err := Verify(fifo, filepath.Join(dir, "k"), nil); !errors.Is(err, ErrNotStore) {
		t.Fatalf("verify of a FIFO: %v", err)
	}
	ts := newStore(t, nil)
	ts.Close()
	if _, err := Open(ts.data, fifo, nil); !errors.Is(err, ErrNotStore) {
		t.Fatalf("open with a FIFO key path: %v", err)
	}
}

// Inspect works beside a live writer.
func TestInspectLiveStore(t *testing.T) {
	ts := newStore(t, nil)
	for i := 0; i < 100; i++ {
		ts.Insert(testKey(i), testValue(i))
	}
	info, err := Inspect(ts.data, ts.key)
	if err != nil {
		t.Fatalf("inspect of a live store: %v", err)
	}
	if info.Clean || info.Written != ts.Stats().Written {
		t.Fatalf("live info: %+v", info)
	}
	if _, err := Verify(ts.data, ts.key, nil); !errors.Is(err, ErrLocked) {
		t.Fatalf("verify of a live store: %v, want ErrLocked", err)
	}
}

// Open waits out a lock held a moment, and gives up with ErrLocked after
// LockTimeout.
func TestLockTimeout(t *testing.T) {
	ts := newStore(t, nil)
	if _, err := Open(ts.data, ts.key, &Options{LockTimeout: 50e6}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	released := make(chan error, 1)
	go func() {
		s, err := Open(ts.data, ts.key, &Options{LockTimeout: 10e9})
		if err == nil {
			s.Close()
		}
		released <- err
	}()
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-released; err != nil {
		t.Fatalf("open waiting for the lock: %v", err)
	}
}
