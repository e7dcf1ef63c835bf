// Package datafile defines nudb's data file: the superblock, the record
// format, and the readers that walk the log: Scanner (forwards, stopping at
// the first bad record), Walker (forwards, stepping over bad records where
// the chain provably continues) and ReadRecord (one record at an offset,
// which is how the backward walk goes, by each record's previous-offset
// link).
//
// # Layout
//
// Block 0 holds the superblock, written once by Create. The log starts at
// block 1 and is a chain of records, each starting on a block boundary and
// occupying whole blocks:
//
//	header (HeaderSize bytes)  magic, store UID, self offset, sequence,
//	                           epoch, length in blocks, payload length,
//	                           item count, timestamp, previous record's
//	                           offset, durable mark, previous record's hash,
//	                           SHA-256 of (header with hash zeroed ‖ payload)
//	payload                    items: key ‖ value length (u32) ‖ value ‖ CRC-32C(key ‖ value)
//	zero padding               to the next block boundary (not hashed)
//
// All integers are little endian. Each field's offset is a named constant
// in record.go and superblock.go: they are the on-disk format.
//
// # Invariants
//
//   - A record is valid only if its header names this store and its own
//     offset, its hash matches, and it continues the chain: its sequence is
//     the previous record's plus one, its previous-hash is the previous
//     record's hash, and its timestamp, epoch and durable mark are not below
//     the previous record's.
//   - The durable mark of a record is an offset below which the log was
//     durable when the record was built. The data file alone therefore
//     proves what was durable: a bad record below a valid record's mark is
//     media damage, not a torn tail (see package rebuild). A mark never
//     reaches past its own record.
//   - Every session of a writer has an epoch above every epoch before it.
//     Records beyond the end of the log that a device still holds carry
//     older epochs, so they never pass as the chain's continuation, even
//     where a walk steps over damage.
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
