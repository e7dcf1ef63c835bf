package nudb

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// engines are the I/O engines every behaviour test runs against.
var engines = []IOEngine{IOEngineUring, IOEnginePwrite}

func (e IOEngine) String() string {
	switch e {
	case IOEngineUring:
		return "uring"
	case IOEnginePwrite:
		return "pwrite"
	}
	return "auto"
}

type testStore struct {
	*Store
	data, key string
	opts      *Options
}

// newStore creates and opens a store in a temporary directory.
func newStore(t testing.TB, opts *Options) *testStore {
	t.Helper()
	dir := t.TempDir()
	ts := &testStore{data: filepath.Join(dir, "data"), key: filepath.Join(dir, "key"), opts: opts}
	if err := Create(ts.data, ts.key, opts); err != nil {
		t.Fatal(err)
	}
	ts.reopen(t)
	return ts
}

func (ts *testStore) reopen(t testing.TB) {
	t.Helper()
	s, err := Open(ts.data, ts.key, ts.opts)
	if err != nil {
		t.Fatal(err)
	}
	ts.Store = s
	t.Cleanup(func() { s.Close() })
}

func testKey(i int) []byte {
	k := sha256.Sum256(binary.LittleEndian.AppendUint64(nil, uint64(i)))
	return k[:]
}

func testValue(i int) []byte {
	n := (i * 37) % 9000
	if i%50 == 0 {
		n = 70000 + i%1000 // past the 16-bit size hint
	}
	v := make([]byte, n)
	for j := range v {
		v[j] = byte(i + j*3)
	}
	return v
}

func forEngines(t *testing.T, fn func(t *testing.T, e IOEngine)) {
	for _, e := range engines {
		t.Run(e.String(), func(t *testing.T) { fn(t, e) })
	}
}

func TestInsertFetchReopen(t *testing.T) {
	forEngines(t, func(t *testing.T, e IOEngine) {
		for _, mode := range []SyncMode{SyncAlways, SyncInterval, SyncNever} {
			t.Run(mode.String(), func(t *testing.T) {
				ts := newStore(t, &Options{IOEngine: e, Sync: mode})
				want := map[IOEngine]string{IOEngineUring: "io_uring", IOEnginePwrite: "pwrite"}[e]
				if mode != SyncAlways {
					want = "buffered" // acknowledged once the kernel holds it
				}
				if got := ts.Stats().IOEngine; got != want {
					t.Fatalf("engine %q, want %q", got, want)
				}
				const n = 300
				for i := 0; i < n; i++ {
					if err := ts.Insert(testKey(i), testValue(i)); err != nil {
						t.Fatal(err)
					}
					// read-your-writes
					if v, err := ts.Fetch(testKey(i)); err != nil || !bytes.Equal(v, testValue(i)) {
						t.Fatalf("fetch %d right after insert: %v", i, err)
					}
				}
				check := func() {
					for i := 0; i < n; i++ {
						v, err := ts.Fetch(testKey(i))
						if err != nil || !bytes.Equal(v, testValue(i)) {
							t.Fatalf("fetch %d: %v (len %d)", i, err, len(v))
						}
					}
					if _, err := ts.Fetch(testKey(n + 1)); !errors.Is(err, ErrNotFound) {
						t.Fatalf("absent key: %v", err)
					}
					if st := ts.Stats(); st.Items != n {
						t.Fatalf("Items = %d, want %d", st.Items, n)
					}
				}
				check()
				if err := ts.Close(); err != nil {
					t.Fatal(err)
				}
				ts.reopen(t)
				// A clean reopen recovers nothing: it only re-hashes the
				// record the checkpoint names (its read size varies).
				if diff := cmp.Diff(RecoveryStats{Clean: true, RecordsVerified: 1}, ts.Stats().Recovery,
					cmpopts.IgnoreFields(RecoveryStats{}, "Duration", "Durable", "BytesScanned"), cmpopts.EquateEmpty()); diff != "" {
					t.Fatalf("recovery after Close (-want +got):\n%s", diff)
				}
				check()
			})
		}
	})
}

