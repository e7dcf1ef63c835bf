package nudb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/nudbgo/nudb/internal/killchild"
)

// A read-only open writes not a byte to either file, takes no lock (it
// opens beside a writer of this process and beside another reader), serves
// every read, and refuses every write with ErrReadOnly.
func TestReadOnlyWritesNothing(t *testing.T) {
	ts := newStore(t, &Options{Sync: SyncNever})
	const n = 2000
	for i := 0; i < n; i++ {
		if err := ts.Insert(testKey(i), testValue(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	dataSum, keySum := fileHash(t, ts.data), fileHash(t, ts.key)
	ro := &Options{ReadOnly: true}
	r1, err := Open(ts.data, ts.key, ro)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Open(ts.data, ts.key, ro)
	if err != nil {
		t.Fatalf("a second read-only open: %v", err)
	}
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	checkItems(t, r1, all, testValue)
	checkItems(t, r2, all, testValue)
	count := 0
	for range r1.All() {
		count++
	}
	if count != n {
		t.Fatalf("All on a read-only store: %d items, want %d", count, n)
	}
	if st := r1.Stats(); st.Items != n || st.IOEngine != "" {
		t.Fatalf("Stats: %d items, engine %q", st.Items, st.IOEngine)
	}
	var b Batch
	b.Put(testKey(n), []byte("x"))
	for name, err := range map[string]error{
		"Insert":        r1.Insert(testKey(n), []byte("x")),
		"InsertContext": r1.InsertContext(context.Background(), testKey(n), []byte("x")),
		"InsertReader":  r1.InsertReader(testKey(n), bytes.NewReader([]byte("x"))),
		"Sync":          r1.Sync(),
		"InsertBatch":   func() error { _, err := r1.InsertBatch(&b); return err }(),
	} {
		if !errors.Is(err, ErrReadOnly) {
			t.Errorf("%s on a read-only store: %v, want ErrReadOnly", name, err)
		}
	}
	// A writer opens beside the readers (they hold no lock) and writes;
	// the readers see its new items.
	ts.reopen(t)
	if err := ts.Insert(testKey(n), testValue(n)); err != nil {
		t.Fatal(err)
	}
	if v, err := r1.Fetch(testKey(n)); err != nil || !bytes.Equal(v, testValue(n)) {
		t.Fatalf("a reader beside a writer of this process: %v", err)
	}
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	dataSum, keySum = fileHash(t, ts.data), fileHash(t, ts.key)
	checkItems(t, r1, append(all, n), testValue)
	if err := r1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r2.Close(); err != nil {
		t.Fatal(err)
	}
	if fileHash(t, ts.data) != dataSum || fileHash(t, ts.key) != keySum {
		t.Fatal("a read-only store changed its files")
	}
	// A key file that cannot serve is an error, never repaired.
	os.Remove(ts.key)
	if _, err := Open(ts.data, ts.key, ro); err == nil {
		t.Fatal("a read-only open without a key file succeeded")
	}
	if _, err := os.Stat(ts.key); !os.IsNotExist(err) {
		t.Fatalf("a read-only open made a key file: %v", err)
	}
}

// Readers beside a live writer in another process: the writer inserts
// (SyncAlways, SyncNever) and prints each acknowledged key; as each line
// arrives the reader fetches that key, and every earlier tenth one, while
// the writer's table splits, grows and checkpoints. No acknowledged key is
// missing, no value is wrong. Then the writer is killed, and the reader
// still serves everything it acknowledged.
func TestReadOnlyBesideALiveWriter(t *testing.T) {
	for _, mode := range []SyncMode{SyncAlways, SyncNever} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			data, key := filepath.Join(dir, "data"), filepath.Join(dir, "key")
			if err := Create(data, key, nil); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestKillWriter$")
			cmd.Env = append(os.Environ(), "NUDB_KILL_CHILD=1", "NUDB_DATA="+data, "NUDB_KEY="+key,
				"NUDB_MODE="+strconv.Itoa(int(mode)), "NUDB_START=0", "NUDB_WRITERS=4")
			var r *Store
			var failure error
			want := 20000
			if mode == SyncAlways {
				want = 3000
			}
			fetched := 0
			acked, err := killchild.RunUntil(cmd, func(acked []int) bool {
				if failure != nil {
					return true
				}
				if r == nil {
					if r, failure = Open(data, key, &Options{ReadOnly: true}); failure != nil {
						return true
					}
				}
				check := func(i int) {
					v, err := r.Fetch(testKey(i))
					if err != nil || !bytes.Equal(v, killValue(i)) {
						failure = fmt.Errorf("acknowledged item %d (of %d) read beside the writer: %v", i, len(acked), err)
					}
					fetched++
				}
				check(acked[len(acked)-1])
				if len(acked)%10 == 0 {
					check(acked[len(acked)/2])
				}
				return failure != nil || len(acked) >= want
			})
			if err != nil {
				t.Fatal(err)
			}
			if failure != nil {
				t.Fatal(failure)
			}
			defer r.Close()
			checkItems(t, r, acked, killValue)
			st := r.Stats()
			t.Logf("%d acknowledged, %d fetched while the writer ran, all found; the reader's table: %d buckets", len(acked), fetched, st.Buckets)
		})
	}
}
