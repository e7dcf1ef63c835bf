package rotate

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/nudbgo/nudb"
	"github.com/nudbgo/nudb/internal/testfs"
)

// A rotation that cannot copy for want of space fails with ErrFull and
// changes nothing a reader sees: every item is still there, and the space
// its copies took is given back. With the disk full to the last block no
// generation can even be created (ErrFull); once the user frees some
// space, a rotation that keeps a twentieth succeeds and gives the rest
// back; inserts go on. Nothing panics, and the set reopens and verifies.
func TestRotateOnAFullDisk(t *testing.T) {
	mnt := testfs.Small(t, "ext4", 96<<20)
	dir := filepath.Join(mnt, "set")
	ballast := filepath.Join(mnt, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 24<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir, &Options{Generations: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	value := bytes.Repeat([]byte{1}, 4096)
	n := 0
	for ; ; n++ {
		err := s.Insert(testKey("full", n), value)
		if errors.Is(err, nudb.ErrFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if n > 40_000 {
			t.Fatal("the disk never filled")
		}
	}
	t.Logf("%d items of 4 KiB filled the disk", n)
	if _, err := s.Rotate(context.Background(), nil); !errors.Is(err, nudb.ErrFull) {
		t.Fatalf("rotation on a full disk: %v, want ErrFull", err)
	}
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	// Keeping everything needs as much space again as the set takes: the
	// copy runs out of room, and its generation goes with its copies.
	// (What is checked is that its files are gone: the space itself is
	// not a steady measure, since generation 1's writer may take freed
	// space to grow ahead, and ext4 releases freed blocks when its journal
	// commits.)
	rep, err := s.Rotate(context.Background(), nil)
	if !errors.Is(err, nudb.ErrFull) {
		t.Fatalf("rotation keeping everything: %v, want ErrFull", err)
	}
	t.Logf("rotation keeping everything: %v; copied %d", err, rep.Copied)
	if rep.NewGeneration == 0 || rep.Copied == 0 {
		t.Fatalf("the rotation failed before copying: %+v", rep)
	}
	for _, name := range []string{genDataName(rep.NewGeneration), genKeyName(rep.NewGeneration)} {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the failed rotation's %s is still there (%v)", name, err)
		}
	}
	if g := s.Generations(); len(g) != 1 {
		t.Fatalf("%d generations after the failed rotations, want 1", len(g))
	}
	for i := range n {
		if ok, err := s.Exists(testKey("full", i)); !ok || err != nil {
			t.Fatalf("item %d after the failed rotation: %v %v", i, ok, err)
		}
	}
	// Keeping a twentieth fits; the space comes back.
	keep := func(k []byte) bool { return k[0] < 13 }
	rep, err = s.Rotate(context.Background(), keep)
	if err != nil {
		t.Fatalf("rotation keeping a twentieth: %v", err)
	}
	t.Logf("rotation: retired %v, copied %d, freed %d MiB", rep.Retired, rep.Copied, rep.BytesFreed>>20)
	for i := range 1000 {
		if err := s.Insert(testKey("after", i), value); err != nil {
			t.Fatalf("insert after the space came back: %v", err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, &Options{Generations: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		k := testKey("full", i)
		if ok, _ := s.Exists(k); ok != keep(k) {
			t.Fatalf("item %d: exists %v, keep %v", i, ok, keep(k))
		}
	}
	for _, g := range s.Generations() {
		s.Close()
		if rep, err := nudb.Verify(g.DataPath, g.KeyPath, nil); err != nil || !rep.OK() {
			t.Fatalf("verify generation %d: %v %+v", g.ID, err, rep.Problems)
		}
	}
}
