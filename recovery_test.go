package nudb

import (
	"bytes"
	"testing"
)

// Invariant 5: an unclean open reads the at-risk window, not the whole store.
func TestUncleanOpenReadsOnlyTheAtRiskWindow(t *testing.T) {
	for _, mode := range []SyncMode{SyncAlways, SyncNever} {
		t.Run(mode.String(), func(t *testing.T) {
			ts := newStore(t, &Options{Sync: SyncNever})
			var b Batch
			for i := 0; i < 30000; i++ {
				b.Put(testKey(i), testValue(i%49+1))
			}
			if _, err := ts.InsertBatch(&b); err != nil {
				t.Fatal(err)
			}
			ts.Close()
			// At the defaults: only the records written after the clean
			// close's checkpoint are read before Open returns (the scrub
			// of the newest minute runs after it).
			ts.opts = &Options{Sync: mode}
			ts.reopen(t)
			for i := 30000; i < 30020; i++ {
				if err := ts.Insert(testKey(i), testValue(i%49+1)); err != nil {
					t.Fatal(err)
				}
			}
			size := ts.Stats().LogEnd
			ts.shutdown(false) // crash
			ts.reopen(t)
			rec := ts.Stats().Recovery
			if rec.Clean || rec.Rebuilt {
				t.Fatalf("recovery after a crash: %+v", rec)
			}
			if rec.BytesScanned > size/10 || rec.RecordsVerified > 40 {
				t.Fatalf("unclean open of a %d-byte log read %d bytes and verified %d records: more than the at-risk window",
					size, rec.BytesScanned, rec.RecordsVerified)
			}
			for i := 29990; i < 30020; i++ {
				if v, err := ts.Fetch(testKey(i)); err != nil || !bytes.Equal(v, testValue(i%49+1)) {
					t.Fatalf("item %d after recovery: %v", i, err)
				}
			}
			t.Logf("%s: unclean open of a %d-byte log read %d bytes, verified %d records, in %v",
				mode, size, rec.BytesScanned, rec.RecordsVerified, rec.Duration)
		})
	}
}

// The log past the checkpoint is bounded in bytes in every sync mode (by
// CheckpointBytes or twice the key file, whichever is larger), so an
// unclean Open's work is too.
func TestCheckpointBytesBoundsTheAtRiskLog(t *testing.T) {
	ts := newStore(t, &Options{Sync: SyncNever, CheckpointBytes: 1 << 20})
	var b Batch
	for i := 0; i < 20000; i++ {
		b.Put(testKey(i), testValue(i%49+1))
		if b.Len() == 500 {
			if _, err := ts.InsertBatch(&b); err != nil {
				t.Fatal(err)
			}
			b.Reset()
		}
	}
	st := ts.Stats()
	bound := checkpointDistance(1<<20, ts.kf.Size())
	if st.LogEnd-st.Checkpoint > bound+maxInFlightBytes {
		t.Fatalf("log end %d, checkpoint %d: more than %d bytes past it", st.LogEnd, st.Checkpoint, bound)
	}
	if st.LogEnd < 4*bound {
		t.Fatalf("log of %d bytes: too short to pass the bound (%d) several times", st.LogEnd, bound)
	}
	ts.shutdown(false)
	ts.opts = nil
	ts.reopen(t)
	if rec := ts.Stats().Recovery; rec.BytesScanned > bound+maxInFlightBytes+(2<<20) {
		t.Fatalf("unclean open read %d bytes", rec.BytesScanned)
	}
}

// maxInFlightBytes is what the writer may have in flight past a
// checkpoint decision at the defaults (InFlight records of MaxRecordSize).
const maxInFlightBytes = 4 << 20
