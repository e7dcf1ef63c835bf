package rotate

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
)

// TestPowerLossAtEveryStep checks the order of a set's durability steps
// against power loss, which kill -9 cannot show (the page cache survives a
// process crash). A real workload runs with the trace on: creation,
// rotations with and without retirement, a fork, a rotation cancelled
// after it installed its generation (abandoned), and a reopen. Then for a
// power loss after every event, and every subset of the directory changes
// made since the last directory sync (a rename or removal not yet synced
// may or may not have reached the disk), the state left is rebuilt, and:
//
//   - the manifest that state holds names only generations whose files
//     exist in it;
//   - a manifest that retired generations was written after the new
//     generation was synced following its last copy (so the retired items
//     live on durably).
func TestPowerLossAtEveryStep(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	var trace []traceEvent
	record := func(ev traceEvent) {
		mu.Lock()
		trace = append(trace, ev)
		mu.Unlock()
	}
	opts := &Options{Generations: 2}
	s, err := openTraced(dir, opts, record)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	insertN(t, s, "a", 200)
	for round := range 3 {
		insertN(t, s, fmt.Sprint("r", round), 100)
		if _, err := s.Rotate(ctx, live); err != nil {
			t.Fatal(err)
		}
	}
	// A fork: a deleted key re-put with another value.
	k := testKey("r2", 1)
	s.Delete(k)
	if err := s.Insert(k, []byte("other")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rotate(ctx, nil); err != nil {
		t.Fatal(err)
	}
	// A rotation cancelled once installed: its generation is abandoned.
	cctx, cancel := context.WithCancel(ctx)
	s.hook = func(step string) {
		if step == "installed" {
			cancel()
		}
	}
	if _, err := s.Rotate(cctx, nil); err == nil {
		t.Fatal("the cancelled rotation succeeded")
	}
	s.hook = nil
	s.Close()
	if s, err = openTraced(dir, opts, record); err != nil {
		t.Fatal(err)
	}
	s.Close()

	whys := map[string]int{}
	for _, ev := range trace {
		if ev.op == opManifest {
			whys[ev.why]++
		}
	}
	if whys["install"] < 5 || whys["retire"] < 3 || whys["abandon"] != 1 {
		t.Fatalf("the workload did not go through every kind of manifest: %v", whys)
	}
	states := 0
	for i := 0; i <= len(trace); i++ {
		states += checkPowerLoss(t, trace[:i])
	}
	t.Logf("%d events, %d power-loss states checked (manifests: %v)", len(trace), states, whys)
}

// openTraced opens the set and starts its trace with the durable state
// Open left: its generations and the manifest naming them.
func openTraced(dir string, opts *Options, trace func(traceEvent)) (*Set, error) {
	s, err := Open(dir, opts)
	if err != nil {
		return nil, err
	}
	ids := idsOfGens(s.Generations())
	for _, id := range ids {
		trace(traceEvent{op: opCreate, gens: []uint64{id}})
	}
	trace(traceEvent{op: opManifest, why: "open", gens: ids})
	trace(traceEvent{op: opDirSync})
	s.trace = trace
	return s, nil
}

// checkPowerLoss rebuilds every state a power loss after the events in
// prefix may leave and checks it; it returns how many states it checked.
func checkPowerLoss(t *testing.T, prefix []traceEvent) int {
	t.Helper()
	lastSync := -1
	for i, ev := range prefix {
		if ev.op == opDirSync {
			lastSync = i
		}
	}
	var pending []int // unsynced renames and removals
	for i := lastSync + 1; i < len(prefix); i++ {
		if prefix[i].op == opManifest || prefix[i].op == opRemove {
			pending = append(pending, i)
		}
	}
	if len(pending) > 12 {
		t.Fatalf("%d directory changes pending at once", len(pending))
	}
	for mask := 0; mask < 1<<len(pending); mask++ {
		applied := func(i int) bool {
			if i <= lastSync {
				return true
			}
			j := slices.Index(pending, i)
			return j >= 0 && mask&(1<<j) != 0
		}
		exists := map[uint64]bool{}
		manifestAt := -1
		for i, ev := range prefix {
			switch {
			case ev.op == opCreate:
				exists[ev.gens[0]] = true // created, then the directory synced
			case ev.op == opManifest && applied(i):
				manifestAt = i
			case ev.op == opRemove && applied(i):
				exists[ev.gens[0]] = false
			}
		}
		if manifestAt < 0 {
			continue // before the first manifest: Open creates the set afresh
		}
		m := prefix[manifestAt]
		for _, id := range m.gens {
			if !exists[id] {
				t.Fatalf("power loss after event %d (%v): the manifest of event %d names generation %d, whose files are gone",
					len(prefix)-1, prefix[len(prefix)-1], manifestAt, id)
			}
		}
		if m.why == "retire" {
			checkCopiesSynced(t, prefix[:manifestAt], manifestAt)
		}
	}
	return 1 << len(pending)
}

// checkCopiesSynced: before a retiring manifest, the rotation's last copy
// into its generation was followed by a sync of that generation.
func checkCopiesSynced(t *testing.T, before []traceEvent, at int) {
	t.Helper()
	for i := len(before) - 1; i >= 0; i-- {
		switch before[i].op {
		case opGenSync:
			return
		case opCopied:
			t.Fatalf("the retiring manifest of event %d was written before generation %d was synced after its copies",
				at, before[i].gens[0])
		}
	}
	t.Fatalf("the retiring manifest of event %d follows no copy", at)
}
