// Package rebuild holds everything that reads the data file to restore or
// check the index: Recover (what Open runs), Rebuild (a new key file from
// the data file), Verify (a read-only full consistency check) and Scrub
// (the backward re-check of the newest records).
//
// It works on any data file through the DataFile interface and on a
// keyfile.File; nothing in its API is internal to the module.
//
// # What a bad record means
//
// A crash can tear only what was not yet durable, so the durable part of
// the log, never the clock, decides what a bad record is (DESIGN.md). The
// durable part ends at the highest durable mark that is proven: the key
// file's synced watermark when the key file is trusted (Recover, and a
// readable key file lends it to Rebuild), or the highest durable mark that
// a valid record of the chain carries. Every walk of the log steps over bad
// records where a later record provably continues the chain
// (datafile.Walker), and then settles:
//
//   - a stretch of bad records that ends inside the durable part is media
//     damage: skipped, counted (DamagedRecords, Damaged) and never
//     truncated or written over; every record after it is indexed;
//   - the first stretch that reaches past the durable part starts the torn
//     tail of a crash: the log ends there (at the durable end, if the
//     stretch starts below it) and every valid record found after it is
//     dropped and counted (RecordsDropped), so nothing disappears silently;
//   - a log that breaks inside its durable part with nothing findable after
//     the break keeps the damaged bytes: the writer goes on at the durable
//     end with a record that links to the start of the damage (a bridge),
//     which the next walk accepts as the continuation.
//
// Items of a damaged record are not indexed by a rebuild (Fetch says not
// found); index entries that already pointed at them stay, and Fetch then
// reports ErrCorrupt from the item's CRC. Neither ever returns a wrong
// value.
//
// # Recovery
//
// Recover trusts the key file's checkpoint: every item in a record below
// its offset is indexed, and the record ending there has the recorded hash.
// It re-reads that record (a valid record with another hash means the key
// file describes another log: ErrNeedRebuild; a damaged one is stood in for
// by the checkpoint's own copy of its link), clears every index entry at or
// past the checkpoint, walks forwards from the checkpoint validating the
// chain, re-indexes what it finds and settles as above with the synced
// watermark as floor. Its cost follows the log after the checkpoint, not
// the size of the store. The backward walk over RecoveryWindow of the
// newest records below the checkpoint is Scrub, which the store runs in the
// background after Open: since the durable part decides what is cut, that
// walk only finds damage early.
//
// Anything that cannot be proved (a checkpoint outside the data file, a
// record with a valid hash whose items do not parse, an index entry past
// the end of a cleanly closed log) makes Recover return ErrNeedRebuild, and
// the caller rebuilds the whole key file from the data file: slower, never
// wrong.
package rebuild
