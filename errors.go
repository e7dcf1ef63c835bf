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
	// ErrNotStore: the data file is not a nudb store. Nothing was written to it.
	ErrNotStore = datafile.ErrNotStore
	// ErrCorrupt: stored bytes failed their hash or CRC.
	ErrCorrupt = datafile.ErrCorrupt
	// ErrFull: the data file (a block device) has no room for the record.
	ErrFull = datafile.ErrFull
	// ErrExists: Create found a store (or other data) and Overwrite is not set.
	ErrExists = errors.New("nudb: a store or other data already exists there")
	// ErrInvalidOptions: Options out of range.
	ErrInvalidOptions = errors.New("nudb: invalid options")
	// ErrStopped: an earlier write or sync failed; the store accepts no more
	// inserts (reads go on). The error wraps the original failure.
	ErrStopped = errors.New("nudb: store stopped after an I/O error")
)
