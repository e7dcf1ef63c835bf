package nudb

import (
	"errors"
	"fmt"
	"time"

	"github.com/nudbgo/nudb/internal/ioengine"
	"github.com/nudbgo/nudb/keyfile"
)

// followRetries is how often a read-only store looks a key up again when
// the writer's table changed under the lookup.
const followRetries = 3

// openReadOnly opens a store for reading beside a live writer (or with no
// writer, on a read-only filesystem): the data file without a lock and
// read-only, the key file as a follower (keyfile.OpenFollower). Nothing is
// recovered and nothing is written; a key file that cannot serve (missing,
// foreign, damaged) is an error that says how to get one, never repaired.
func openReadOnly(dataPath, keyPath string, o Options) (*Store, error) {
	df, err := ioengine.OpenFile(dataPath, ioengine.Unlocked, 0)
	if err != nil {
		return nil, openError(err)
	}
	sb, err := readSuperblock(df)
	if err != nil {
		df.Close()
		return nil, err
	}
	start := time.Now()
	kf, err := openFollower(keyPath, identityOf(sb))
	if err != nil {
		df.Close()
		if errors.Is(err, keyfile.ErrNotKeyFile) {
			return nil, fmt.Errorf("%w: %w", ErrNotStore, err)
		}
		return nil, fmt.Errorf("nudb: a read-only open needs a usable key file, and never repairs one (open the store for writing once, or run nudbtool rebuild): %w", err)
	}
	s := &Store{opts: o, sb: sb, df: df, geom: sb.Geometry(), kf: kf, closeDone: make(chan struct{}),
		scrubStop: make(chan struct{}), scrubDone: make(chan struct{}), pending: newPendingSet()}
	s.recovery = RecoveryStats{Clean: kf.Watermarks().Clean, Reason: "read-only: nothing recovered", Duration: time.Since(start)}
	close(s.scrubDone)
	s.reads.init(df, s.geom)
	s.gate.drained = make(chan struct{}, 1)
	s.stats.dataSize.Store(df.Size)
	return s, nil
}

// openFollower opens the key file as a follower, trying again a few times
// when a live writer was changing the pages it checked.
func openFollower(path string, id keyfile.Identity) (*keyfile.File, error) {
	var err error
	for try := 0; try < followRetries; try++ {
		var kf *keyfile.File
		if kf, err = keyfile.OpenFollower(path, id); err == nil {
			return kf, nil
		}
		if !errors.Is(err, keyfile.ErrDamaged) {
			return nil, err
		}
		time.Sleep(time.Millisecond)
	}
	return nil, err
}
