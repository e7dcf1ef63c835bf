package nudb

import (
	"errors"

	"github.com/nudbgo/nudb/datafile"
	"github.com/nudbgo/nudb/internal/ioengine"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrNotFound: no item has this key.
	ErrNotFound = errors.New("nudb: key not found")
	// ErrKeyExists: Insert of a key that is already stored (or being stored).
	ErrKeyExists = errors.New("nudb: key already exists")
	// ErrKeySize: a key whose length is not the store's key size.
	ErrKeySize = errors.New("nudb: wrong key size")
	// ErrValueSize: a value longer than MaxValueSize.
	ErrValueSize = errors.New("nudb: value too large")
	// ErrClosed: the store is closed.
	ErrClosed = errors.New("nudb: store is closed")
	// ErrLocked: the store is open elsewhere (this process or another).
	ErrLocked = ioengine.ErrLocked
	// ErrNotStore: the data file is not a nudb store, or the key path holds
	// something that is not a key file. Nothing was written to either.
	ErrNotStore = datafile.ErrNotStore
	// ErrCorrupt: stored bytes failed their hash or CRC.
	ErrCorrupt = datafile.ErrCorrupt
	// ErrFull: no room for the record: the device is full, or the
	// filesystem under the data file or the key file is. The insert is not
	// acknowledged; the store goes on serving reads (and inserts that fit).
	ErrFull = errors.New("nudb: no space left for the record")
	// ErrInvalidArgument: a nil function or batch where one is needed.
	ErrInvalidArgument = errors.New("nudb: invalid argument")
	// ErrExists: Create found a store (or other data) and Overwrite is not set.
	ErrExists = errors.New("nudb: a store or other data already exists there")
	// ErrInvalidOptions: Options out of range.
	ErrInvalidOptions = errors.New("nudb: invalid options")
	// ErrStopped: an earlier write or sync failed; the store accepts no more
	// inserts (reads go on). The error wraps the original failure.
	ErrStopped = errors.New("nudb: store stopped after an I/O error")
	// ErrReadOnly: a write (Insert, InsertBatch, Sync) on a store opened
	// with Options.ReadOnly.
	ErrReadOnly = errors.New("nudb: store is open read-only")
)
