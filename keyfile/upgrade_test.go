package keyfile_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/nudbgo/nudb"
	"github.com/nudbgo/nudb/keyfile"
)

// A store whose key file is of an older format version (1, before the
// tags; 2, before the chunk table) opens:
// the first writable Open rebuilds the key file from the data file, every
// item is found with its value, and the store verifies — what the README
// promises to users upgrading.
func TestOlderKeyFileIsRebuiltByOpen(t *testing.T) {
	for _, v := range []uint32{1, 2} {
		t.Run(fmt.Sprint("version ", v), func(t *testing.T) { upgradeFrom(t, v) })
	}
}

func upgradeFrom(t *testing.T, version uint32) {
	dir := t.TempDir()
	data, key := filepath.Join(dir, "data"), filepath.Join(dir, "key")
	if err := nudb.Create(data, key, nil); err != nil {
		t.Fatal(err)
	}
	s, err := nudb.Open(data, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 3000
	k := func(i int) []byte { return bytes.Repeat([]byte{byte(i), byte(i >> 8), 7, 9}, 8) }
	v := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, i%300) }
	var b nudb.Batch
	for i := 0; i < n; i++ {
		b.Put(k(i), v(i))
	}
	if _, err := s.InsertBatch(&b); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	hdr, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	keyfile.StampVersion(hdr, version)
	if err := os.WriteFile(key, hdr, 0o644); err != nil {
		t.Fatal(err)
	}

	s, err = nudb.Open(data, key, nil)
	if err != nil {
		t.Fatalf("Open of a store with a version %d key file: %v", version, err)
	}
	if rec := s.Stats().Recovery; !rec.Rebuilt {
		t.Fatalf("recovery %+v: the version %d key file was not rebuilt", rec, version)
	}
	for i := 0; i < n; i++ {
		got, err := s.Fetch(k(i))
		if err != nil || !bytes.Equal(got, v(i)) {
			t.Fatalf("item %d after the upgrade: %v", i, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := nudb.Verify(data, key, nil)
	if err != nil || !rep.OK() {
		t.Fatalf("verify after the upgrade: %+v, %v", rep, err)
	}
}
