package nudb

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nudbgo/nudb/datafile"
	"github.com/nudbgo/nudb/internal/crashsim"
	"github.com/nudbgo/nudb/keyfile"
)

var (
	crashStates = flag.Int("crash.states", 2000, "crash states TestCrashStates materialises and checks")
	crashSeed   = flag.Uint64("crash.seed", 0, "seed for TestCrashStates (0: from the clock)")
	crashReplay = flag.String("crash.replay", "", "directory with a saved crash state (data, key, want) to open and check")
)

// crashWorkload is one way of writing a store while the recorder watches.
type crashWorkload struct {
	name    string
	mode    SyncMode
	engine  IOEngine
	writers int
	items   int // per run
	close   bool
}

var crashWorkloads = []crashWorkload{
	{name: "always-1-uring", mode: SyncAlways, engine: IOEngineUring, writers: 1, items: 120},
	{name: "always-8-uring", mode: SyncAlways, engine: IOEngineUring, writers: 8, items: 400},
	{name: "always-4-pwrite", mode: SyncAlways, engine: IOEnginePwrite, writers: 4, items: 300},
	{name: "interval-4-uring", mode: SyncInterval, engine: IOEngineUring, writers: 4, items: 400},
	{name: "never-2-pwrite", mode: SyncNever, engine: IOEnginePwrite, writers: 2, items: 400},
	{name: "never-1-uring-close", mode: SyncNever, engine: IOEngineUring, writers: 1, items: 200, close: true},
	{name: "behind-2", mode: SyncWriteBehind, writers: 2, items: 400},
}

// crashRun is one recorded run of a workload.
type crashRun struct {
	events         []crashsim.Event
	baseData       []byte
	baseKey        []byte
	dataSize       int64
	values         map[string][]byte // every key ever inserted (acknowledged or not)
	logOrder       [][]byte          // keys in log order, from the recorded writes
	keys           [][]byte          // keys by insert index, as the notes name them
	writes         []crashsim.Event  // the recorded writes, in log order
	keySize, block int
}

// writeAt returns the bytes of the recorded record at off.
func (run *crashRun) writeAt(off int64) []byte {
	for _, w := range run.writes {
		if w.Off == off {
			return w.Data
		}
	}
	return nil
}

// crashValue is the value of item i: sizes from empty to many blocks.
func crashValue(rng *rand.Rand, i int) []byte {
	var n int
	switch rng.IntN(10) {
	case 0:
		n = 0
	case 1:
		n = 4096 + rng.IntN(20000) // several blocks
	default:
		n = rng.IntN(300)
	}
	v := make([]byte, n)
	for j := range v {
		v[j] = byte(i*131 + j)
	}
	return v
}