func TestInputErrors(t *testing.T) {
	ts := newStore(t, &Options{KeySize: 16, Sync: SyncNever})
	k := make([]byte, 16)
	if err := ts.Insert(k[:15], nil); !errors.Is(err, ErrKeySize) {
		t.Fatalf("short key: %v", err)
	}
	if err := ts.Insert(nil, nil); !errors.Is(err, ErrKeySize) {
		t.Fatalf("empty key: %v", err)
	}
	if err := ts.Insert(k, make([]byte, MaxValueSize+1)); !errors.Is(err, ErrValueSize) {
		t.Fatalf("oversized value: %v", err)
	}
	if _, err := ts.Fetch(k[:3]); !errors.Is(err, ErrKeySize) {
		t.Fatalf("fetch short key: %v", err)
	}
	if err := ts.Insert(k, nil); err != nil {
		t.Fatalf("empty value: %v", err)
	}
	if v, err := ts.Fetch(k); err != nil || len(v) != 0 {
		t.Fatalf("fetch empty value: %q, %v", v, err)
	}
	if err := ts.Insert(k, []byte("x")); !errors.Is(err, ErrKeyExists) {
		t.Fatalf("duplicate: %v", err)
	}
	big := bytes.Repeat([]byte("v"), MaxValueSize)
	k[0] = 1
	if err := ts.Insert(k, big); err != nil {
		t.Fatalf("largest value: %v", err)
	}
	if v, err := ts.Fetch(k); err != nil || !bytes.Equal(v, big) {
		t.Fatalf("fetch largest value: %v", err)
	}
	if _, err := Open(ts.data, ts.key, nil); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	if err := Create(ts.data, ts.key, nil); !errors.Is(err, ErrExists) {
		t.Fatalf("create over a store: %v, want ErrExists", err)
	}
	ts.Close()
	if err := ts.Insert(k, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("insert after close: %v", err)
	}
	if _, err := ts.Fetch(k); !errors.Is(err, ErrClosed) {
		t.Fatalf("fetch after close: %v", err)
	}
	if err := ts.Sync(); !errors.Is(err, ErrClosed) {
		t.Fatalf("sync after close: %v", err)
	}
	if err := ts.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

func TestOpenNotAStoreLeavesFileUntouched(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "notes.txt")
	content := bytes.Repeat([]byte("just some text, not a store\n"), 500)
	os.WriteFile(data, content, 0o644)
	key := filepath.Join(dir, "key")
	if _, err := Open(data, key, nil); !errors.Is(err, ErrNotStore) {
		t.Fatalf("open: %v, want ErrNotStore", err)
	}
	got, _ := os.ReadFile(data)
	if !bytes.Equal(got, content) {
		t.Fatal("Open changed a file that is not a store")
	}
	if _, err := os.Stat(key); !os.IsNotExist(err) {
		t.Fatalf("Open created a key file for a non-store: %v", err)
	}
	if err := Create(data, key, nil); !errors.Is(err, ErrExists) {
		t.Fatalf("create over a non-empty file: %v", err)
	}
}

func TestSecondOpenFromAnotherProcessIsLocked(t *testing.T) {
	if os.Getenv("NUDB_LOCK_CHILD") != "" {
		_, err := Open(os.Getenv("NUDB_DATA"), os.Getenv("NUDB_KEY"), nil)
		fmt.Print(errors.Is(err, ErrLocked))
		os.Exit(0)
	}
	ts := newStore(t, nil)
	cmd := exec.Command(os.Args[0], "-test.run=^TestSecondOpenFromAnotherProcessIsLocked$")
	cmd.Env = append(os.Environ(), "NUDB_LOCK_CHILD=1", "NUDB_DATA="+ts.data, "NUDB_KEY="+ts.key)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), "true") {
		t.Fatalf("child process open: ErrLocked=%s", out)
	}
}

