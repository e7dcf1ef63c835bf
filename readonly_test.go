package nudb

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nudbgo/nudb/internal/killchild"

	"github.com/nudbgo/nudb/internal/testfs"
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
			data, key := newFiles(t)
			cmd := writerChild(data, key, mode, 4, 0)
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

// runReaderChild is a reader process of TestReadOnlyReaderProcesses: it
// opens the store read-only and, for every acknowledged item number that
// arrives on stdin, fetches that item and one earlier at random; at the
// end of stdin it fetches every item it was told of again and counts the
// items All yields. It prints "ok <items>" or one "fail ..." line.
func runReaderChild() {
	r, err := Open(os.Getenv("NUDB_DATA"), os.Getenv("NUDB_KEY"), &Options{ReadOnly: true})
	if err != nil {
		fmt.Println("fail open:", err)
		return
	}
	defer r.Close()
	check := func(i int) bool {
		v, err := r.Fetch(testKey(i))
		if err != nil || !bytes.Equal(v, killValue(i)) {
			fmt.Printf("fail item %d: %v\n", i, err)
			return false
		}
		return true
	}
	var seen []int
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		i, err := strconv.Atoi(sc.Text())
		if err != nil {
			continue
		}
		seen = append(seen, i)
		if !check(i) || !check(seen[rand.IntN(len(seen))]) {
			return
		}
	}
	for _, i := range seen {
		if !check(i) {
			return
		}
	}
	n := 0
	for range r.All() {
		n++
	}
	if n < len(seen) {
		fmt.Printf("fail All yielded %d items, %d were acknowledged\n", n, len(seen))
		return
	}
	fmt.Println("ok", len(seen))
}

// Three reader processes beside a writer process: the writer (4
// goroutines) prints each acknowledged insert; the test hands every
// acknowledgement to each reader as it arrives, and each reader fetches it
// at once, and a random earlier one, while the writer splits, grows and
// checkpoints. The writer is then killed with SIGKILL and the readers,
// which outlive it, fetch everything again and walk the log with All.
func TestReadOnlyReaderProcesses(t *testing.T) {
	if os.Getenv("NUDB_READER_CHILD") != "" {
		runReaderChild()
		return
	}
	for _, mode := range []SyncMode{SyncAlways, SyncNever} {
		t.Run(mode.String(), func(t *testing.T) {
			data, key := newFiles(t)
			// One acknowledgement first, so the readers open a store with
			// a writer already running.
			type reader struct {
				cmd *exec.Cmd
				in  io.WriteCloser
				out bytes.Buffer
			}
			var readers []*reader
			startReaders := func() {
				for k := 0; k < 3; k++ {
					rd := &reader{cmd: exec.Command(os.Args[0], "-test.run=^TestReadOnlyReaderProcesses$")}
					rd.cmd.Env = append(os.Environ(), "NUDB_READER_CHILD=1", "NUDB_DATA="+data, "NUDB_KEY="+key)
					rd.cmd.Stdout = &rd.out
					var err error
					if rd.in, err = rd.cmd.StdinPipe(); err != nil {
						t.Fatal(err)
					}
					if err := rd.cmd.Start(); err != nil {
						t.Fatal(err)
					}
					readers = append(readers, rd)
				}
			}
			want := 6000
			if mode == SyncAlways {
				want = 1500
			}
			cmd := writerChild(data, key, mode, 4, 0)
			forwarded := 0
			forward := func(acked []int) {
				for ; forwarded < len(acked); forwarded++ {
					line := strconv.Itoa(acked[forwarded]) + "\n"
					for _, rd := range readers {
						io.WriteString(rd.in, line) // a reader that failed has gone: its output says why
					}
				}
			}
			acked, err := killchild.RunUntil(cmd, func(acked []int) bool {
				if readers == nil {
					startReaders()
				}
				forward(acked)
				return len(acked) >= want
			})
			if err != nil {
				t.Fatal(err)
			}
			// The writer is dead. The acknowledgements it printed after the
			// kill was sent go to the readers too; then they check all.
			forward(acked)
			for _, rd := range readers {
				rd.in.Close()
			}
			for k, rd := range readers {
				rd.cmd.Wait()
				out, _, _ := strings.Cut(rd.out.String(), "\n")
				if out != "ok "+strconv.Itoa(len(acked)) {
					t.Fatalf("reader %d: %q (the writer acknowledged %d)", k, out, len(acked))
				}
			}
			t.Logf("3 reader processes fetched each of %d acknowledged items as it was acknowledged, and all of them after the writer was killed", len(acked))
		})
	}
}

// On a read-only filesystem a store opens read-only and serves every item;
// an open for writing says why it cannot.
func TestReadOnlyFilesystem(t *testing.T) {
	mnt := testfs.Small(t, "ext4", 32<<20)
	data, key := filepath.Join(mnt, "data"), filepath.Join(mnt, "key")
	if err := Create(data, key, nil); err != nil {
		t.Fatal(err)
	}
	w, err := Open(data, key, &Options{Sync: SyncNever})
	if err != nil {
		t.Fatal(err)
	}
	idx := make([]int, 300)
	for i := range idx {
		idx[i] = i
		if err := w.Insert(testKey(i), testValue(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-o", "remount,ro", mnt).CombinedOutput(); err != nil {
		t.Skipf("remount read-only: %v: %s", err, out)
	}
	if _, err := Open(data, key, nil); err == nil {
		t.Fatal("an open for writing succeeded on a read-only filesystem")
	}
	r, err := Open(data, key, &Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open on a read-only filesystem: %v", err)
	}
	defer r.Close()
	checkItems(t, r, idx, testValue)
}

// newFiles creates an empty store in a temporary directory and returns
// its paths.
func newFiles(t *testing.T) (data, key string) {
	dir := t.TempDir()
	data, key = filepath.Join(dir, "data"), filepath.Join(dir, "key")
	if err := Create(data, key, nil); err != nil {
		t.Fatal(err)
	}
	return data, key
}