func recordRun(t *testing.T, wl crashWorkload, rng *rand.Rand) *crashRun {
	dir := t.TempDir()
	data, key := filepath.Join(dir, "data"), filepath.Join(dir, "key")
	if err := Create(data, key, &Options{KeySize: 24}); err != nil {
		t.Fatal(err)
	}
	run := &crashRun{values: map[string][]byte{}, keySize: 24, block: 4096}
	run.baseData, _ = os.ReadFile(data)
	run.baseKey, _ = os.ReadFile(key)
	rec := crashsim.NewRecorder()
	opts := &Options{Sync: wl.mode, IOEngine: wl.engine, SyncInterval: time.Millisecond, SyncBytes: 32 << 10,
		MaxRecordSize: 16 << 10, wrapEngine: rec.Wrap, afterMsync: rec.AfterMsync,
		checkpointEvery: time.Millisecond, checkpointSplits: 2}
	s, err := Open(data, key, opts)
	if err != nil {
		t.Fatal(err)
	}
	rec.SetKeyFile(s.kf.Mapped)

	keys := make([][]byte, wl.items)
	vals := make([][]byte, wl.items)
	for i := range keys {
		keys[i] = make([]byte, 24)
		for j := range keys[i] {
			keys[i][j] = byte(rng.Uint32())
		}
		vals[i] = crashValue(rng, i)
		run.values[string(keys[i])] = vals[i]
	}
	run.keys = keys
	var next atomic.Int64
	var wg sync.WaitGroup
	var syncMu sync.Mutex
	for w := 0; w < wl.writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= wl.items {
					return
				}
				if err := s.Insert(keys[i], vals[i]); err != nil {
					t.Error(err)
					return
				}
				rec.Note("ack:" + strconv.Itoa(i))
				if wl.mode != SyncAlways && i%37 == 0 {
					// A Sync makes every insert acknowledged before it durable.
					syncMu.Lock()
					rec.Note("syncbegin")
					if err := s.Sync(); err != nil {
						t.Error(err)
					}
					rec.Note("syncend")
					syncMu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if wl.close {
		err = s.Close()
	} else {
		err = s.shutdown(false) // the process dies: nothing more reaches the disk
	}
	if err != nil {
		t.Fatal(err)
	}
	run.events = rec.Events()
	if st, err := os.Stat(data); err == nil {
		run.dataSize = st.Size()
	}
	run.writes = writesOf(run.events)
	run.logOrder = logOrderOf(t, run.writes, 24)
	return run
}

// writesOf lists the recorded writes in log order.
func writesOf(events []crashsim.Event) []crashsim.Event {
	var writes []crashsim.Event
	for _, ev := range events {
		if ev.Kind == crashsim.Write {
			writes = append(writes, ev)
		}
	}
	sort.Slice(writes, func(i, j int) bool { return writes[i].Off < writes[j].Off })
	return writes
}

// logOrderOf lists the keys of every recorded record, in log order.
func logOrderOf(t *testing.T, writes []crashsim.Event, keySize int) [][]byte {
	var keys [][]byte
	for _, w := range writes {
		h, err := datafile.DecodeHeader(w.Data)
		if err != nil {
			t.Fatalf("recorded write at %d is not a record: %v", w.Off, err)
		}
		payload := w.Data[datafile.HeaderSize : datafile.HeaderSize+int(h.PayloadLen)]
		datafile.EachItem(payload, h.Items, 0, keySize, func(_ int64, k, _ []byte) error {
			keys = append(keys, append([]byte(nil), k...))
			return nil
		})
	}
	return keys
}

// durableKeys reads the notes before a cut: acknowledged inserts are
// durable under SyncAlways, else when a Sync began after them and returned.
func durableKeys(notes []string, mode SyncMode) []int {
	var acked, durable []int
	var pending []int
	for _, n := range notes {
		switch {
		case strings.HasPrefix(n, "ack:"):
			i, _ := strconv.Atoi(n[4:])
			acked = append(acked, i)
			if mode == SyncAlways {
				durable = append(durable, i)
			}
		case n == "syncbegin":
			pending = slices.Clone(acked)
		case n == "syncend":
			durable = append(durable, pending...)
		}
	}
	return durable
}

func TestCrashStates(t *testing.T) {
	seed := *crashSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	states := *crashStates
	if testing.Short() {
		states = min(states, 240)
	}
	// More states come from more recorded runs, not just more cuts of few.
	runsPer := max(4, states/(100*len(crashWorkloads)))
	perRun := max(1, (states+len(crashWorkloads)*runsPer-1)/(len(crashWorkloads)*runsPer))
	t.Logf("seed %d, %d states (replay: go test -run 'TestCrashStates' -crash.seed=%d -crash.states=%d .)", seed, perRun*runsPer*len(crashWorkloads), seed, states)
	var tally crashTally
	t.Cleanup(func() {
		t.Logf("checked %d crash states: %d torn writes, %d dropped writes, %d key-file sectors left old; %d opens rebuilt the key file; "+
			"%d states with media damage (%d without the key file), %d items lost to it",
			tally.checked.Load(), tally.torn.Load(), tally.dropped.Load(), tally.mixed.Load(), tally.rebuilt.Load(),
			tally.damaged.Load(), tally.noKey.Load(), tally.lost.Load())
	})
	for wi, wl := range crashWorkloads {
		t.Run(wl.name, func(t *testing.T) {
			t.Parallel()
			for r := 0; r < runsPer; r++ {
				rng := rand.New(rand.NewPCG(seed, uint64(wi*1000+r)))
				run := recordRun(t, wl, rng)
				if t.Failed() {
					return
				}
				for k := 0; k < perRun; k++ {
					cut := rng.IntN(len(run.events) + 1)
					if k == 0 {
						cut = len(run.events) // the crash after everything
					}
					st := crashsim.Materialise(run.events, cut, run.baseData, run.baseKey, run.dataSize, rng)
					keyfile.ForgetBoot(st.Key) // a power loss reboots the machine
					tally.torn.Add(int64(st.Torn))
					tally.dropped.Add(int64(st.Dropped))
					mixed := int64(st.KeyMixed)
					tally.mixed.Add(mixed)
					rb, dmg, err := checkCrashState(t, run, wl, st, rng)
					if err != nil {
						dir := saveCrashState(run, wl, st, dmg)
						t.Fatalf("seed %d workload %s run %d state %d (cut %d of %d, %d torn, %d dropped, %d key sectors old, damage %+v): %v\nstate saved in %s; replay it with: go test -run TestCrashReplay -crash.replay=%s .",
							seed, wl.name, r, k, cut, len(run.events), st.Torn, st.Dropped, st.KeyMixed, dmg, err, dir, dir)
					}
					tally.checked.Add(1)
					if rb {
						tally.rebuilt.Add(1)
					}
					if dmg.record != nil {
						tally.damaged.Add(1)
						tally.lost.Add(int64(len(dmg.keys)))
						if dmg.noKeyFile {
							tally.noKey.Add(1)
						}
					}
				}
			}
		})
	}
}

// crashTally counts, across the parallel workloads, what the states held.
type crashTally struct {
	checked, torn, dropped, mixed, rebuilt, damaged, noKey, lost atomic.Int64
}

// mediaDamage is damage done to a crash state's data file after the
// crash: bytes of one durable record overwritten, as a bad sector or bit
// rot would, with or without the key file.
type mediaDamage struct {
	record    *datafile.Header
	from, to  int64               // the bytes overwritten
	flips     bool                // bit flips rather than garbage
	noKeyFile bool                // the key file was deleted too
	keys      map[string]struct{} // the items of the damaged record
}

// damageState overwrites part of one record that is durable by what the
// state itself proves (the durable marks of its intact records, and the
// key file's synced watermark when the key file is kept), half the time.
// Any record qualifies: the oldest, the newest, the checkpoint's.
func damageState(t *testing.T, run *crashRun, st *crashsim.State, data, key string, rng *rand.Rand) mediaDamage {
	var d mediaDamage
	if rng.IntN(2) == 0 {
		return d
	}
	d.noKeyFile = rng.IntN(3) == 0
	sb, err := datafile.DecodeSuperblock(st.Data)
	if err != nil {
		t.Fatal(err)
	}
	var intact []datafile.Header
	var durable int64
	for _, w := range run.writes {
		if w.Off+int64(len(w.Data)) > int64(len(st.Data)) || !bytes.Equal(st.Data[w.Off:w.Off+int64(len(w.Data))], w.Data) {
			continue
		}
		h, _ := datafile.DecodeHeader(w.Data)
		intact = append(intact, h)
		durable = max(durable, h.Durable)
	}
	if !d.noKeyFile {
		if h, err := keyfile.ReadHeader(key, identityOf(sb)); err == nil {
			if h.Valid() {
				durable = max(durable, int64(h.Synced))
			} else {
				durable = max(durable, h.Checkpoint.Offset)
			}
		}
	}
	var cands []datafile.Header
	for _, h := range intact {
		if h.End(run.block) <= durable {
			cands = append(cands, h)
		}
	}
	if len(cands) == 0 {
		return mediaDamage{}
	}
	h := cands[rng.IntN(len(cands))]
	if rng.IntN(4) == 0 {
		h = cands[len(cands)-1] // the newest durable record
	}
	d.record = &h
	// Damage the hashed bytes (header and payload): the zero padding
	// after them is not part of the record, and damage there loses nothing.
	size := int64(datafile.HeaderSize) + int64(h.PayloadLen)
	d.from = h.Offset + rng.Int64N(size)
	d.to = min(d.from+1+rng.Int64N(700), h.Offset+size)
	d.flips = rng.IntN(2) == 0
	b := st.Data[d.from:d.to]
	if d.flips {
		for i := 0; i < 1+rng.IntN(3); i++ {
			b[rng.IntN(len(b))] ^= 1 << rng.IntN(8)
		}
	} else {
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
	}
	if bytes.Equal(b, run.writeAt(h.Offset)[d.from-h.Offset:d.to-h.Offset]) {
		return mediaDamage{} // the garbage happened to equal the record
	}
	d.keys = map[string]struct{}{}
	rec := run.writeAt(h.Offset)
	datafile.EachItem(rec[datafile.HeaderSize:datafile.HeaderSize+int(h.PayloadLen)], h.Items, 0, run.keySize, func(_ int64, k, _ []byte) error {
		d.keys[string(k)] = struct{}{}
		return nil
	})
	return d
}

// checkCrashState opens a materialised state, perhaps damaged on the
// medium as well, and holds it to DESIGN.md's six invariants, plus Verify
// after a clean close.
func checkCrashState(t *testing.T, run *crashRun, wl crashWorkload, st crashsim.State, rng *rand.Rand) (rebuilt bool, dmg mediaDamage, err error) {
	dir := t.TempDir()
	data, key := filepath.Join(dir, "data"), filepath.Join(dir, "key")
	if err := st.WriteFiles(data, key); err != nil {
		t.Fatal(err)
	}
	dmg = damageState(t, run, &st, data, key, rng)
	if dmg.record != nil {
		if err := st.WriteFiles(data, key); err != nil {
			t.Fatal(err)
		}
		if dmg.noKeyFile {
			os.Remove(key)
		}
	}
	durable := durableKeys(st.NotesBefore, wl.mode)
	rebuilt, err = checkOpenedState(data, key, run.values, durable, run.logOrder, run.keyOfIndex(), dmg.keys)
	return rebuilt, dmg, err
}

// keyOfIndex maps an insert's index (as noted) to its key.
func (run *crashRun) keyOfIndex() func(i int) []byte {
	return func(i int) []byte { return run.keys[i] }
}

// checkOpenedState opens a store and checks the invariants. lost holds
// the keys of records damaged on the medium (nil: no damage): they may be
// gone (not found, or reported corrupt), never wrong; everything else must
// hold as without damage.
func checkOpenedState(data, key string, values map[string][]byte, durable []int, logOrder [][]byte, keyOf func(int) []byte, lost map[string]struct{}) (bool, error) {
	s, err := Open(data, key, nil)
	if err != nil {
		return false, fmt.Errorf("invariant 1: Open failed: %w", err)
	}
	rec := s.Stats().Recovery
	// 2 and 6: every durable acknowledged insert is there, byte for byte,
	// unless media damage took its record.
	for _, i := range durable {
		k := keyOf(i)
		if _, gone := lost[string(k)]; gone {
			continue
		}
		v, err := s.Fetch(k)
		if err != nil || !bytes.Equal(v, values[string(k)]) {
			s.Close()
			return false, fmt.Errorf("invariant 2/6: durable insert %d: %v (recovery %+v)", i, err, rec)
		}
	}
	// 3: nothing returns a value that was not inserted for its key.
	for k, want := range values {
		v, err := s.Fetch([]byte(k))
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if _, gone := lost[k]; gone && errors.Is(err, ErrCorrupt) {
			continue
		}
		if err != nil || !bytes.Equal(v, want) {
			s.Close()
			return false, fmt.Errorf("invariant 3: fetch returned %d bytes, err %v", len(v), err)
		}
	}
	// 4: the surviving items are a prefix of the appended ones, less the
	// damaged record's.
	var order [][]byte
	for _, k := range logOrder {
		if _, gone := lost[string(k)]; !gone {
			order = append(order, k)
		}
	}
	n := 0
	err = s.Visit(func(k, _ []byte) error {
		if logOrder != nil && (n >= len(order) || !bytes.Equal(k, order[n])) {
			return fmt.Errorf("invariant 4: item %d of the log is not the %dth appended", n, n)
		}
		n++
		return nil
	})
	if err != nil && lost != nil && errors.Is(err, ErrCorrupt) && !strings.Contains(err.Error(), "invariant") {
		err = nil // Visit reports the damage it stepped over
	}
	if err == nil && lost == nil && uint64(n) != s.Stats().Items {
		err = fmt.Errorf("index holds %d items, the log %d", s.Stats().Items, n)
	}
	if err != nil {
		s.Close()
		return false, err
	}
	// The recovered store takes writes.
	probe := bytes.Repeat([]byte{0xEE}, s.geom.KeySize)
	if err := s.Insert(probe, []byte("after recovery")); err != nil && !errors.Is(err, ErrKeyExists) {
		s.Close()
		return false, fmt.Errorf("insert after recovery: %w", err)
	}
	if err := s.Close(); err != nil {
		return false, fmt.Errorf("close after recovery: %w", err)
	}
	rep, err := Verify(data, key, nil)
	if err != nil || !rep.Consistent() || (lost == nil && !rep.OK()) {
		return false, fmt.Errorf("invariant 1: Verify after recovery: %v %+v", err, rep.Problems)
	}
	return rec.Rebuilt, nil
}

func saveCrashState(run *crashRun, wl crashWorkload, st crashsim.State, dmg mediaDamage) string {
	dir, err := os.MkdirTemp("", "nudb-crash-")
	if err != nil {
		return "(not saved: " + err.Error() + ")"
	}
	st.WriteFiles(filepath.Join(dir, "data"), filepath.Join(dir, "key"))
	if dmg.noKeyFile {
		os.Remove(filepath.Join(dir, "key"))
	}
	var want bytes.Buffer
	for _, i := range durableKeys(st.NotesBefore, wl.mode) {
		k := run.keys[i]
		if _, gone := dmg.keys[string(k)]; gone {
			continue
		}
		fmt.Fprintf(&want, "%x %x\n", k, run.values[string(k)])
	}
	os.WriteFile(filepath.Join(dir, "want"), want.Bytes(), 0o644)
	return dir
}

// TestCrashReplay opens a crash state that TestCrashStates saved, and checks
// that every durable insert listed in its want file is there.
func TestCrashReplay(t *testing.T) {
	if *crashReplay == "" {
		t.Skip("no -crash.replay directory given")
	}
	dir := t.TempDir()
	for _, f := range []string{"data", "key"} {
		b, err := os.ReadFile(filepath.Join(*crashReplay, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o644)
	}
	want, _ := os.ReadFile(filepath.Join(*crashReplay, "want"))
	values := map[string][]byte{}
	var keys [][]byte
	var durable []int
	for i, line := range strings.Fields(string(want)) {
		b, _ := hex.DecodeString(line)
		if i%2 == 0 {
			keys = append(keys, b)
			durable = append(durable, len(keys)-1)
		} else {
			values[string(keys[len(keys)-1])] = b
		}
	}
	// Without the recording, invariant 4 (the prefix) is not checked.
	if _, err := checkOpenedState(filepath.Join(dir, "data"), filepath.Join(dir, "key"), values, durable, nil, func(i int) []byte { return keys[i] }, nil); err != nil {
		t.Fatal(err)
	}
}
