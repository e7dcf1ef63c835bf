// Package datafile defines nudb's data file: the superblock, the record
// format, and the readers that walk the log forwards and backwards.
//
// # Layout
//
// Block 0 holds the superblock, written once by Create. The log starts at
// block 1 and is a chain of records, each starting on a block boundary and
// occupying whole blocks:
//
//	header (HeaderSize bytes)  magic, store UID, self offset, sequence,
//	                           length in blocks, payload length, item count,
//	                           timestamp, previous record's offset and hash,
//	                           SHA-256 of (header with hash zeroed ‖ payload)
//	payload                    items: key ‖ value length (u32) ‖ value ‖ CRC-32C(key ‖ value)
//	zero padding               to the next block boundary
//
// All integers are little endian.
//
// # Invariants
//
//   - The log is a prefix. A record is valid only if its header names this
//     store and its own offset, its hash matches, its sequence is the previous
//     record's plus one and its previous-hash is the previous record's hash.
//     The log ends at the first record that is not valid; whatever follows is
//     garbage even if it hashes correctly (stale data on a device, or a later
//     append that reached the disk before an earlier one).
//   - Timestamps never decrease along the chain; recovery measures the
//     at-risk window in them.
//   - No block that holds a valid record is written again.
//   - Every item carries its own CRC-32C, so a single Fetch checks what it
//     read without hashing the record around it.
//   - Decoders never panic on any input: every length is checked against the
//     bytes present before it is used.
//
// Record assembly lives in Builder; the group-commit writer that drives an
// I/O engine with several records in flight is the store's (package nudb),
// because it also owns the index and the waiting inserts.
package datafile
