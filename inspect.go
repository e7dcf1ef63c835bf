package nudb

import (
	"fmt"
	"time"

	"github.com/nudbgo/nudb/datafile"
	"github.com/nudbgo/nudb/internal/ioengine"
	"github.com/nudbgo/nudb/keyfile"
	"github.com/nudbgo/nudb/rebuild"
)

// VerifyReport is the result of Verify (see rebuild.VerifyReport).
type VerifyReport = rebuild.VerifyReport

// Info describes a store without opening it for writing.
type Info struct {
	UID          string    `json:"uid"`
	KeySize      int       `json:"key_size"`
	BlockSize    int       `json:"block_size"`
	Created      time.Time `json:"created"`
	Device       bool      `json:"device"`
	DataSize     int64     `json:"data_size"`
	KeyFileSize  int64     `json:"key_file_size"`
	KeyFileError string    `json:"key_file_error,omitempty"` // why the key file is unusable (Open would rebuild it)
	Clean        bool      `json:"clean"`
	Extent       int64     `json:"extent"`
	Written      int64     `json:"written"`
	Synced       int64     `json:"synced"`
	Checkpoint   int64     `json:"checkpoint"`
	Items        uint64    `json:"items"`   // items in the index (at the checkpoint if not clean)
	Records      uint64    `json:"records"` // records below the checkpoint
	Buckets      uint64    `json:"buckets"`
	LoadFactor   float64   `json:"load_factor"`
}

// openReadOnly opens the data file with a shared lock (a writer holding the
// store makes it fail with ErrLocked) and reads the superblock.
func openReadOnly(dataPath string) (*ioengine.File, datafile.Superblock, error) {
	df, err := ioengine.OpenFile(dataPath, true)
	if err != nil {
		return nil, datafile.Superblock{}, fmt.Errorf("nudb: %w", err)
	}
	sb, err := readSuperblock(df)
	if err != nil {
		df.Close()
		return nil, sb, err
	}
	return df, sb, nil
}

func identityOf(sb datafile.Superblock) keyfile.Identity {
	return keyfile.Identity{UID: sb.UID, KeySize: int(sb.KeySize), BlockSize: int(sb.BlockSize), Salt: sb.Salt}
}

func rebuildStore(df *ioengine.File, sb datafile.Superblock) *rebuild.Store {
	return &rebuild.Store{File: df, Geom: datafile.Geometry{UID: sb.UID, BlockSize: int(sb.BlockSize), KeySize: int(sb.KeySize)}, Salt: sb.Salt}
}

// Inspect reads a store's superblock and key-file header. It changes
// nothing, and works on a store that a crashed writer left behind.
func Inspect(dataPath, keyPath string) (Info, error) {
	df, sb, err := openReadOnly(dataPath)
	if err != nil {
		return Info{}, err
	}
	defer df.Close()
	info := Info{UID: fmt.Sprintf("%x", sb.UID), KeySize: int(sb.KeySize), BlockSize: int(sb.BlockSize),
		Created: time.Unix(0, sb.Created).UTC(), Device: df.Device, DataSize: df.Size}
	kf, err := keyfile.Open(keyPath, identityOf(sb), true)
	if err != nil {
		info.KeyFileError = err.Error()
		return info, nil
	}
	defer kf.Close()
	wm, cp, ts := kf.Watermarks(), kf.Checkpoint(), kf.Stats()
	info.KeyFileSize, info.Clean = kf.Size(), wm.Clean
	info.Extent, info.Written, info.Synced, info.Checkpoint = int64(wm.Extent), int64(wm.Written), int64(wm.Synced), cp.Offset
	info.Items, info.Records, info.Buckets, info.LoadFactor = ts.Items, cp.Records, ts.Buckets, ts.LoadFactor
	return info, nil
}

// Verify checks a store read-only: every record's hash and chain, every
// item's CRC, every item indexed exactly once, every index entry pointing
// at its item. It fails with ErrLocked while the store is open for writing.
// A missing or unusable key file is reported as a problem.
func Verify(dataPath, keyPath string, progress func(done, total int64)) (VerifyReport, error) {
	df, sb, err := openReadOnly(dataPath)
	if err != nil {
		return VerifyReport{}, err
	}
	defer df.Close()
	kf, err := keyfile.Open(keyPath, identityOf(sb), true)
	if err != nil {
		if keyfile.Unusable(err) {
			// Check the log anyway, and report the key file as the problem
			// (Open or Rebuild would rebuild it).
			rep, verr := rebuild.Verify(rebuildStore(df, sb), nil, progress)
			rep.ProblemCount++
			rep.Problems = append([]rebuild.Problem{{What: "key file unusable (Open or rebuild rebuilds it): " + err.Error()}}, rep.Problems...)
			return rep, verr
		}
		return VerifyReport{}, err
	}
	defer kf.Close()
	return rebuild.Verify(rebuildStore(df, sb), kf, progress)
}

// RebuildReport says what Rebuild did.
type RebuildReport = rebuild.Report

// Rebuild writes a new key file for the data file (beside keyPath, synced,
// then renamed over it), for a store that is not open. It needs no key file.
// opts.RecoveryWindow says how much of the newest log a bad record ends
// (a torn tail) rather than being skipped (media damage); opts.Progress, if
// set, is called as the scan advances. Other options are ignored.
func Rebuild(dataPath, keyPath string, opts *Options) (RebuildReport, error) {
	o := opts.withDefaults()
	df, err := ioengine.OpenFile(dataPath, false)
	if err != nil {
		return RebuildReport{}, fmt.Errorf("nudb: %w", err)
	}
	defer df.Close()
	sb, err := readSuperblock(df)
	if err != nil {
		return RebuildReport{}, err
	}
	kf, rep, _, err := rebuild.Rebuild(rebuildStore(df, sb), keyPath, o.RecoveryWindow, o.Progress)
	if err != nil {
		return rep, err
	}
	if err := kf.SetClean(true); err != nil {
		kf.Close()
		return rep, err
	}
	return rep, kf.Close()
}
