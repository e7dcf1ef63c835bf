package keyfile

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
)

// tagMatches must yield exactly the slots a byte-by-byte scan finds, for
// every tag value (the SWAR comparison has no borrow between bytes) and
// every fill; freeSlot the first empty one.
func TestTagMatchesIsExact(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	pg := make([]byte, BucketSize)
	for round := 0; round < 20000; round++ {
		clear(pg)
		n := r.IntN(SlotsPerPage + 1)
		// Few distinct values, so equal and neighbouring bytes are common.
		for i := 0; i < n; i++ {
			pg[pageTagsOff+i] = byte(r.IntN(4)) + byte(r.IntN(3))*0x7f
		}
		tag := max(byte(r.IntN(4))+byte(r.IntN(3))*0x7f, 1)
		var want []int
		for i := 0; i < n; i++ {
			if pg[pageTagsOff+i] == tag {
				want = append(want, i)
			}
		}
		got := slices.Collect(tagMatches(pg, n, tag))
		if !slices.Equal(got, want) {
			t.Fatalf("tags %x, tag %x, n %d: got %v, want %v", pg[pageTagsOff:pageTagsOff+n], tag, n, got, want)
		}
		// freeSlot, on the same zero-byte mask, finds the first zero tag.
		free := slices.Index(pg[pageTagsOff:pageTagsOff+SlotsPerPage], 0)
		if got := freeSlot(pg); got != free {
			t.Fatalf("tags %x: freeSlot %d, want %d", pg[pageTagsOff:pageTagsOff+SlotsPerPage], got, free)
		}
	}
}

// A slot and its tag that disagree (a page written by something else than
// setSlot) are made to agree by Repair's sweep: a slot without its tag is
// found again, a tag without its slot no longer takes the slot.
func TestRepairMakesTagsAgreeWithSlots(t *testing.T) {
	_, f := newTestFile(t)
	const n = 2000
	insertItems(t, f, n)
	// An item whose bucket page has an empty slot too.
	var pg []byte
	item, slot, free := -1, -1, -1
	for i := 0; i < n && free < 0; i++ {
		h := Hash(99, keyOf(i))
		pg = f.page(f.bucketPage(f.home(h)))
		slot, free = -1, -1
		for j := 0; j < SlotsPerPage; j++ {
			switch sh, w := slotOf(pg, j); {
			case sh == h && w != 0:
				slot = j
			case w == 0:
				free = j
			}
		}
		if slot < 0 {
			free = -1 // in an overflow page: try another
		}
		item = i
	}
	if free < 0 {
		t.Fatal("no bucket page with an empty slot at load factor 0.5")
	}
	pg[pageTagsOff+slot] = 0 // the slot loses its tag
	if find(f, item) {
		t.Fatal("a slot without its tag was found: lookups do not read the tags")
	}
	pg[pageTagsOff+free] = 0x55 // a tag without a slot
	r := f.Repair(offOf(n), offOf(n), 4096)
	if r.Items != n {
		t.Fatalf("repair: %+v, want %d items", r, n)
	}
	if !find(f, item) {
		t.Fatalf("item %d lost: Repair did not give the slot its tag back", item)
	}
	if pg[pageTagsOff+free] != 0 {
		t.Fatal("Repair left a tag on an empty slot")
	}
	for i := 0; i < n; i++ {
		if !find(f, i) {
			t.Fatalf("item %d lost", i)
		}
	}
}

// A key file of an older format version (1: slots without tags; 2: a
// directory of bucket pages instead of the chunk table) is refused as
// damaged, which makes a writable store Open rebuild it, never read it
// with the wrong layout.
func TestOlderVersionsAreRefused(t *testing.T) {
	for _, v := range []uint32{1, 2} {
		path, f := newTestFile(t)
		f.Close()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		StampVersion(b, v)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(path, testIdentity(), false); !errors.Is(err, ErrDamaged) || !Unusable(err) {
			t.Fatalf("version %d: %v, want ErrDamaged (unusable: rebuild)", v, err)
		}
	}
}

// A read-only open of a key file whose slot and tag disagree (as a reader
// beside a live writer can find one halfway through setSlot) neither writes
// nor faults: the mapping is read-only, and the slot is simply not found
// until the writer finishes it.
func TestReadOnlyOpenLeavesDisagreeingTags(t *testing.T) {
	path, f := newTestFile(t)
	insertItems(t, f, 100)
	// Every copy of item 5's entry (a split leaves the original until the
	// next checkpoint) loses its tag.
	h := Hash(99, keyOf(5))
	cleared := false
	for p := uint32(headerPages); uint64(p) < f.pages; p++ {
		pg := f.page(p)
		for i := 0; i < SlotsPerPage; i++ {
			if sh, w := slotOf(pg, i); sh == h && w != 0 {
				pg[pageTagsOff+i] = 0 // the writer stopped before the tag
				cleared = true
			}
		}
	}
	if !cleared {
		t.Fatal("item 5 not in its bucket page")
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(path, testIdentity(), true)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if find(r, 5) || !find(r, 6) {
		t.Fatalf("read-only: item 5 found=%v (want false), item 6 found=%v (want true)", find(r, 5), find(r, 6))
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Fatal("a read-only open changed the key file")
	}
}
