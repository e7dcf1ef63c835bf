package nudb

import (
	"context"
	"errors"
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
	Items        uint64    `json:"items"`   // items in the index at the checkpoint
	Records      uint64    `json:"records"` // records below the checkpoint
	Buckets      uint64    `json:"buckets"` // at the checkpoint
	LoadFactor   float64   `json:"load_factor"`
}

// openData opens a data file in mode, checks it is a store and reads its
// superblock.
func openData(dataPath, keyPath string, mode ioengine.Mode, wait time.Duration) (*ioengine.File, datafile.Superblock, error) {
	if err := checkDistinct(dataPath, keyPath); err != nil {
		return nil, datafile.Superblock{}, err
	}
	df, err := ioengine.OpenFile(dataPath, mode, wait)
	if err != nil {
		return nil, datafile.Superblock{}, openError(err)
	}
	sb, err := readSuperblock(df)
	if err != nil {
		df.Close()
		return nil, sb, err
	}
	return df, sb, nil
}

// Inspect reads a store's superblock and key-file header. It takes no lock
// and changes nothing, so it works beside a live writer (the watermarks are
// then a moment's snapshot) and on a store a crashed writer left behind.
func Inspect(dataPath, keyPath string) (Info, error) {
	df, sb, err := openData(dataPath, keyPath, ioengine.Unlocked, 0)
	if err != nil {
		return Info{}, err
	}
	defer df.Close()
	info := Info{UID: fmt.Sprintf("%x", sb.UID), KeySize: int(sb.KeySize), BlockSize: int(sb.BlockSize),
		Created: time.Unix(0, sb.Created).UTC(), Device: df.Device, DataSize: df.Size}
	h, err := keyfile.ReadHeader(keyPath, identityOf(sb))
	if err != nil {
		if errors.Is(err, keyfile.ErrNotKeyFile) {
			return info, fmt.Errorf("%w: %w", ErrNotStore, err)
		}
		info.KeyFileError = err.Error()
		return info, nil
	}
	cp := h.Checkpoint
	info.KeyFileSize, info.Clean = h.Size, h.Clean
	info.Extent, info.Written, info.Synced, info.Checkpoint = int64(h.Extent), int64(h.Written), int64(h.Synced), cp.Offset
	info.Items, info.Records, info.Buckets = cp.Items, cp.Records, cp.Buckets
	info.LoadFactor = float64(cp.Items) / float64(cp.Buckets*keyfile.SlotsPerPage)
	return info, nil
}

// Verify checks a store read-only: every record's hash and chain, every
// item's CRC, every item indexed exactly once, every index entry pointing
// at its item, and reports media damage and torn tails by DESIGN.md's rule.
// It fails with ErrLocked while the store is open for writing. A missing or
// unusable key file is reported as a problem (the log is still checked).
func Verify(dataPath, keyPath string, progress func(done, total int64)) (VerifyReport, error) {
	return VerifyContext(context.Background(), dataPath, keyPath, progress)
}

// VerifyContext is Verify that stops once ctx is done and returns
// ctx.Err() (with the report so far, which then proves nothing). It reads
// only, so stopping it anywhere leaves the store as it was.
func VerifyContext(ctx context.Context, dataPath, keyPath string, progress func(done, total int64)) (VerifyReport, error) {
	if ctx == nil {
		return VerifyReport{}, fmt.Errorf("%w: nil context", ErrInvalidArgument)
	}
	if err := ctx.Err(); err != nil {
		return VerifyReport{}, err
	}
	df, sb, err := openData(dataPath, keyPath, ioengine.Shared, -1)
	if err != nil {
		return VerifyReport{}, err
	}
	defer df.Close()
	if _, err := checkKeyPath(keyPath); err != nil {
		return VerifyReport{}, err
	}
	rs := rebuildStore(df, sb)
	rs.Stop = ctx.Err
	kf, err := keyfile.Open(keyPath, rs.ID, true)
	if err != nil {
		if !keyfile.Unusable(err) {
			return VerifyReport{}, err
		}
		// Check the log anyway, and report the key file as the problem
		// (Open or Rebuild would rebuild it).
		rep, verr := rebuild.Verify(rs, nil, progress)
		rep.Problem(0, "key file unusable (Open or rebuild rebuilds it): %v", err)
		return rep, verr
	}
	defer kf.Close()
	return rebuild.Verify(rs, kf, progress)
}

// RebuildReport says what Rebuild did.
type RebuildReport = rebuild.Report

// Rebuild writes a new key file for the data file (beside keyPath, synced,
// then renamed over it), for a store that is not open. It needs no key
// file; one that is still readable lends its synced watermark to tell
// media damage from a torn tail, as do the records' durable marks. The
// report says what was dropped or skipped (RebuildReport.Lost).
// opts.Progress, if set, is called as the scan advances; opts.LockTimeout
// applies; other options are ignored. The key path must be missing, empty
// or a key file (else ErrNotStore).
func Rebuild(dataPath, keyPath string, opts *Options) (RebuildReport, error) {
	return RebuildContext(context.Background(), dataPath, keyPath, opts)
}

// RebuildContext is Rebuild that stops once ctx is done and returns
// ctx.Err(): the new key file is then removed before it replaced anything,
// and the data file is not touched.
func RebuildContext(ctx context.Context, dataPath, keyPath string, opts *Options) (RebuildReport, error) {
	if ctx == nil {
		return RebuildReport{}, fmt.Errorf("%w: nil context", ErrInvalidArgument)
	}
	o := opts.withDefaults()
	df, sb, err := openData(dataPath, keyPath, ioengine.Exclusive, o.LockTimeout)
	if err != nil {
		return RebuildReport{}, err
	}
	defer df.Close()
	if _, err := checkKeyPath(keyPath); err != nil {
		return RebuildReport{}, err
	}
	rs := rebuildStore(df, sb)
	rs.Stop = ctx.Err
	kf, rep, _, err := rebuild.Rebuild(rs, keyPath, durableHint(keyPath, rs.ID), o.Progress)
	if err != nil {
		return rep, err
	}
	if err := kf.SetClean(true); err != nil {
		kf.Close()
		return rep, err
	}
	return rep, kf.Close()
}
