package datafile

import "errors"

var (
	// ErrNotStore reports a file whose first block is not a nudb superblock.
	ErrNotStore = errors.New("nudb: not a nudb store")
	// ErrCorrupt reports stored bytes that fail their hash or CRC.
	ErrCorrupt = errors.New("nudb: corrupt data")
)
