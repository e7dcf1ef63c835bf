package keyfile_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/nudbgo/nudb/keyfile"
)

// Create a key file, index two items, checkpoint, and read the header back
// without opening the table, as a tool beside a live writer does.
func Example() {
	dir, _ := os.MkdirTemp("", "keyfile-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "key")
	id := keyfile.Identity{UID: [16]byte{9}, KeySize: 32, BlockSize: 4096, Salt: 42}
	if err := keyfile.Create(path, id, 4096); err != nil {
		fmt.Println(err)
		return
	}
	f, err := keyfile.Open(path, id, false)
	if err != nil {
		fmt.Println(err)
		return
	}
	h1, h2 := keyfile.Hash(id.Salt, []byte("first")), keyfile.Hash(id.Salt, []byte("second"))
	f.InsertMany(2, func(i int) (uint64, int64, int) {
		return []uint64{h1, h2}[i], int64(4096 + 100*i), 10
	})
	f.SetExtent(8192)
	f.SetWritten(8192)
	f.SetSynced(8192)
	f.WriteCheckpoint(keyfile.Checkpoint{Offset: 8192, LastOffset: 4096, LastSeq: 1})
	fmt.Println("lookup:", f.Lookup(h2, nil))
	f.Close()

	kind, _ := keyfile.Classify(path)
	h, err := keyfile.ReadHeader(path, id)
	fmt.Println("key file:", kind == keyfile.KindKeyFile, err)
	fmt.Println("checkpoint:", h.Checkpoint.Offset, "items:", h.Checkpoint.Items, "synced:", h.Synced)

	os.WriteFile(filepath.Join(dir, "notes"), []byte("not a key file"), 0o644)
	kind, _ = keyfile.Classify(filepath.Join(dir, "notes"))
	fmt.Println("notes:", kind == keyfile.KindOther)
	// Output:
	// lookup: [{4196 10}]
	// key file: true <nil>
	// checkpoint: 8192 items: 2 synced: 8192
	// notes: true
}