func TestDuplicateRaceExactlyOneWins(t *testing.T) {
	for _, mode := range []SyncMode{SyncNever, SyncWriteBehind} {
		t.Run(mode.String(), func(t *testing.T) { duplicateRace(t, mode) })
	}
}

// duplicateRace races 32 inserts of one key, twenty times: the pending
// set's rule (one shard per key) admits exactly one.
func duplicateRace(t *testing.T, mode SyncMode) {
	ts := newStore(t, &Options{Sync: mode})
	for round := 0; round < 20; round++ {
		var wins, exists atomic.Int32
		var wg sync.WaitGroup
		for g := 0; g < 32; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := ts.Insert(testKey(round), []byte{byte(g)})
				switch {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, ErrKeyExists):
					exists.Add(1)
				default:
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 || exists.Load() != 31 {
			t.Fatalf("round %d: %d wins, %d ErrKeyExists", round, wins.Load(), exists.Load())
		}
	}
	// Under SyncWriteBehind the winners may still be held in memory: Sync
	// writes and indexes them before the count is read.
	if err := ts.Sync(); err != nil {
		t.Fatal(err)
	}
	if ts.Stats().Items != 20 {
		t.Fatalf("items %d", ts.Stats().Items)
	}
}

func TestGroupCommitSharesBarriers(t *testing.T) {
	forEngines(t, func(t *testing.T, e IOEngine) {
		ts := newStore(t, &Options{IOEngine: e})
		const goroutines, per = 64, 20
		before := ts.Stats().Syncs
		var wg sync.WaitGroup
		for g := 0; g < goroutines; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < per; i++ {
					if err := ts.Insert(testKey(g*per+i), []byte("durable")); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		wg.Wait()
		items := uint64(goroutines * per)
		syncs := ts.Stats().Syncs - before
		t.Logf("%d durable inserts from %d goroutines took %d barriers", items, goroutines, syncs)
		if syncs == 0 || syncs >= items/4 {
			t.Fatalf("%d barriers for %d items: group commit is not sharing them", syncs, items)
		}
	})
}

func TestVisitInLogOrder(t *testing.T) {
	ts := newStore(t, &Options{Sync: SyncNever})
	var b Batch
	for i := 0; i < 500; i++ {
		b.Put(testKey(i), testValue(i))
	}
	b.Put(testKey(3), testValue(3)) // repeated within the batch
	if skipped, err := ts.InsertBatch(&b); err != nil || skipped != 1 {
		t.Fatalf("batch: skipped %d, %v", skipped, err)
	}
	i := 0
	err := ts.Visit(func(k, v []byte) error {
		if !bytes.Equal(k, testKey(i)) || !bytes.Equal(v, testValue(i)) {
			return fmt.Errorf("item %d out of order or wrong", i)
		}
		i++
		return nil
	})
	if err != nil || i != 500 {
		t.Fatalf("visited %d: %v", i, err)
	}
}

// Close while fetches run: every fetch returns its value or ErrClosed, and
// none reads an unmapped key file.
func TestCloseDuringFetches(t *testing.T) {
	ts := newStore(t, &Options{Sync: SyncNever})
	for i := 0; i < 2000; i++ {
		if err := ts.Insert(testKey(i), testValue(i)); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	var fetched, closed atomic.Int64
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				_, err := ts.Fetch(testKey(i % 2000))
				switch {
				case err == nil:
					fetched.Add(1)
				case errors.Is(err, ErrClosed):
					closed.Add(1)
					return
				default:
					t.Error(err)
					return
				}
			}
		}()
	}
	for fetched.Load() < 1000 {
		runtime.Gosched()
	}
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if closed.Load() != 4 {
		t.Fatalf("%d of 4 fetching goroutines saw ErrClosed", closed.Load())
	}
}
