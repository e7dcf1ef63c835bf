package nudbipfs

import (
	"testing"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	dstest "github.com/ipfs/go-datastore/test"

	"github.com/nudbgo/nudb"
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
