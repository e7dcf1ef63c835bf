package rebuild

import (
	"errors"

	"github.com/nudbgo/nudb/datafile"
	"github.com/nudbgo/nudb/keyfile"
)

// recordSource yields the valid records of a log in order, then
// datafile.ErrEndOfLog (a Scanner's Next, or a logWalker's next).
type recordSource func() (datafile.Record, error)

// batch is a run of records copied out of the scan buffer for the indexer.
type batch struct {
	hdrs    []datafile.Header
	ends    []int // end of each record's payload in payload
	payload []byte
}

// batchBytes is how much payload a batch carries before it is handed over.
const batchBytes = 4 << 20

// indexLog reads records from next on a goroutine of its own and indexes
// their items into kf on the caller's goroutine, so reading and hashing
// overlap with indexing (a rebuild then runs at the disk's speed rather
// than at one core's). onRecord runs on the caller's goroutine after each
// record's items are indexed. It returns when next reports the end of the
// log, with the first indexing error (the reader is stopped), or with
// next's own error (after indexing what came before it).
// insertFunc adds n index entries (keyfile.File's InsertMany or Replay).
type insertFunc func(n int, entry func(i int) (h uint64, off int64, size int)) error

func indexLog(next recordSource, insert insertFunc, salt uint64, keySize int, onRecord func(h *datafile.Header, items int)) error {
	full := make(chan *batch, 2)
	free := make(chan *batch, 3)
	for i := 0; i < 3; i++ {
		free <- &batch{payload: make([]byte, 0, batchBytes+datafile.MaxValueSize/4)}
	}
	stop := make(chan struct{})
	var readErr error // set by the reader before it closes full
	go func() {
		defer close(full)
		b := <-free
		for {
			r, err := next()
			if errors.Is(err, datafile.ErrEndOfLog) {
				break
			}
			if err != nil {
				readErr = err
				break
			}
			b.hdrs = append(b.hdrs, r.Header)
			b.payload = append(b.payload, r.Payload...)
			b.ends = append(b.ends, len(b.payload))
			if len(b.payload) >= batchBytes {
				select {
				case full <- b:
				case <-stop:
					return
				}
				select {
				case b = <-free:
				case <-stop:
					return
				}
			}
		}
		if len(b.hdrs) > 0 {
			select {
			case full <- b:
			case <-stop:
			}
		}
	}()
	var err error
	var entries []keyfile.Entry
	for b := range full {
		start := 0
		for i := range b.hdrs {
			h := &b.hdrs[i]
			n := 0
			if err == nil {
				entries = entries[:0]
				err = datafile.EachItem(b.payload[start:b.ends[i]], h.Items, h.Offset+datafile.HeaderSize, keySize, func(off int64, key, value []byte) error {
					entries = append(entries, keyfile.Entry{Hash: keyfile.Hash(salt, key), Offset: off, Size: len(value)})
					return nil
				})
				n = len(entries)
				if err == nil {
					err = insert(n, func(j int) (uint64, int64, int) {
						e := &entries[j]
						return e.Hash, e.Offset, e.Size
					})
				}
				if err != nil {
					close(stop)
				} else {
					onRecord(h, n)
				}
			}
			start = b.ends[i]
		}
		b.hdrs, b.ends, b.payload = b.hdrs[:0], b.ends[:0], b.payload[:0]
		free <- b
	}
	if err == nil {
		err = readErr // full is closed: the reader has stopped
	}
	return err
}
