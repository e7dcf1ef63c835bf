// Package rebuild holds everything that reads the whole data file or its
// at-risk tail to restore or check the index: Recover (what Open runs after
// an unclean stop), Rebuild (a new key file from the data file) and Verify
// (a read-only full consistency check).
//
// # Recovery
//
// Recover trusts the key file's checkpoint: every item in a record below
// its offset is indexed, and the record ending there has the recorded hash.
// It re-reads that record to prove it, clears every index entry at or past
// the checkpoint (those may point at records that never became durable),
// scans forwards from the checkpoint validating the hash chain to find the
// true end of the log, and re-indexes what it finds. It then walks
// backwards from the checkpoint over the at-risk window (everything after
// the synced watermark and at least RecoveryWindow of record timestamps),
// verifying every record's hash against its successor's link. The cost
// follows the at-risk window, not the size of the store.
//
// Anything that cannot be proved (the checkpoint record does not verify, a
// torn record inside the window below the checkpoint, an index entry past
// the end of a cleanly closed log) makes Recover return ErrNeedRebuild, and
// the caller rebuilds the whole key file from the data file: slower, never
// wrong.
//
// # Torn tails and damaged middles
//
// Rebuild scans the log from the start. A bad record inside the at-risk
// window ends the log (a crash tears the tail; whatever follows is garbage).
// A bad record outside the window is media damage: Rebuild skips it — by
// the length in its header when the header is intact, else by finding the
// next block whose header carries this store's UID, its own offset and a
// valid hash — indexes everything after it that validates, and reports the
// loss. Items of a lost record are not indexed, so Fetch reports them as not
// found; a Fetch that reads damaged bytes through an index entry reports
// ErrCorrupt, never a wrong value.
package rebuild
