package nudb

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/nudbgo/nudb/datafile"
	"github.com/nudbgo/nudb/internal/ioengine"
	"github.com/nudbgo/nudb/keyfile"
)

// Create makes a new, empty store: the data file at dataPath (a regular
// file, created if missing, or a block device) and the key file at keyPath.
//
// It never writes over what is not a store's: a key path that holds
// anything but nothing, an empty file or a key file is ErrNotStore; a
// regular data file that is not empty, or a block device whose first 64 KiB
// hold anything recognisable (a filesystem, a partition table, swap,
// another store, any non-zero byte), is ErrExists unless opts.Overwrite is
// set. The two paths must name different files. A failed Create leaves
// nothing behind that it made.
func Create(dataPath, keyPath string, opts *Options) (retErr error) {
	o := opts.withDefaults()
	if err := o.validate(); err != nil {
		return err
	}
	if err := checkDistinct(dataPath, keyPath); err != nil {
		return err
	}
	kind, err := checkKeyPath(keyPath)
	if err != nil {
		return err
	}
	if kind == keyfile.KindKeyFile && !o.Overwrite {
		return fmt.Errorf("%w: %s is a key file", ErrExists, keyPath)
	}
	if st, err := os.Stat(dataPath); err == nil {
		if st.Mode().IsRegular() && st.Size() > 0 && !o.Overwrite {
			return fmt.Errorf("%w: %s is not empty", ErrExists, dataPath)
		}
	} else if errors.Is(err, os.ErrNotExist) {
		f, err := os.OpenFile(dataPath, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return fmt.Errorf("nudb: create %s: %w", dataPath, err)
		}
		f.Close()
		defer func() {
			if retErr != nil {
				os.Remove(dataPath)
			}
		}()
	} else {
		return fmt.Errorf("nudb: %w", err)
	}
	df, err := ioengine.OpenFile(dataPath, ioengine.Exclusive, o.LockTimeout)
	if err != nil {
		return openError(err)
	}
	defer df.Close()
	if df.Device && o.BlockSize%df.LogicalBlock != 0 {
		return fmt.Errorf("%w: block size %d is not a multiple of the device's logical block size %d", ErrInvalidOptions, o.BlockSize, df.LogicalBlock)
	}
	if df.Device && df.Size < int64(2*o.BlockSize) {
		return fmt.Errorf("%w: device %s has %d bytes", ErrFull, dataPath, df.Size)
	}
	if df.Device && !o.Overwrite {
		if err := checkDeviceEmpty(df); err != nil {
			return err
		}
	}
	uid, salt, err := newUID()
	if err != nil {
		return err
	}
	sb := datafile.Superblock{Version: datafile.FormatVersion, BlockSize: uint32(o.BlockSize), KeySize: uint32(o.KeySize),
		UID: uid, Salt: salt, Created: time.Now().UnixNano()}
	if err := writeSuperblock(df, &sb); err != nil {
		return err
	}
	if kind == keyfile.KindKeyFile || kind == keyfile.KindEmpty {
		if err := os.Remove(keyPath); err != nil {
			return fmt.Errorf("nudb: %w", err)
		}
	}
	if err := keyfile.Create(keyPath, identityOf(sb), sb.Geometry().LogStart()); err != nil {
		return spaceError(err)
	}
	for _, dir := range []string{filepath.Dir(dataPath), filepath.Dir(keyPath)} {
		if d, err := os.Open(dir); err == nil {
			d.Sync()
			d.Close()
		}
	}
	return nil
}

// checkDeviceEmpty refuses a device whose first bytes hold anything.
func checkDeviceEmpty(df *ioengine.File) error {
	n := int(min(int64(probeSize), df.Size))
	n -= n % df.LogicalBlock
	arena, err := ioengine.NewArena(probeSize)
	if err != nil {
		return err
	}
	defer arena.Free()
	b := arena.Bytes()[:n]
	if m, err := df.ReadAt(b, 0); m < n {
		return fmt.Errorf("nudb: reading %s: %w", df.Path, err)
	}
	if what := recognise(b); what != "" {
		return fmt.Errorf("%w: %s holds %s (Overwrite replaces it)", ErrExists, df.Path, what)
	}
	return nil
}

// writeSuperblock empties a regular file and writes and syncs block 0.
func writeSuperblock(df *ioengine.File, sb *datafile.Superblock) error {
	if !df.Device {
		if err := df.Truncate(0); err != nil {
			return err
		}
	}
	arena, err := ioengine.NewArena(int(sb.BlockSize))
	if err != nil {
		return err
	}
	defer arena.Free()
	block := arena.Bytes()[:sb.BlockSize]
	sb.Encode(block)
	eng, err := ioengine.New(ioengine.Pwrite, df.Fd, 1)
	if err != nil {
		return err
	}
	defer eng.Close()
	if err := eng.SubmitWrite(1, block, 0, true); err != nil {
		return err
	}
	done, err := eng.Wait(nil)
	if err == nil && len(done) != 1 {
		err = fmt.Errorf("%d completions for one write", len(done))
	} else if err == nil {
		err = done[0].Err
	}
	if err == nil {
		err = ioengine.Datasync(df.Fd)
	}
	if err != nil {
		return spaceError(fmt.Errorf("nudb: writing the superblock: %w", err))
	}
	return nil
}

func newUID() ([16]byte, uint64, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return [16]byte{}, 0, err
	}
	var uid [16]byte
	copy(uid[:], b[:16])
	return uid, binary.LittleEndian.Uint64(b[16:]), nil
}

// identityOf is what ties a key file to a data file's superblock.
func identityOf(sb datafile.Superblock) keyfile.Identity {
	return keyfile.Identity{UID: sb.UID, KeySize: int(sb.KeySize), BlockSize: int(sb.BlockSize), Salt: sb.Salt}
}
