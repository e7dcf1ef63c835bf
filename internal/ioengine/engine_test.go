package ioengine

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// engines returns one engine of each kind on fd; io_uring is skipped with a
// reason where the kernel refuses it.
func forEachEngine(t *testing.T, fn func(t *testing.T, f *File, e Engine)) {
	for _, kind := range []Kind{Uring, Pwrite} {
		t.Run(kind.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "data")
			if err := os.WriteFile(path, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := OpenFile(path, Exclusive, 0)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Close() })
			e, err := New(kind, f.Fd, 8)
			if errors.Is(err, ErrUnavailable) {
				t.Skipf("io_uring refused here: %v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { e.Close() })
			if e.Name() != kind.String() {
				t.Fatalf("engine name %q, want %q", e.Name(), kind)
			}
			fn(t, f, e)
		})
	}
}

func TestEngineWritesInFlight(t *testing.T) {
	forEachEngine(t, func(t *testing.T, f *File, e Engine) {
		const block, n = 4096, 6
		a, err := NewArena(block * n)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Free()
		if err := f.Grow(block * n); err != nil {
			t.Fatal(err)
		}
		mem := a.Bytes()
		for i := 0; i < n; i++ {
			b := mem[i*block : (i+1)*block]
			for j := range b {
				b[j] = byte(i*7 + j)
			}
			if err := e.SubmitWrite(uint64(100+i), b, int64(i*block), i%2 == 0); err != nil {
				t.Fatal(err)
			}
		}
		seen := map[uint64]bool{}
		var done []Completion
		for e.Pending() > 0 {
			done, err = e.Wait(done[:0])
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range done {
				if c.Err != nil {
					t.Fatalf("write %d: %v", c.ID, c.Err)
				}
				if seen[c.ID] {
					t.Fatalf("completion %d reported twice", c.ID)
				}
				seen[c.ID] = true
			}
		}
		if len(seen) != n {
			t.Fatalf("%d completions, want %d", len(seen), n)
		}
		if err := e.Datasync(); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, block*n)
		if _, err := f.ReadAt(got, 0); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, mem[:block*n]) {
			t.Fatal("read back differs from what was written")
		}
	})
}

func TestEngineReportsWriteError(t *testing.T) {
	forEachEngine(t, func(t *testing.T, f *File, e Engine) {
		a, err := NewArena(4096)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Free()
		// A misaligned O_DIRECT write must fail, and the failure must be
		// reported through Wait rather than lost.
		if err := e.SubmitWrite(1, a.Bytes()[:100], 0, false); err != nil {
			return // refused at submission is also a reported error
		}
		done, err := e.Wait(nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(done) != 1 || done[0].Err == nil {
			t.Fatalf("misaligned write reported %+v, want an error", done)
		}
	})
}

func TestOpenFileLocks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := OpenFile(path, Exclusive, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := OpenFile(path, Exclusive, 0); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
}

func TestAutoFallsBackWhenIOUringIsRefused(t *testing.T) {
	refuse := func(int, int) (Engine, error) {
		return nil, fmt.Errorf("%w: io_uring_setup: operation not permitted", ErrUnavailable)
	}
	e, err := newEngine(Auto, 1, 8, refuse)
	if err != nil || e.Name() != "pwrite" {
		t.Fatalf("auto with io_uring refused: %v, %v", e, err)
	}
	if _, err := newEngine(Uring, 1, 8, refuse); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("forced io_uring when refused: %v, want ErrUnavailable", err)
	}
	// Any other refusal (a depth the kernel rejects, a memlock limit)
	// still leaves pwrite under Auto, and is reported when io_uring is forced.
	other := errors.New("io_uring_setup: invalid argument")
	failing := func(int, int) (Engine, error) { return nil, other }
	if e, err := newEngine(Auto, 1, 8, failing); err != nil || e.Name() != "pwrite" {
		t.Fatalf("auto with another io_uring failure: %v, %v, want pwrite", e, err)
	}
	if _, err := newEngine(Uring, 1, 8, failing); !errors.Is(err, other) {
		t.Fatalf("forced io_uring with another failure: %v, want it reported", err)
	}
}
