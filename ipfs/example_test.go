package nudbipfs_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"

	"github.com/ipfs/boxo/blockservice"
	chunker "github.com/ipfs/boxo/chunker"
	offline "github.com/ipfs/boxo/exchange/offline"
	"github.com/ipfs/boxo/ipld/merkledag"
	"github.com/ipfs/boxo/ipld/unixfs/importer"
	unixfsio "github.com/ipfs/boxo/ipld/unixfs/io"

	nudbipfs "github.com/nudbgo/nudb/ipfs"
	"github.com/nudbgo/nudb/rotate"
)

// A boxo DAG service on the nudb blockstore: import a file with UnixFS
// and read it back.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "nudbipfs-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	set, err := rotate.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer set.Close()
	bs, err := nudbipfs.NewBlockstore(set)
	if err != nil {
		log.Fatal(err)
	}
	dag := merkledag.NewDAGService(blockservice.New(bs, offline.Exchange(bs)))

	file := bytes.Repeat([]byte("nudb "), 200_000) // 1 MB
	root, err := importer.BuildDagFromReader(dag, chunker.NewSizeSplitter(bytes.NewReader(file), 256<<10))
	if err != nil {
		log.Fatal(err)
	}
	r, err := unixfsio.NewDagReader(ctx, root, dag)
	if err != nil {
		log.Fatal(err)
	}
	var back bytes.Buffer
	if _, err := back.ReadFrom(r); err != nil {
		log.Fatal(err)
	}
	fmt.Println(root.Cid(), bytes.Equal(back.Bytes(), file))
	// Output: QmchNhTPgSN7Mq4nMermVjEA1VVj9kVrHdoXRgv8NErSYt true
}
