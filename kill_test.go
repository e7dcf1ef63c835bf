package nudb

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/nudbgo/nudb/datafile"
	"github.com/nudbgo/nudb/internal/killchild"
)

// killValue is the value the writer child inserts for item i.
func killValue(i int) []byte {
	n := (i * 7919) % 6000
	v := make([]byte, n)
	for j := range v {
		v[j] = byte(i ^ j)
	}
	return v
}

// runKillChild is the writer process: it inserts items from NUDB_START on
// and prints the index of each acknowledged insert, until it is killed.
// With NUDB_WRITERS goroutines it inserts in parallel (item start+w,
// start+w+writers, ...), so acknowledgements share group commits.
func runKillChild() {
	mode, _ := strconv.Atoi(os.Getenv("NUDB_MODE"))
	start, _ := strconv.Atoi(os.Getenv("NUDB_START"))
	writers, _ := strconv.Atoi(os.Getenv("NUDB_WRITERS"))
	writers = max(writers, 1)
	s, err := Open(os.Getenv("NUDB_DATA"), os.Getenv("NUDB_KEY"), &Options{Sync: SyncMode(mode), SyncInterval: 2e6})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(3)
	}
	var mu sync.Mutex
	if os.Getenv("NUDB_BATCH") != "" {
		// A bulk loader: batches of 500, each item printed once its batch
		// returns. The table splits and allocates pages all the time.
		for i := start; ; i += 500 {
			var b Batch
			for j := i; j < i+500; j++ {
				b.Put(testKey(j), killValue(j%700))
			}
			if _, err := s.InsertBatch(&b); err != nil {
				fmt.Fprintln(os.Stderr, "child batch:", err)
				os.Exit(4)
			}
			var out []byte
			for j := i; j < i+500; j++ {
				out = strconv.AppendInt(out, int64(j), 10)
				out = append(out, '\n')
			}
			os.Stdout.Write(out)
		}
	}
	for w := 0; w < writers; w++ {
		go func() {
			for i := start + w; ; i += writers {
				if err := s.Insert(testKey(i), killValue(i)); err != nil {
					fmt.Fprintln(os.Stderr, "child insert:", err)
					os.Exit(4)
				}
				mu.Lock()
				os.Stdout.WriteString(strconv.Itoa(i) + "\n")
				mu.Unlock()
			}
		}()
	}
	select {}
}

func TestKillWriter(t *testing.T) {
	if os.Getenv("NUDB_KILL_CHILD") != "" {
		runKillChild()
		return
	}
	cycles := 8
	if testing.Short() {
		cycles = 3
	}
	targets := map[string]func(t *testing.T) string{
		"file":   func(t *testing.T) string { return filepath.Join(t.TempDir(), "data") },
		"device": func(t *testing.T) string { return loopDevice(t, 128<<20) },
	}
	for _, target := range []string{"file", "device"} {
		for _, mode := range []SyncMode{SyncAlways, SyncInterval, SyncNever} {
			t.Run(target+"/"+mode.String(), func(t *testing.T) {
				data := targets[target](t)
				key := filepath.Join(t.TempDir(), "key")
				if err := Create(data, key, &Options{Overwrite: true}); err != nil {
					t.Fatal(err)
				}
				rng := rand.New(rand.NewPCG(uint64(mode), 7))
				var acked []int
				for c := 0; c < cycles; c++ {
					killAfter := 1 + rng.IntN(300)
					acked = append(acked, killChildAfter(t, data, key, mode, 1, c*1_000_000, killAfter)...)
					// Open at once, as a supervisor restarting the writer
					// would: Open waits out the dead writer's lock.
					s, err := Open(data, key, nil)
					if err != nil {
						t.Fatalf("cycle %d: open after kill -9: %v", c, err)
					}
					for _, i := range acked {
						v, err := s.Fetch(testKey(i))
						if err != nil || !bytes.Equal(v, killValue(i)) {
							s.Close()
							t.Fatalf("cycle %d: acknowledged item %d lost after kill -9: %v (recovery %+v)", c, i, err, s.Stats().Recovery)
						}
					}
					rec := s.Stats().Recovery
					items := s.Stats().Items
					if items < uint64(len(acked)) {
						t.Fatalf("cycle %d: the store counts %d items, %d were acknowledged (recovery %+v)", c, items, len(acked), rec)
					}
					if err := s.Close(); err != nil {
						t.Fatal(err)
					}
					rep, err := Verify(data, key, nil)
					if err != nil || !rep.OK() {
						t.Fatalf("cycle %d: verify: %v %+v", c, err, rep.Problems)
					}
					// The count is exact: the items of the log, not those
					// the recovery found indexed and replayed again.
					if items != rep.Items {
						t.Fatalf("cycle %d: the store counted %d items after the kill, the log holds %d (recovery %+v)", c, items, rep.Items, rec)
					}
					t.Logf("cycle %d: killed after %d acks; %d acknowledged items all present; recovery verified %d records, dropped %d, rebuilt %v",
						c, killAfter, len(acked), rec.RecordsVerified, rec.RecordsDropped, rec.Rebuilt)
				}
			})
		}
	}
}

