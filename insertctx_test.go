package nudb

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nudbgo/nudb/internal/ioengine"
)

// slowEngine holds every completion until released: a device that does
// not answer.
type slowEngine struct {
	ioengine.Engine
	release chan struct{}
	once    sync.Once
}

func (e *slowEngine) Wait(dst []ioengine.Completion) ([]ioengine.Completion, error) {
	<-e.release
	return e.Engine.Wait(dst)
}

func (e *slowEngine) free() { e.once.Do(func() { close(e.release) }) }

// A durable insert whose device does not answer returns ctx.Err() when its
// context ends, without waiting for the device; the store stays whole: the
// insert is written once the device answers, Close succeeds and the store
// verifies.
func TestInsertContextCancelledWhileTheDeviceHangs(t *testing.T) {
	ts := newStore(t, nil)
	ts.Close()
	slow := &slowEngine{release: make(chan struct{})}
	ts.opts = &Options{Sync: SyncAlways, wrapEngine: func(inner ioengine.Engine) ioengine.Engine {
		slow.Engine = inner
		return slow
	}}
	ts.reopen(t)
	defer slow.free()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ts.InsertContext(ctx, testKey(1), testValue(1)) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("InsertContext: %v, want context.DeadlineExceeded", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("InsertContext waited for a device that never answers")
	}
	if err := ts.InsertContext(ctx, testKey(2), testValue(2)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("InsertContext with a context already done: %v", err)
	}
	// A batch whose barrier never comes: the same, and its slices are the
	// caller's again at once (overwritten here; what is stored is the copy).
	bctx, bcancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer bcancel()
	var b Batch
	k3, v3 := testKey(3), testValue(3)
	b.Put(k3, v3)
	if _, err := ts.InsertBatchContext(bctx, &b); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("InsertBatchContext: %v, want context.DeadlineExceeded", err)
	}
	clear(v3)
	slow.free()
	if err := ts.Sync(); err != nil {
		t.Fatal(err)
	}
	if v, err := ts.Fetch(testKey(1)); err != nil || string(v) != string(testValue(1)) {
		t.Fatalf("the cancelled insert after the device answered: %v (it was queued, so it is written)", err)
	}
	if ok, _ := ts.Exists(testKey(2)); ok {
		t.Fatal("an insert refused before it began was stored")
	}
	if v, err := ts.Fetch(testKey(3)); err != nil || string(v) != string(testValue(3)) {
		t.Fatalf("the cancelled batch's item: %v (its copy is written once the device answers)", err)
	}
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	if rep, err := Verify(ts.data, ts.key, nil); err != nil || !rep.OK() {
		t.Fatalf("verify: %v %+v", err, rep.Problems)
	}
}

// VerifyContext stops with ctx.Err() when its context ends, before or
// during the scan, and verifies the store when it does not.
func TestVerifyContext(t *testing.T) {
	ts := newStore(t, &Options{Sync: SyncNever})
	var b Batch
	for i := 0; i < 3000; i++ {
		b.Put(testKey(i), testValue(i))
	}
	if _, err := ts.InsertBatch(&b); err != nil {
		t.Fatal(err)
	}
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := VerifyContext(ctx, ts.data, ts.key, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("VerifyContext with a context already done: %v", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	_, err := VerifyContext(ctx, ts.data, ts.key, func(done, total int64) {
		if calls++; calls == 1 {
			cancel() // mid-scan
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("VerifyContext cancelled mid-scan: %v (progress called %d times)", err, calls)
	}
	if rep, err := VerifyContext(context.Background(), ts.data, ts.key, nil); err != nil || !rep.OK() {
		t.Fatalf("VerifyContext: %v %+v", err, rep.Problems)
	}
}

// Open's recovery and Rebuild stop with ctx.Err() when their context ends,
// leaving both files as they were (a rebuild's new key file removed), and
// the next Open recovers everything.
func TestRecoveryAndRebuildContext(t *testing.T) {
	ts := newStore(t, &Options{Sync: SyncNever})
	var b Batch
	idx := make([]int, 3000)
	for i := range idx {
		idx[i] = i
		b.Put(testKey(i), testValue(i))
	}
	if _, err := ts.InsertBatch(&b); err != nil {
		t.Fatal(err)
	}
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	dataSum, keySum := fileHash(t, ts.data), fileHash(t, ts.key)
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	_, err := RebuildContext(ctx, ts.data, ts.key, &Options{Progress: func(done, total int64) {
		if calls++; calls == 1 {
			cancel() // mid-scan
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("RebuildContext cancelled mid-scan: %v (progress called %d times)", err, calls)
	}
	if fileHash(t, ts.data) != dataSum || fileHash(t, ts.key) != keySum {
		t.Fatal("a cancelled rebuild changed the store's files")
	}
	if m, _ := filepath.Glob(ts.key + ".rebuild-*"); len(m) > 0 {
		t.Fatalf("a cancelled rebuild left %v", m)
	}
	// Without the key file, Open must rebuild it: a done context stops that.
	os.Remove(ts.key)
	if _, err := OpenContext(ctx, ts.data, ts.key, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("OpenContext whose recovery was cancelled: %v", err)
	}
	if fileHash(t, ts.data) != dataSum {
		t.Fatal("a cancelled recovery changed the data file")
	}
	ts.reopen(t)
	checkItems(t, ts.Store, idx, testValue)

	// After an unclean stop, the replay of the log stops the same way.
	for i := 3000; i < 3500; i++ {
		idx = append(idx, i)
		if err := ts.Insert(testKey(i), testValue(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := ts.shutdown(false); err != nil { // as a crash leaves it
		t.Fatal(err)
	}
	if _, err := OpenContext(ctx, ts.data, ts.key, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("OpenContext whose replay was cancelled: %v", err)
	}
	ts.reopen(t)
	if ts.Stats().Recovery.Clean {
		t.Fatal("the reopen after the cancelled recovery found the store clean")
	}
	checkItems(t, ts.Store, idx, testValue)
}
