package keyfile

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// The index's crash rule, checked directly: inserts that split the table
// many times, with checkpoints between them. Every msync is recorded; the
// power fails during a random one of them (each 512-byte sector of the
// file is that msync's or the previous one's, the growth of the file kept
// or not), and the image is opened and repaired as recovery does. Every
// entry below the checkpoint the image holds must be found; none may point
// at another item.
func TestSplitsAndCheckpointsUnderSectorMixes(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for round := 0; round < 40; round++ {
		path, f := newTestFile(t)
		first, _ := os.ReadFile(path)
		images := [][]byte{first}
		f.AfterMsync = func(mem []byte) { images = append(images, append([]byte(nil), mem...)) }
		n := 200 + rng.IntN(3000)
		cpAt := 0 // items below the checkpoint in force
		for i := 0; i < n; i++ {
			if err := f.Insert(Hash(99, keyOf(i)), offOf(i), 10); err != nil {
				t.Fatal(err)
			}
			if rng.IntN(400) == 0 {
				if err := f.WriteCheckpoint(Checkpoint{Offset: offOf(i + 1), LastOffset: offOf(i), LastSeq: uint64(i + 1)}); err != nil {
					t.Fatal(err)
				}
				cpAt = i + 1
			}
		}
		// Power fails during a random msync (or after the last one).
		images = append(images, append([]byte(nil), f.Mapped()...))
		f.Close()
		k := 1 + rng.IntN(len(images)-1)
		durable, cur := images[k-1], images[k]
		img := append([]byte(nil), cur...)
		for s := 0; s+512 <= len(img) && s+512 <= len(durable); s += 512 {
			if rng.IntN(2) == 0 {
				copy(img[s:s+512], durable[s:s+512])
			}
		}
		if len(cur) > len(durable) && rng.IntN(2) == 0 {
			img = img[:len(durable)]
		}
		crashed := filepath.Join(t.TempDir(), "crashed")
		if err := os.WriteFile(crashed, img, 0o644); err != nil {
			t.Fatal(err)
		}
		g, err := Open(crashed, testIdentity(), false)
		if err != nil {
			t.Fatalf("round %d: open of a crash image: %v", round, err)
		}
		cp := g.Checkpoint()
		if cp.Offset > offOf(cpAt) {
			t.Fatalf("round %d: checkpoint at %d, past the last one written (%d)", round, cp.Offset, offOf(cpAt))
		}
		g.CutLinks()
		g.Repair(cp.Offset, 1<<40, 4096)
		for i := 0; offOf(i) < cp.Offset; i++ {
			if !find(g, i) {
				t.Fatalf("round %d (power lost in msync %d of %d): entry %d below the checkpoint at %d lost under a sector mix",
					round, k, len(images)-1, i, cp.Offset)
			}
		}
		// Nothing at or past the checkpoint survives the repair, and no
		// entry points where no item was.
		err = g.Scan(func(e Entry) error {
			if e.Offset >= cp.Offset || (e.Offset-offOf(0))%100 != 0 {
				t.Fatalf("round %d: entry at %d after repair (checkpoint %d)", round, e.Offset, cp.Offset)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// The writer goes on: it re-indexes the items past the checkpoint
		// and more, splitting again into buckets and chunks the lost
		// session had made (their pages hold what it left there), and
		// every item is found.
		m := n + 1000
		for i := 0; i < m; i++ {
			if offOf(i) >= cp.Offset {
				if err := g.Insert(Hash(99, keyOf(i)), offOf(i), 10); err != nil {
					t.Fatal(err)
				}
			}
		}
		for i := 0; i < m; i++ {
			if !find(g, i) {
				t.Fatalf("round %d: entry %d lost when the table grew again after recovery", round, i)
			}
		}
		if st := g.Stats(); st.Items != uint64(m) {
			t.Fatalf("round %d: %d items after recovery and more inserts, want %d", round, st.Items, m)
		}
		g.Close()
		// What it left passes the structure check of the next open.
		if g, err = Open(crashed, testIdentity(), false); err != nil {
			t.Fatalf("round %d: reopen after recovery and more inserts: %v", round, err)
		}
		g.Close()
	}
}