// writerChild is the command that runs runKillChild on the store: writers
// goroutines inserting from item start on, printing each acknowledgement.
func writerChild(data, key string, mode SyncMode, writers, start int) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillWriter$")
	cmd.Env = append(os.Environ(), "NUDB_KILL_CHILD=1", "NUDB_DATA="+data, "NUDB_KEY="+key,
		"NUDB_MODE="+strconv.Itoa(int(mode)), "NUDB_START="+strconv.Itoa(start), "NUDB_WRITERS="+strconv.Itoa(writers))
	return cmd
}

// killChildAfter runs a writer child, SIGKILLs it once it has acknowledged
// n inserts, and returns every insert it acknowledged before it died.
func killChildAfter(t *testing.T, data, key string, mode SyncMode, writers, start, n int) []int {
	t.Helper()
	acked, err := killchild.Run(writerChild(data, key, mode, writers, start), n)
	if err != nil {
		t.Fatal(err)
	}
	return acked
}

// Invariant 6 with real processes: a writer with 1 or 8 goroutines under
// SyncAlways is killed, three 4 KiB blocks of durable records between 20%
// and 80% of the log are overwritten with garbage, and the store is opened
// at once: every acknowledged item outside the damaged records is there,
// byte for byte, with the key file and after a rebuild without it.
func TestKillThenDamage(t *testing.T) {
	targets := map[string]func(t *testing.T) string{
		"file":   func(t *testing.T) string { return filepath.Join(t.TempDir(), "data") },
		"device": func(t *testing.T) string { return loopDevice(t, 64<<20) },
	}
	for _, target := range []string{"file", "device"} {
		for _, writers := range []int{1, 8} {
			t.Run(fmt.Sprintf("%s/%d-writers", target, writers), func(t *testing.T) {
				data := targets[target](t)
				key := filepath.Join(t.TempDir(), "key")
				if err := Create(data, key, &Options{Overwrite: true}); err != nil {
					t.Fatal(err)
				}
				acked := killChildAfter(t, data, key, SyncAlways, writers, 0, 600)
				info, err := Inspect(data, key)
				if err != nil {
					t.Fatal(err)
				}
				records := recordsOf(t, data, info.Synced)
				rng := rand.New(rand.NewPCG(uint64(writers), 9))
				lost := map[string]bool{}
				for b := 0; b < 3; b++ {
					first, last := info.Synced/5/4096, info.Synced*4/5/4096
					off := (first + rng.Int64N(last-first)) * 4096
					overwrite(t, data, off, garbage(4096, uint64(b)))
					for _, r := range records {
						if r.from < off+4096 && off < r.to {
							for _, k := range r.keys {
								lost[k] = true
							}
						}
					}
				}
				for _, withKey := range []bool{true, false} {
					if !withKey {
						os.Remove(key)
					}
					s, err := Open(data, key, nil)
					if err != nil {
						t.Fatalf("open after kill and damage (key file %v): %v", withKey, err)
					}
					rec := s.Stats().Recovery
					missing := 0
					for _, i := range acked {
						v, err := s.Fetch(testKey(i))
						if lost[string(testKey(i))] {
							if err == nil && !bytes.Equal(v, killValue(i)) {
								t.Fatalf("item %d of a damaged record came back wrong", i)
							}
							missing++
							continue
						}
						if err != nil || !bytes.Equal(v, killValue(i)) {
							s.Close()
							t.Fatalf("key file %v: acknowledged item %d outside the damage: %v (recovery %+v)", withKey, i, err, rec)
						}
					}
					if err := s.Close(); err != nil {
						t.Fatal(err)
					}
					rep, err := Verify(data, key, nil)
					if err != nil || !rep.Consistent() || rep.DamagedRecords == 0 {
						t.Fatalf("verify: %v, %d damaged, %+v", err, rep.DamagedRecords, rep.Problems)
					}
					t.Logf("key file %v: %d acknowledged, %d in damaged records; recovery reported %d damaged records",
						withKey, len(acked), missing, rec.DamagedRecords)
				}
			})
		}
	}
}

// loggedRecord is where a record lies and which keys it holds.
type loggedRecord struct {
	from, to int64
	keys     []string
}

// recordsOf lists the records below end by reading the data file.
func recordsOf(t *testing.T, data string, end int64) []loggedRecord {
	t.Helper()
	f, err := os.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, end)
	if _, err := f.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	var out []loggedRecord
	for off := int64(4096); off < end; {
		h, err := datafile.DecodeHeader(b[off:])
		if err != nil {
			t.Fatalf("no record at %d below synced %d", off, end)
		}
		r := loggedRecord{from: off, to: h.End(4096)}
		datafile.EachItem(b[off+datafile.HeaderSize:off+datafile.HeaderSize+int64(h.PayloadLen)], h.Items, 0, 32, func(_ int64, k, _ []byte) error {
			r.keys = append(r.keys, string(k))
			return nil
		})
		out = append(out, r)
		off = r.to
	}
	return out
}

