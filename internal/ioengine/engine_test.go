package ioengine

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// emptyFile creates an empty data file in a temporary directory and
// opens it (Exclusive); the caller closes it.
func emptyFile(t *testing.T) (string, *File) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := OpenFile(path, Exclusive, 0)
	if err != nil {
		t.Fatal(err)
	}
	return path, f
}

// engines returns one engine of each kind on fd; io_uring is skipped with a
// reason where the kernel refuses it.
func forEachEngine(t *testing.T, fn func(t *testing.T, f *File, e Engine)) {
	for _, kind := range []Kind{Uring, Pwrite} {
		t.Run(kind.String(), func(t *testing.T) {
			_, f := emptyFile(t)
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
	path, f := emptyFile(t)
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

// The buffered engine hands the kernel every range of writebackEvery
// bytes it has appended, in order and without gaps, while the writes it
// acknowledges stay intact; a range the writeback goroutine is too busy
// to take grows until it can; Close stops the goroutine.
func TestBufferedStartsWriteback(t *testing.T) {
	_, f := emptyFile(t)
	defer f.Close()
	const block, every = 4096, 3 * 4096
	ranges := make(chan [2]int64, 100)
	entered, hold := make(chan struct{}), make(chan struct{})
	first := true
	e := newBuffered(f.BufFd, every, func(fd int, off, n int64) {
		if fd != f.BufFd {
			t.Errorf("writeback on fd %d, want %d", fd, f.BufFd)
		}
		if first { // the first hint blocks until released
			first = false
			close(entered)
			<-hold
		}
		ranges <- [2]int64{off, off + n}
	})
	buf := make([]byte, block)
	write := func(from, to int) {
		for i := from; i < to; i++ {
			for j := range buf {
				buf[j] = byte(i)
			}
			if err := e.SubmitWrite(uint64(i+1), buf, int64(i)*block, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	recv := func() [2]int64 { return <-ranges }
	write(0, 3) // blocks 0-2: the first range, taken by the goroutine
	<-entered
	write(3, 6)  // blocks 3-5: the second range, waiting in the channel
	write(6, 12) // the goroutine is busy: the third range grows to 6-11
	close(hold)  // the goroutine finishes the first and takes the second
	r0, r1 := recv(), recv()
	write(12, 13) // the channel is free again: 6-12 is handed over
	r2 := recv()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	got := [][2]int64{r0, r1, r2}
	want := [][2]int64{{0, 3 * block}, {3 * block, 6 * block}, {6 * block, 13 * block}}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("writeback ranges %v, want %v", got, want)
		}
	}
	comps, err := e.Wait(nil)
	if err != nil || len(comps) != 13 {
		t.Fatalf("Wait: %d completions, %v; want 13", len(comps), err)
	}
	for i := 0; i < 13; i++ {
		if _, err := f.ReadAt(buf, int64(i)*block); err != nil {
			t.Fatal(err)
		}
		if buf[0] != byte(i) || buf[block-1] != byte(i) {
			t.Fatalf("block %d reads %d", i, buf[0])
		}
	}
}
