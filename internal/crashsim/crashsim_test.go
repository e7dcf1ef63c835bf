package crashsim

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

func block(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

// timeline: A is durable by RWF_DSYNC, B by a barrier after it completed,
// C completed after the barrier, D never completed. The key file was
// msynced as K1 and then changed in its second sector to K2.
func timeline() ([]Event, []byte) {
	k0 := block(0, 3*Sector)
	k1 := append(block(1, Sector), block(0, 2*Sector)...)
	k2 := append(append(block(1, Sector), block(2, Sector)...), block(0, Sector)...)
	return []Event{
		{Kind: Write, ID: 1, Off: 0, Data: block('A', 1024), Dsync: true},
		{Kind: Complete, ID: 1},
		{Kind: Write, ID: 2, Off: 1024, Data: block('B', 1024)},
		{Kind: Complete, ID: 2},
		{Kind: Barrier},
		{Kind: Msync, Key: k1},
		{Kind: Write, ID: 3, Off: 2048, Data: block('C', 1024), Key: k2},
		{Kind: Complete, ID: 3},
		{Kind: Write, ID: 4, Off: 3072, Data: block('D', 1024)},
		{Kind: Note, Label: "last"},
	}, k0
}

func TestMaterialiseKeepsDurableWritesAndVariesTheRest(t *testing.T) {
	events, k0 := timeline()
	seen := map[string]bool{}
	for seed := uint64(0); seed < 200; seed++ {
		st := Materialise(events, len(events), nil, k0, 0, rand.New(rand.NewPCG(seed, 0)))
		if !bytes.Equal(st.Data[:1024], block('A', 1024)) || !bytes.Equal(st.Data[1024:2048], block('B', 1024)) {
			t.Fatalf("seed %d: a durable write was not kept", seed)
		}
		for _, w := range []struct {
			name string
			b    byte
			off  int
		}{{"C", 'C', 2048}, {"D", 'D', 3072}} {
			got := st.Data[w.off : w.off+1024]
			switch {
			case bytes.Equal(got, block(w.b, 1024)):
				seen[w.name+" kept"] = true
			case bytes.Equal(got, block(0, 1024)):
				seen[w.name+" dropped"] = true
			default:
				seen[w.name+" torn"] = true
				for s := 0; s < 1024; s += Sector {
					if sec := got[s : s+Sector]; !bytes.Equal(sec, block(w.b, Sector)) && !bytes.Equal(sec, block(0, Sector)) {
						t.Fatalf("seed %d: write %s torn inside a sector", seed, w.name)
					}
				}
			}
		}
		// The first key sector is durable (msynced), the third never
		// changed: only the second may be old or new.
		if !bytes.Equal(st.Key[:Sector], block(1, Sector)) || !bytes.Equal(st.Key[2*Sector:], block(0, Sector)) {
			t.Fatalf("seed %d: unchanged key sectors were altered", seed)
		}
		seen["key sector "+string('0'+st.Key[Sector])] = true
		if len(st.NotesBefore) != 1 {
			t.Fatalf("notes before the end: %v", st.NotesBefore)
		}
	}
	for _, want := range []string{"C kept", "C dropped", "C torn", "D kept", "D dropped", "D torn", "key sector 0", "key sector 2"} {
		if !seen[want] {
			t.Errorf("200 seeds never produced %q", want)
		}
	}
}

func TestMaterialiseCutBeforeBarrier(t *testing.T) {
	events, k0 := timeline()
	// Cut after B completed but before the barrier: B is not durable yet,
	// and the key file is still its original image.
	sawBLost := false
	for seed := uint64(0); seed < 50; seed++ {
		st := Materialise(events, 4, nil, k0, 0, rand.New(rand.NewPCG(seed, 1)))
		if !bytes.Equal(st.Data[:1024], block('A', 1024)) {
			t.Fatal("the RWF_DSYNC write was lost")
		}
		if !bytes.Equal(st.Data[1024:2048], block('B', 1024)) {
			sawBLost = true
		}
		if !bytes.Equal(st.Key, k0) {
			t.Fatal("key file changed before any snapshot")
		}
		if int64(len(st.Data)) > 2048 {
			t.Fatalf("writes after the cut reached the image: %d bytes", len(st.Data))
		}
	}
	if !sawBLost {
		t.Error("a write not yet covered by a barrier was never lost")
	}
}