// A bulk loader killed at random moments, many times over one store, each
// time reopened at once: after a process crash the index is taken as the
// dead writer left it (its live geometry), so this is the test of that
// path: every acknowledged item is there, the count is right, Verify passes.
func TestKillBulkLoader(t *testing.T) {
	cycles := 5
	if testing.Short() {
		cycles = 2
	}
	for _, mode := range []SyncMode{SyncNever, SyncAlways} {
		t.Run(mode.String(), func(t *testing.T) {
			data, key := filepath.Join(t.TempDir(), "data"), filepath.Join(t.TempDir(), "key")
			if err := Create(data, key, nil); err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(uint64(mode), 11))
			var acked []int
			for c := 0; c < cycles; c++ {
				cmd := exec.Command(os.Args[0], "-test.run=^TestKillWriter$")
				cmd.Env = append(os.Environ(), "NUDB_KILL_CHILD=1", "NUDB_BATCH=1", "NUDB_DATA="+data, "NUDB_KEY="+key,
					"NUDB_MODE="+strconv.Itoa(int(mode)), "NUDB_START="+strconv.Itoa(c*10_000_000))
				got, err := killchild.Run(cmd, 500*(1+rng.IntN(40)))
				if err != nil {
					t.Fatal(err)
				}
				acked = append(acked, got...)
				s, err := Open(data, key, nil)
				if err != nil {
					t.Fatalf("cycle %d: open: %v", c, err)
				}
				for _, i := range acked {
					if v, err := s.Fetch(testKey(i)); err != nil || !bytes.Equal(v, killValue(i%700)) {
						s.Close()
						t.Fatalf("cycle %d: acknowledged item %d: %v (recovery %+v)", c, i, err, s.Stats().Recovery)
					}
				}
				if items := s.Stats().Items; items < uint64(len(acked)) {
					t.Fatalf("cycle %d: %d items counted, %d acknowledged", c, items, len(acked))
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				if rep, err := Verify(data, key, nil); err != nil || !rep.OK() {
					t.Fatalf("cycle %d: verify: %v %+v", c, err, rep.Problems)
				}
			}
			t.Logf("%d cycles, %d acknowledged items, all present", cycles, len(acked))
		})
	}
}

// The loss window of SyncWriteBehind, measured with real processes: a
// writer is killed with SIGKILL after a random number of acknowledged
// inserts and the store is opened at once. What it may lose is what it
// held in memory unwritten: the newest acknowledged inserts (a suffix of
// the acknowledgements, one writer writes in order), never more bytes than
// WriteBehindBytes; every item that is there is whole and right.
func TestKillWriteBehind(t *testing.T) {
	cycles := 8
	if testing.Short() {
		cycles = 3
	}
	data, key := filepath.Join(t.TempDir(), "data"), filepath.Join(t.TempDir(), "key")
	if err := Create(data, key, nil); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(11, 7))
	maxLost, maxLostBytes := 0, 0
	for c := 0; c < cycles; c++ {
		acked := killChildAfter(t, data, key, SyncWriteBehind, 1, c*1_000_000, 1+rng.IntN(3000))
		s, err := Open(data, key, nil)
		if err != nil {
			t.Fatalf("cycle %d: open after kill -9: %v", c, err)
		}
		firstLost, lost, lostBytes := -1, 0, 0
		for n, i := range acked {
			v, err := s.Fetch(testKey(i))
			switch {
			case errors.Is(err, ErrNotFound):
				if firstLost < 0 {
					firstLost = n
				}
				lost++
				lostBytes += len(testKey(i)) + len(killValue(i))
			case err != nil || !bytes.Equal(v, killValue(i)):
				s.Close()
				t.Fatalf("cycle %d: item %d came back wrong: %v", c, i, err)
			case firstLost >= 0:
				s.Close()
				t.Fatalf("cycle %d: acknowledgement %d is there after %d was lost: the loss is not the newest inserts", c, n, firstLost)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if lostBytes > 4<<20 {
			t.Fatalf("cycle %d: lost %d acknowledged bytes, WriteBehindBytes is 4 MiB", c, lostBytes)
		}
		if rep, err := Verify(data, key, nil); err != nil || !rep.OK() {
			t.Fatalf("cycle %d: verify: %v %+v", c, err, rep.Problems)
		}
		maxLost, maxLostBytes = max(maxLost, lost), max(maxLostBytes, lostBytes)
		t.Logf("cycle %d: killed after %d acknowledged inserts; the newest %d of them (%d bytes) were not yet written", c, len(acked), lost, lostBytes)
	}
	t.Logf("loss window: at most %d acknowledged inserts (%d bytes) in %d kills", maxLost, maxLostBytes, cycles)
}
