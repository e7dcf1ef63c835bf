package nudb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"github.com/nudbgo/nudb/datafile"
	"github.com/nudbgo/nudb/internal/ioengine"
	"github.com/nudbgo/nudb/keyfile"
)

// Files that are not ours (DESIGN.md): Create and Open never write over a
// file that is not theirs. The checks live here, in one place.

// checkDistinct refuses a data path and key path that name the same file
// (by path, or by device and inode through links).
func checkDistinct(dataPath, keyPath string) error {
	if dataPath == keyPath {
		return fmt.Errorf("%w: the data file and the key file are both %s", ErrInvalidOptions, dataPath)
	}
	ds, err1 := os.Stat(dataPath)
	ks, err2 := os.Stat(keyPath)
	if err1 == nil && err2 == nil && os.SameFile(ds, ks) {
		return fmt.Errorf("%w: %s and %s are the same file", ErrInvalidOptions, dataPath, keyPath)
	}
	return nil
}

// checkKeyPath says whether the key path may hold this store's key file:
// missing, empty, or a key file. Anything else is ErrNotStore, untouched.
func checkKeyPath(keyPath string) (keyfile.Kind, error) {
	k, err := keyfile.Classify(keyPath)
	if err != nil {
		return k, fmt.Errorf("nudb: %w", err)
	}
	if k == keyfile.KindOther {
		return k, fmt.Errorf("%w: %s is not a key file (nothing was written to it)", ErrNotStore, keyPath)
	}
	return k, nil
}

// openError maps what ioengine says of a path to the store's sentinels.
func openError(err error) error {
	if errors.Is(err, ioengine.ErrNotFile) {
		return fmt.Errorf("%w: %w", ErrNotStore, err)
	}
	return fmt.Errorf("nudb: %w", err)
}

// probeSize is how much of a device Create reads to recognise what it
// holds: the first 64 KiB, and the btrfs superblock just after them.
const probeSize = 68 << 10

// recognise names the data the first bytes of a device hold, or returns ""
// when they are all zero. b holds probeSize bytes (or fewer on a tiny
// device).
func recognise(b []byte) string {
	at := func(off int, magic string) bool {
		return len(b) >= off+len(magic) && string(b[off:off+len(magic)]) == magic
	}
	switch {
	case at(0, datafile.SuperblockMagic):
		return "a nudb store"
	case len(b) >= 1082 && binary.LittleEndian.Uint16(b[1080:]) == 0xEF53:
		return "an ext2/3/4 filesystem"
	case at(0, "XFSB"):
		return "an XFS filesystem"
	case at(65536+64, "_BHRfS_M"):
		return "a btrfs filesystem"
	case at(512, "EFI PART"):
		return "a GPT partition table"
	case at(512, "LABELONE"), at(1024, "LABELONE"), at(1536, "LABELONE"):
		return "an LVM physical volume"
	case at(4096-10, "SWAPSPACE2"), at(4096-10, "SWAP-SPACE"):
		return "swap space"
	case len(b) >= 512 && b[510] == 0x55 && b[511] == 0xAA:
		return "an MBR partition table or boot sector"
	}
	if i := bytes.IndexFunc(b[:min(len(b), 64<<10)], func(r rune) bool { return r != 0 }); i >= 0 {
		return fmt.Sprintf("data (a non-zero byte at offset %d)", i)
	}
	return ""
}
