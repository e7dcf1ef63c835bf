package nudbipfs

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	dstest "github.com/ipfs/go-datastore/test"

	"github.com/nudbgo/nudb"
	"github.com/nudbgo/nudb/internal/testfs"
	"github.com/nudbgo/nudb/rotate"
)

func newDatastore(t *testing.T) *Datastore {
	d, err := NewDatastore(openSet(t, t.TempDir(), &rotate.Options{Store: nudb.Options{Sync: nudb.SyncNever}}))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDatastoreSuite runs go-datastore's own suite, SubtestAll: every
// basic and batch subtest on one datastore, emptied through Query and
// Delete after each. The subtests put keys again with other values after
// deleting them, which a set serves by forking generations (rotate.Set.
// Insert); the store syncs at Sync and Close only (SyncNever), since the
// suite checks semantics, not durability.
func TestDatastoreSuite(t *testing.T) {
	d := newDatastore(t)
	dstest.SubtestAll(t, d)
	clearAndCheck(t, d)
}

func clearAndCheck(t *testing.T, d *Datastore) {
	t.Helper()
	ctx := t.Context()
	for _, pass := range []string{"delete", "check"} {
		res, err := d.Query(ctx, query.Query{KeysOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		all, err := res.Rest()
		if err != nil {
			t.Fatal(err)
		}
		if pass == "check" && len(all) != 0 {
			t.Fatalf("%d keys left after deleting every key the query listed", len(all))
		}
		for _, e := range all {
			if err := d.Delete(ctx, ds.RawKey(e.Key)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// Puts, deletes and replaced values survive Close and reopen; deleted
// keys leave the disk through CollectGarbage.
func TestDatastoreReopenAndCollect(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	open := func() *Datastore {
		set, err := rotate.Open(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		d, err := NewDatastore(set)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	d := open()
	value := bytes.Repeat([]byte("v"), 1<<20)
	for i := range 100 {
		if err := d.Put(ctx, ds.NewKey(fmt.Sprint("k", i)), value); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Put(ctx, ds.NewKey("k1"), []byte("replaced")); err != nil {
		t.Fatal(err)
	}
	for i := 50; i < 100; i++ {
		if err := d.Delete(ctx, ds.NewKey(fmt.Sprint("k", i))); err != nil {
			t.Fatal(err)
		}
	}
	check := func(d *Datastore) {
		t.Helper()
		if v, err := d.Get(ctx, ds.NewKey("k1")); err != nil || string(v) != "replaced" {
			t.Fatalf("k1: %q %v", v, err)
		}
		if v, err := d.Get(ctx, ds.NewKey("k2")); err != nil || !bytes.Equal(v, value) {
			t.Fatalf("k2: %v", err)
		}
		if n, err := d.GetSize(ctx, ds.NewKey("k2")); err != nil || n != len(value) {
			t.Fatalf("GetSize k2: %d %v", n, err)
		}
		if _, err := d.Get(ctx, ds.NewKey("k60")); !errors.Is(err, ds.ErrNotFound) {
			t.Fatalf("k60: %v", err)
		}
	}
	check(d)
	d.Close()
	d = open()
	defer d.Close()
	check(d)
	before := testfs.DirAllocated(t, dir)
	for range 2 {
		if _, err := d.CollectGarbage(ctx); err != nil {
			t.Fatal(err)
		}
	}
	check(d)
	after := testfs.DirAllocated(t, dir)
	t.Logf("disk %d KiB before, %d KiB after", before>>10, after>>10)
	if before-after < 40<<20 { // 50 MiB deleted
		t.Fatalf("disk %d before collecting, %d after", before, after)
	}
	res, err := d.Query(ctx, query.Query{KeysOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	all, _ := res.Rest()
	if len(all) != 50 {
		t.Fatalf("query lists %d keys, want 50", len(all))
	}
}
