package nudb

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"
	"testing"

	"github.com/nudbgo/nudb/internal/ioengine"
)

// faultEngine wraps an engine and injects one failure, in the style of
// pebble's errorfs: the Nth write completes with an error (or as a short
// write), or the Nth sync fails.
type faultEngine struct {
	ioengine.Engine
	mu        sync.Mutex
	failWrite int   // fail the write with this 1-based number (0: none)
	failSync  int   // fail the sync with this number (0: none)
	writeErr  error // what the failing write reports
	writes    int
	syncs     int
	failed    map[uint64]bool // ids of the writes that failed
	injected  []fakeCompletion
}

type fakeCompletion = ioengine.Completion

func (e *faultEngine) SubmitWrite(id uint64, buf []byte, off int64, dsync bool) error {
	e.mu.Lock()
	e.writes++
	fail := e.writes == e.failWrite
	if fail {
		e.failed[id] = true
		// A short write: half the record reaches the disk.
		if errors.Is(e.writeErr, io.ErrShortWrite) {
			buf = buf[:len(buf)/2&^4095]
		}
	}
	e.mu.Unlock()
	if fail && len(buf) == 0 {
		e.mu.Lock()
		e.injected = append(e.injected, fakeCompletion{ID: id, Err: e.writeErr})
		e.mu.Unlock()
		return nil
	}
	return e.Engine.SubmitWrite(id, buf, off, dsync)
}

func (e *faultEngine) Wait(dst []ioengine.Completion) ([]ioengine.Completion, error) {
	e.mu.Lock()
	if len(e.injected) > 0 {
		dst = append(dst, e.injected...)
		e.injected = e.injected[:0]
		e.mu.Unlock()
		return dst, nil
	}
	e.mu.Unlock()
	n := len(dst)
	dst, err := e.Engine.Wait(dst)
	e.mu.Lock()
	for i := n; i < len(dst); i++ {
		if e.failed[dst[i].ID] && dst[i].Err == nil {
			dst[i].Err = e.writeErr
		}
	}
	e.mu.Unlock()
	return dst, err
}

func (e *faultEngine) Pending() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.Engine.Pending() + len(e.injected)
}

func (e *faultEngine) Datasync() error {
	e.mu.Lock()
	e.syncs++
	fail := e.syncs == e.failSync
	e.mu.Unlock()
	if fail {
		return fmt.Errorf("injected: %w", syscall.EIO)
	}
	return e.Engine.Datasync()
}

// An injected I/O failure is never acknowledged: the insert whose record
// failed returns ErrStopped, every later insert too, reads go on, Close
// returns the failure, and a reopen recovers every acknowledged item.
func TestInjectedFaults(t *testing.T) {
	cases := []struct {
		name string
		mode SyncMode
		eng  func() *faultEngine
	}{
		{"write EIO", SyncAlways, func() *faultEngine { return &faultEngine{failWrite: 30, writeErr: syscall.EIO} }},
		{"write ENOSPC", SyncAlways, func() *faultEngine { return &faultEngine{failWrite: 30, writeErr: syscall.ENOSPC} }},
		{"short write", SyncAlways, func() *faultEngine { return &faultEngine{failWrite: 30, writeErr: io.ErrShortWrite} }},
		{"sync EIO", SyncNever, func() *faultEngine { return &faultEngine{failSync: 2} }},
	}
	for _, c := range cases {
		for _, e := range engines {
			t.Run(c.name+"/"+e.String(), func(t *testing.T) {
				fe := c.eng()
				fe.failed = map[uint64]bool{}
				ts := newStore(t, nil)
				ts.Close()
				ts.opts = &Options{Sync: c.mode, IOEngine: e, wrapEngine: func(inner ioengine.Engine) ioengine.Engine {
					fe.Engine = inner
					return fe
				}}
				ts.reopen(t)
				var acked []int
				var failure error
				for i := 0; i < 200; i++ {
					err := ts.Insert(testKey(i), testValue(i))
					if err == nil && c.mode == SyncNever && i%20 == 19 {
						err = ts.Sync()
					}
					if err != nil {
						failure = err
						break
					}
					acked = append(acked, i)
				}
				if !errors.Is(failure, ErrStopped) {
					t.Fatalf("the injected failure surfaced as %v, want ErrStopped", failure)
				}
				if errors.Is(c.eng().writeErr, syscall.ENOSPC) && !errors.Is(failure, ErrFull) {
					t.Fatalf("ENOSPC from a write surfaced as %v, want ErrFull too", failure)
				}
				if err := ts.Insert(testKey(5000), []byte("after")); !errors.Is(err, ErrStopped) {
					t.Fatalf("insert after the failure: %v, want ErrStopped", err)
				}
				// Reads go on. Under SyncNever the items acknowledged since
				// the last good Sync were written; they are there too.
				checkItems(t, ts.Store, acked, testValue)
				if err := ts.Close(); !errors.Is(err, ErrStopped) {
					t.Fatalf("close after the failure: %v, want the failure", err)
				}
				ts.opts = nil
				ts.reopen(t)
				checkItems(t, ts.Store, acked, testValue)
				if v, err := ts.Fetch(testKey(5000)); err == nil {
					t.Fatalf("the refused insert is there: %q", v)
				}
				if err := ts.Insert(testKey(6000), []byte("recovered")); err != nil {
					t.Fatalf("insert after reopen: %v", err)
				}
				ts.Close()
				if rep, err := Verify(ts.data, ts.key, nil); err != nil || !rep.OK() {
					t.Fatalf("verify: %v %+v", err, rep.Problems)
				}
				t.Logf("%d acknowledged before: %v", len(acked), failure)
			})
		}
	}
}
