// Package nudbipfs serves IPFS blocks from nudb: a boxo
// blockstore.Blockstore (with Viewer and AllKeysChanWithErrer) and a
// go-datastore Batching datastore for Kubo's /blocks mount, both over a
// rotate.Set, so garbage collection gives disk space back by rotation.
//
// It is a module of its own (github.com/nudbgo/nudb/ipfs): boxo and
// go-datastore never enter the core's dependencies.
//
// # Keys and values
//
// The set's keys are 32 bytes. A block's key is the SHA-256 of its
// multihash (boxo keys blockstores by multihash, so CIDs that differ only in
// codec name one block); a datastore key's is the SHA-256 of the key's
// bytes. The value stored is framed as uvarint(len(name)) | name | data,
// name being the multihash or the datastore key: AllKeysChan and Query
// list names from it, and every read checks the name it finds is the one
// asked for.
//
// # Garbage collection
//
// Blockstore.CollectGarbage(ctx, live) rotates the set keeping the blocks
// whose CIDs live yields; blocks put while it runs are kept whatever live
// says. DeleteBlock and Datastore.Delete are tombstones, honoured by the
// next rotation that retires the generations holding the block. With the
// default two generations, a block left out of the live set is gone, and
// its space back, after at most two collections.
//
// # Values that change
//
// A content-addressed mount never puts another value under a key, and the
// set stores each key once per generation. The Datastore still honours
// go-datastore's contract: a Put of a new value under a stored key
// replaces it (a Delete and a Put, which may open a generation: see
// rotate.Set.Insert). go-datastore's whole SubtestAll passes, including the
// subtests that reuse keys with new values after deleting them.
package nudbipfs
