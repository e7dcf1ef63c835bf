package nudb

import (
	"bytes"
	"errors"
	"sync"
	"syscall"
	"testing"

	"github.com/nudbgo/nudb/internal/ioengine"
)

// Under SyncWriteBehind an acknowledged item is found at once (it may
// still be in memory), a second insert of its key is refused, Sync writes
// and syncs everything acknowledged, and a clean reopen has it all. With a
// tiny WriteBehindBytes the inserts wait for the writer instead of
// holding more, and nothing changes for the caller.
func TestWriteBehind(t *testing.T) {
	for _, limit := range []int64{0, 1 << 10} {
		t.Run(map[int64]string{0: "default", 1 << 10: "1KiB"}[limit], func(t *testing.T) {
			ts := newStore(t, &Options{Sync: SyncWriteBehind, WriteBehindBytes: limit})
			if got := ts.Stats().IOEngine; got != "buffered" {
				t.Fatalf("engine %q", got)
			}
			const writers, per = 4, 250
			var wg sync.WaitGroup
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w * per; i < (w+1)*per; i++ {
						if err := ts.Insert(testKey(i), testValue(i)); err != nil {
							t.Error(err)
							return
						}
						if v, err := ts.Fetch(testKey(i)); err != nil || !bytes.Equal(v, testValue(i)) {
							t.Errorf("fetch %d right after insert: %v", i, err)
							return
						}
						if ok, err := ts.Exists(testKey(i)); !ok || err != nil {
							t.Errorf("exists %d right after insert: %v %v", i, ok, err)
							return
						}
						if err := ts.Insert(testKey(i), []byte("again")); !errors.Is(err, ErrKeyExists) {
							t.Errorf("second insert of %d: %v, want ErrKeyExists", i, err)
							return
						}
					}
				}()
			}
			wg.Wait()
			if t.Failed() {
				return
			}
			if err := ts.Sync(); err != nil {
				t.Fatal(err)
			}
			st := ts.Stats()
			if st.Items != writers*per || st.Synced != st.Written || st.Written != st.LogEnd {
				t.Fatalf("after Sync: %d items, synced %d, written %d, log end %d", st.Items, st.Synced, st.Written, st.LogEnd)
			}
			all := make([]int, writers*per)
			for i := range all {
				all[i] = i
			}
			if err := ts.Close(); err != nil {
				t.Fatal(err)
			}
			ts.reopen(t)
			if !ts.Stats().Recovery.Clean {
				t.Fatalf("reopen after Close was not clean: %+v", ts.Stats().Recovery)
			}
			checkItems(t, ts.Store, all, testValue)
		})
	}
}

// A write that fails after its inserts returned stops the store: the next
// Insert, Sync and Close report ErrStopped, and what the last good Sync
// covered is there after a reopen.
func TestWriteBehindWriteError(t *testing.T) {
	fe := &faultEngine{failWrite: 12, writeErr: syscall.EIO, failed: map[uint64]bool{}}
	ts := newStore(t, nil)
	ts.Close()
	ts.opts = &Options{Sync: SyncWriteBehind, wrapEngine: func(inner ioengine.Engine) ioengine.Engine {
		fe.Engine = inner
		return fe
	}}
	ts.reopen(t)
	var synced []int
	var failure error
	for i := 0; i < 2000 && failure == nil; i++ {
		failure = ts.Insert(testKey(i), testValue(i))
		if failure == nil && i%10 == 9 {
			if failure = ts.Sync(); failure == nil {
				synced = synced[:0]
				for j := 0; j <= i; j++ {
					synced = append(synced, j)
				}
			}
		}
	}
	if !errors.Is(failure, ErrStopped) {
		t.Fatalf("the failed write surfaced as %v, want ErrStopped", failure)
	}
	if err := ts.Sync(); !errors.Is(err, ErrStopped) {
		t.Fatalf("Sync after the failure: %v", err)
	}
	if err := ts.Close(); !errors.Is(err, ErrStopped) {
		t.Fatalf("Close after the failure: %v", err)
	}
	ts.opts = nil
	ts.reopen(t)
	checkItems(t, ts.Store, synced, testValue)
	t.Logf("%d items synced before: %v", len(synced), failure)
}
