package rotate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// Tombstone log entry: op (1 byte), key (the set's key size), CRC-32C of
// op and key (4 bytes, little endian). Fixed size, so a torn append shows
// as a short tail or a bad last entry.
const (
	opDelete byte = 1 // the key is deleted: reads miss it, rotation drops it
	opRevive byte = 2 // a Put after a Delete: the key is live again
	entryCRC      = 4
)

func entrySize(keySize int) int { return 1 + keySize + entryCRC }

// appendEntry appends one encoded entry to buf.
func appendEntry(buf []byte, op byte, key []byte) []byte {
	start := len(buf)
	buf = append(buf, op)
	buf = append(buf, key...)
	return binary.LittleEndian.AppendUint32(buf, crc32.Checksum(buf[start:], crcTable))
}

// tombstones is the persisted set of deleted keys: an append-only log
// replayed into a map on Open, rewritten (compacted) after each rotation
// to the deletions some surviving generation still holds.
type tombstones struct {
	dir     string
	keySize int
	durable bool // sync every append (the set's SyncAlways mode)

	mu   sync.RWMutex
	f    *os.File
	size int64
	dead map[string]struct{}
	// count is len(dead), read without the lock so a set with no
	// deletions pays one atomic load per read for them.
	count atomic.Int64
}

func openTombstones(dir string, keySize int, durable bool) (*tombstones, error) {
	path := filepath.Join(dir, tombstonesName)
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("rotate: tombstones: %w", err)
	}
	if errors.Is(statErr, os.ErrNotExist) {
		// A new file's name must be durable before an entry synced into
		// it can count.
		if err := syncDir(dir); err != nil {
			f.Close()
			return nil, err
		}
	}
	t := &tombstones{dir: dir, keySize: keySize, durable: durable, f: f, dead: map[string]struct{}{}}
	if err := t.replay(); err != nil {
		f.Close()
		return nil, err
	}
	return t, nil
}

// replay reads the log into the map. A short tail or a bad last entry is
// an append torn by a crash, never acknowledged (an entry is acknowledged
// only once written and, under SyncAlways, synced): it is cut. A bad entry
// with good ones after it is damage, and Open refuses to guess.
func (t *tombstones) replay() error {
	b, err := os.ReadFile(t.f.Name())
	if err != nil {
		return fmt.Errorf("rotate: tombstones: %w", err)
	}
	es := entrySize(t.keySize)
	good := 0
	for off := 0; off+es <= len(b); off += es {
		e := b[off : off+es]
		if binary.LittleEndian.Uint32(e[1+t.keySize:]) != crc32.Checksum(e[:1+t.keySize], crcTable) || (e[0] != opDelete && e[0] != opRevive) {
			if off+es < len(b)-len(b)%es {
				return fmt.Errorf("%w: tombstone entry at offset %d", ErrCorrupt, off)
			}
			break
		}
		t.apply(e[0], e[1:1+t.keySize])
		good = off + es
	}
	if good != len(b) {
		if err := t.f.Truncate(int64(good)); err != nil {
			return fmt.Errorf("rotate: tombstones: cut torn tail: %w", err)
		}
	}
	t.size = int64(good)
	return nil
}

func (t *tombstones) apply(op byte, key []byte) {
	if op == opDelete {
		t.dead[string(key)] = struct{}{}
	} else {
		delete(t.dead, string(key))
	}
	t.count.Store(int64(len(t.dead)))
}

// has reports whether key is deleted.
func (t *tombstones) has(key []byte) bool {
	if t.count.Load() == 0 {
		return false
	}
	t.mu.RLock()
	_, ok := t.dead[string(key)]
	t.mu.RUnlock()
	return ok
}

// record appends one entry per key and, under SyncAlways, syncs them
// before the map (and so every read) sees them.
func (t *tombstones) record(op byte, keys ...[]byte) error {
	buf := make([]byte, 0, len(keys)*entrySize(t.keySize))
	for _, k := range keys {
		buf = appendEntry(buf, op, k)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	_, err := t.f.WriteAt(buf, t.size)
	if err == nil && t.durable {
		err = t.f.Sync()
	}
	if err != nil {
		// Cut what may have reached the file so a later append does not
		// follow half an entry; the caller gets the error, nothing is
		// acknowledged.
		return errors.Join(fmt.Errorf("rotate: tombstones: %w", err), t.f.Truncate(t.size))
	}
	t.size += int64(len(buf))
	for _, k := range keys {
		t.apply(op, k)
	}
	return nil
}

// sync makes every recorded entry durable (for the modes that do not sync
// each append).
func (t *tombstones) sync() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.f.Sync()
}

// compact rewrites the log to the deletions held(key) says a surviving
// generation still holds: the others have nothing left to hide. The new
// log replaces the old atomically (temporary file, sync, rename, directory
// sync); a crash keeps the old one, which says the same with more words.
func (t *tombstones) compact(held func(key []byte) bool) (dropped int, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var buf []byte
	keep := map[string]struct{}{}
	for k := range t.dead {
		if !held([]byte(k)) {
			dropped++
			continue
		}
		keep[k] = struct{}{}
		buf = appendEntry(buf, opDelete, []byte(k))
	}
	if dropped == 0 && int64(len(buf)) == t.size {
		return 0, nil
	}
	tmp := filepath.Join(t.dir, tombstonesTemp)
	if err := writeFileSync(tmp, buf); err != nil {
		return 0, fmt.Errorf("rotate: compact tombstones: %w", err)
	}
	path := filepath.Join(t.dir, tombstonesName)
	if err := os.Rename(tmp, path); err != nil {
		return 0, fmt.Errorf("rotate: compact tombstones: %w", err)
	}
	if err := syncDir(t.dir); err != nil {
		return 0, err
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, fmt.Errorf("rotate: compact tombstones: %w", err)
	}
	t.f.Close()
	t.f, t.size, t.dead = f, int64(len(buf)), keep
	t.count.Store(int64(len(keep)))
	return dropped, nil
}

func (t *tombstones) close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.f.Close()
}
