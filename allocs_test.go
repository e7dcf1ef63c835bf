package nudb

import (
	"testing"
)

// Insert, FetchFunc and Exists allocate nothing in steady state, in every
// sync mode (the hot paths of a content-addressed store).
func TestZeroAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts need the race detector off and a steady state: not in -short")
	}
	for _, mode := range []SyncMode{SyncAlways, SyncInterval, SyncNever, SyncWriteBehind} {
		t.Run(mode.String(), func(t *testing.T) {
			// The write-behind ops in use number up to what the writer lags
			// behind (WriteBehindBytes of items); a small bound lets the
			// warm-up reach the steady state.
			ts := newStore(t, &Options{Sync: mode, WriteBehindBytes: 64 << 10})
			const runs = 300
			keys := make([][]byte, 2*runs+100)
			for i := range keys {
				keys[i] = testKey(i)
			}
			value := make([]byte, 128)
			next := 0
			insert := func() {
				if err := ts.Insert(keys[next], value); err != nil {
					t.Fatal(err)
				}
				next++
			}
			for range 100 { // warm the pools
				insert()
			}
			if mode == SyncWriteBehind {
				// AllocsPerRun runs at GOMAXPROCS 1, where the writer that
				// recycles a write-behind insert's buffer runs only when an
				// inserter waits: past WriteBehindBytes (64 KiB here). A
				// warm-up of a few such rounds fills the free list.
				keys = append(keys, make([][]byte, 3000)...)
				for i := range keys {
					keys[i] = testKey(i)
				}
				for range 2000 {
					insert()
				}
			}
			if n := testing.AllocsPerRun(runs, insert); n != 0 {
				t.Errorf("Insert: %v allocations", n)
			}
			var got int
			fetch := func() {
				if err := ts.FetchFunc(keys[next%100], func(v []byte) { got += len(v) }); err != nil {
					t.Fatal(err)
				}
				next++
			}
			if n := testing.AllocsPerRun(runs, fetch); n != 0 {
				t.Errorf("FetchFunc: %v allocations", n)
			}
			exists := func() {
				if ok, err := ts.Exists(keys[next%100]); !ok || err != nil {
					t.Fatal(ok, err)
				}
				next++
			}
			if n := testing.AllocsPerRun(runs, exists); n != 0 {
				t.Errorf("Exists: %v allocations", n)
			}
		})
	}
}
