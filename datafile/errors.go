package datafile

import "errors"

var (
	// ErrNotStore reports a file whose first block is not a nudb superblock.
	ErrNotStore = errors.New("nudb: not a nudb store")
	// ErrCorrupt reports stored bytes that fail their hash or CRC.
	ErrCorrupt = errors.New("nudb: corrupt data")
	// ErrFull reports a data file (a block device) with no room for a record.
	ErrFull = errors.New("nudb: data file is full")
)
