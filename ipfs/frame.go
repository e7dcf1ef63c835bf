package nudbipfs

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/nudbgo/nudb"
	"github.com/nudbgo/nudb/rotate"
)

// A stored value is framed as
//
//	uvarint(len(name)) | name | data
//
// where name is what the store's 32-byte key was hashed from: a block's
// multihash (Blockstore) or a datastore key (Datastore). Keeping it makes
// the store listable (AllKeysChan, Query) and lets a read check that the
// item found is the one asked for, not a SHA-256 collision.

// storeKey is the nudb key of a name: its SHA-256.
func storeKey(name []byte) [32]byte { return sha256.Sum256(name) }

// frameSize is the framing's overhead for a name of n bytes: the
// uvarint's length (7 bits a byte) and the name.
func frameSize(n int) int {
	k := 1
	for x := uint64(n); x >= 0x80; x >>= 7 {
		k++
	}
	return k + n
}

// frame builds the stored value.
func frame(name, data []byte) []byte {
	v := make([]byte, 0, frameSize(len(name))+len(data))
	v = binary.AppendUvarint(v, uint64(len(name)))
	v = append(v, name...)
	return append(v, data...)
}

// unframe splits a stored value into its name and data.
func unframe(v []byte) (name, data []byte, err error) {
	n, k := binary.Uvarint(v)
	if k <= 0 || n > uint64(len(v)-k) {
		return nil, nil, fmt.Errorf("%w: a stored value's name frame is damaged", nudb.ErrCorrupt)
	}
	return v[k : k+int(n)], v[k+int(n):], nil
}

// viewNamed calls fn with the data stored for name, in place, and returns
// fn's error. A stored name other than the one asked for (a SHA-256
// collision, or damage) is ErrCorrupt; an absent one nudb.ErrNotFound.
func viewNamed(set *rotate.Set, name []byte, fn func(data []byte) error) error {
	key := storeKey(name)
	var fnErr error
	err := set.FetchFunc(key[:], func(v []byte) {
		stored, data, err := unframe(v)
		switch {
		case err != nil:
			fnErr = err
		case !bytes.Equal(stored, name):
			fnErr = fmt.Errorf("%w: the value stored for %q names %q", nudb.ErrCorrupt, name, stored)
		default:
			fnErr = fn(data)
		}
	})
	if err != nil {
		return err
	}
	return fnErr
}

// sizeNamed returns the length of the data stored for name, from the
// item's length field (nudb ValueSize) less the framing: nothing is read
// of the value. An absent name is nudb.ErrNotFound.
func sizeNamed(set *rotate.Set, name []byte) (int, error) {
	key := storeKey(name)
	n, err := set.ValueSize(key[:])
	if err != nil {
		return -1, err
	}
	return n - frameSize(len(name)), nil
}
