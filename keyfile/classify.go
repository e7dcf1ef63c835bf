package keyfile

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// Kind is what Classify found at a key path.
type Kind int

// What a key path can hold.
const (
	KindMissing Kind = iota // nothing there
	KindEmpty               // an empty regular file
	KindKeyFile             // a regular file that starts with the key-file magic
	KindOther               // anything else: never to be written over
)

// Classify says what is at path without changing it (and without blocking
// on a FIFO). Only a missing path, an empty regular file or a key file may
// become (or be replaced by) a store's key file.
func Classify(path string) (Kind, error) {
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return KindMissing, nil
	}
	if err != nil {
		return KindOther, fmt.Errorf("keyfile: %w", err)
	}
	if !st.Mode().IsRegular() {
		return KindOther, nil
	}
	if st.Size() == 0 {
		return KindEmpty, nil
	}
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return KindOther, fmt.Errorf("keyfile: %w", err)
	}
	defer f.Close()
	magic := make([]byte, len(Magic))
	if _, err := io.ReadFull(f, magic); err != nil || !bytes.Equal(magic, []byte(Magic)) {
		return KindOther, nil
	}
	return KindKeyFile, nil
}

// Header is a key file's header page as ReadHeader decodes it.
type Header struct {
	Watermarks
	Checkpoint Checkpoint
	Size       int64 // the file's size
}

// ReadHeader reads the header page of the key file at path and checks it
// against id, without mapping, locking or changing anything: a live
// writer's watermarks are read as they stand (each word is written whole).
func ReadHeader(path string, id Identity) (Header, error) {
	var h Header
	k, err := Classify(path)
	switch {
	case err != nil:
		return h, err
	case k == KindMissing || k == KindEmpty:
		return h, fmt.Errorf("%w: %s", ErrMissing, path)
	case k == KindOther:
		return h, fmt.Errorf("%w: %s", ErrNotKeyFile, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return h, fmt.Errorf("keyfile: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return h, fmt.Errorf("keyfile: %w", err)
	}
	b := make([]byte, HeaderSize)
	if _, err := io.ReadFull(f, b); err != nil {
		return h, fmt.Errorf("%w: header: %v", ErrDamaged, err)
	}
	if err := checkIdentity(b, id); err != nil {
		return h, err
	}
	cp, _, ok := latestCheckpoint(b)
	if !ok {
		return h, fmt.Errorf("%w: no valid checkpoint", ErrDamaged)
	}
	h.Checkpoint, h.Size = cp, st.Size()
	h.Extent, h.Written, h.Synced = le.Uint64(b[extentOff:]), le.Uint64(b[writtenOff:]), le.Uint64(b[syncedOff:])
	h.Clean, h.Watermarks.Checkpoint = le.Uint64(b[cleanOff:]) != 0, cp.Offset
	return h, nil
}

// BootID is this machine's boot ID (/proc/sys/kernel/random/boot_id), or
// false where it cannot be read. Two processes that see the same boot ID
// share one page cache: a key file left by a crashed process of this boot
// holds, in the page cache, exactly what that process had mapped.
func BootID() ([16]byte, bool) {
	var id [16]byte
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return id, false
	}
	h := bytes.ReplaceAll(bytes.TrimSpace(b), []byte("-"), nil)
	if len(h) != 32 {
		return id, false
	}
	if _, err := hex.Decode(id[:], h); err != nil {
		return id, false
	}
	return id, id != [16]byte{}
}

// SetBoot records the boot ID of the writer that opens the file; it
// becomes durable with the next msync of the header (SetClean).
func (f *File) SetBoot(id [16]byte) { copy(f.mem[bootOff:bootOff+16], id[:]) }

// SameBoot reports whether the file was last opened for writing during
// this boot: then nothing was lost between the page cache and the disk
// since (a process crash, not a power loss).
func (f *File) SameBoot() bool {
	id, ok := BootID()
	return ok && string(f.mem[bootOff:bootOff+16]) == string(id[:])
}

// ForgetBoot clears the boot ID in a key-file image: what a power loss
// and reboot does to it (the crash simulator's states are such images).
func ForgetBoot(image []byte) {
	if len(image) >= bootOff+16 {
		clear(image[bootOff : bootOff+16])
	}
}
