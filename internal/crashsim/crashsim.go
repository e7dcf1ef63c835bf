// Package crashsim records what a store writes and turns the recording into
// the states a power loss could leave behind, in the manner of SQLite's
// crash-test VFS and pebble's crash-cloning MemFS, adapted to nudb's two
// files: an O_DIRECT data log and an mmapped index.
//
// A Recorder wraps the store's I/O engine. It logs every data-file write
// (offset, bytes, whether it was RWF_DSYNC), every completion, every
// fdatasync barrier, and it snapshots the key file at each of those events
// and after every msync (the key file stays a real mapped file; its bytes are
// copied). Tests add notes (an insert acknowledged as durable, a Sync
// returned) to the same timeline.
//
// State picks a cut in the timeline and materialises what the disk may hold
// if power failed there:
//
//   - data file: every write made durable before the cut (completed and then
//     covered by a barrier, or completed with RWF_DSYNC) is kept; every other
//     write submitted before the cut is kept, dropped, or torn at 512-byte
//     sectors (each sector new or old), chosen at random;
//   - key file: each 512-byte sector that changed since the last msync before
//     the cut holds its old (msynced) or its new (in memory at the cut)
//     contents, chosen at random.
//
// All choices come from a seeded generator, so a state is reproducible from
// its seed and the recording.
package crashsim

import (
	"math/rand/v2"
	"os"
	"sync"

	"github.com/nudbgo/nudb/internal/ioengine"
)

// Sector is the unit a torn write or a key-file writeback is made of.
const Sector = 512

// Kind is the kind of a timeline event.
type Kind int

// Event kinds.
const (
	Write    Kind = iota // a data-file write was submitted
	Complete             // a data-file write completed
	Barrier              // fdatasync returned: completed writes are durable
	Msync                // the key file was msynced: Key holds its durable bytes
	Note                 // a test's note (an acknowledgement)
)

// Event is one entry of the timeline.
type Event struct {
	Kind  Kind
	ID    uint64 // Write/Complete: the engine's write id
	Off   int64  // Write: data-file offset
	Data  []byte // Write: the bytes
	Dsync bool   // Write: submitted with RWF_DSYNC
	Err   bool   // Complete: the write failed
	Key   []byte // key-file bytes at this event (nil: unchanged since the previous snapshot)
	Label string // Note
}

// Recorder is an ioengine.Engine that records and forwards.
type Recorder struct {
	mu      sync.Mutex
	inner   ioengine.Engine
	events  []Event
	keyFile func() []byte // current key-file bytes; called on the writer goroutine
	lastKey []byte
}

// NewRecorder returns a recorder; Wrap attaches it to an engine.
func NewRecorder() *Recorder { return &Recorder{} }

// SetKeyFile sets the function that returns the key file's current bytes.
func (r *Recorder) SetKeyFile(fn func() []byte) {
	r.mu.Lock()
	r.keyFile = fn
	r.mu.Unlock()
}

// Wrap makes r record the writes of e and returns it as an engine.
func (r *Recorder) Wrap(e ioengine.Engine) ioengine.Engine {
	r.inner = e
	return r
}

// snapKey returns a copy of the key file if it changed since the last
// snapshot (nil if not). Called with mu held.
func (r *Recorder) snapKey(b []byte) []byte {
	if b == nil && r.keyFile != nil {
		b = r.keyFile()
	}
	if b == nil || string(b) == string(r.lastKey) {
		return nil
	}
	r.lastKey = append([]byte(nil), b...)
	return r.lastKey
}

// add appends an event. Events raised on the store's writer goroutine
// (writes, barriers, msyncs) snapshot the key file; notes come from test
// goroutines, where reading the mapping would race the writer.
func (r *Recorder) add(ev Event, key []byte) {
	r.mu.Lock()
	// Completions are reported on the store's reaper goroutine, which
	// must not read the mapping either.
	if ev.Kind != Note && ev.Kind != Complete {
		ev.Key = r.snapKey(key)
	}
	r.events = append(r.events, ev)
	r.mu.Unlock()
}

// Name implements ioengine.Engine.
func (r *Recorder) Name() string { return r.inner.Name() }

// SubmitWrite implements ioengine.Engine.
func (r *Recorder) SubmitWrite(id uint64, buf []byte, off int64, dsync bool) error {
	r.add(Event{Kind: Write, ID: id, Off: off, Data: append([]byte(nil), buf...), Dsync: dsync}, nil)
	return r.inner.SubmitWrite(id, buf, off, dsync)
}

// Pending implements ioengine.Engine.
func (r *Recorder) Pending() int { return r.inner.Pending() }

// Wait implements ioengine.Engine.
func (r *Recorder) Wait(dst []ioengine.Completion) ([]ioengine.Completion, error) {
	n := len(dst)
	dst, err := r.inner.Wait(dst)
	for _, c := range dst[n:] {
		r.add(Event{Kind: Complete, ID: c.ID, Err: c.Err != nil}, nil)
	}
	return dst, err
}

// Datasync implements ioengine.Engine.
func (r *Recorder) Datasync() error {
	err := r.inner.Datasync()
	if err == nil {
		r.add(Event{Kind: Barrier}, nil)
	}
	return err
}

// Close implements ioengine.Engine.
func (r *Recorder) Close() error { return r.inner.Close() }

// AfterMsync records an msync: mem is the key file as it now stands on disk.
func (r *Recorder) AfterMsync(mem []byte) { r.add(Event{Kind: Msync}, mem) }

// Note adds a test's note to the timeline.
func (r *Recorder) Note(label string) { r.add(Event{Kind: Note, Label: label}, nil) }

// Events returns a copy of the timeline so far.
func (r *Recorder) Events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// State is one materialised crash state.
type State struct {
	Cut         int    // events before this index happened
	Data, Key   []byte // file images; the data file is DataSize long, zero past len(Data)
	DataSize    int64
	Kept        int      // unsynced writes applied whole
	Dropped     int      // unsynced writes lost
	Torn        int      // unsynced writes torn at sectors
	KeyMixed    int      // key-file sectors taken from the older image
	NotesBefore []string // notes recorded before the cut
}

// WriteFiles writes the state's images to dataPath (sparse past the last
// written byte) and keyPath.
func (st *State) WriteFiles(dataPath, keyPath string) error {
	if err := os.WriteFile(dataPath, st.Data, 0o644); err != nil {
		return err
	}
	if err := os.Truncate(dataPath, st.DataSize); err != nil {
		return err
	}
	return os.WriteFile(keyPath, st.Key, 0o644)
}

// Materialise builds the crash state at cut (0 ≤ cut ≤ len(events)) from
// the file images taken before recording started. rng makes every choice.
func Materialise(events []Event, cut int, baseData, baseKey []byte, dataSize int64, rng *rand.Rand) State {
	st := State{Cut: cut}
	completedAt := map[uint64]int{}
	durable := map[uint64]bool{}
	var completedSinceBarrier []uint64
	durableKey, currentKey := baseKey, baseKey
	for i := 0; i < cut; i++ {
		ev := &events[i]
		if ev.Key != nil {
			currentKey = ev.Key
		}
		switch ev.Kind {
		case Complete:
			if ev.Err {
				continue
			}
			completedAt[ev.ID] = i
			completedSinceBarrier = append(completedSinceBarrier, ev.ID)
		case Barrier:
			for _, id := range completedSinceBarrier {
				durable[id] = true
			}
			completedSinceBarrier = completedSinceBarrier[:0]
		case Msync:
			durableKey = ev.Key
			if durableKey == nil {
				durableKey = currentKey
			}
		case Note:
			st.NotesBefore = append(st.NotesBefore, ev.Label)
		}
	}
	// Dsync writes are durable once complete.
	for i := 0; i < cut; i++ {
		if ev := &events[i]; ev.Kind == Write && ev.Dsync {
			if _, ok := completedAt[ev.ID]; ok {
				durable[ev.ID] = true
			}
		}
	}
	size := int64(len(baseData))
	for i := 0; i < cut; i++ {
		if ev := &events[i]; ev.Kind == Write {
			size = max(size, ev.Off+int64(len(ev.Data)))
		}
	}
	st.DataSize = max(size, dataSize)
	data := make([]byte, size)
	copy(data, baseData)
	for i := 0; i < cut; i++ {
		ev := &events[i]
		if ev.Kind != Write {
			continue
		}
		dst := data[ev.Off : ev.Off+int64(len(ev.Data))]
		switch {
		case durable[ev.ID]:
			copy(dst, ev.Data)
		default:
			switch rng.IntN(3) {
			case 0:
				copy(dst, ev.Data)
				st.Kept++
			case 1:
				st.Dropped++
			default:
				st.Torn++
				for s := 0; s < len(dst); s += Sector {
					if rng.IntN(2) == 0 {
						copy(dst[s:min(s+Sector, len(dst))], ev.Data[s:min(s+Sector, len(dst))])
					}
				}
			}
		}
	}
	st.Data = data
	st.Key, st.KeyMixed = mixSectors(durableKey, currentKey, rng)
	if len(currentKey) > len(durableKey) && rng.IntN(2) == 0 {
		// The file grew since the last msync and its new size did not
		// reach the disk.
		st.Key = st.Key[:len(durableKey)]
	}
	return st
}

// mixSectors returns an image whose every changed sector comes from old or
// new at random (sectors only one image has come from that image).
func mixSectors(old, cur []byte, rng *rand.Rand) ([]byte, int) {
	out := append([]byte(nil), cur...)
	mixed := 0
	for s := 0; s < len(out) && s < len(old); s += Sector {
		e := min(s+Sector, len(out), len(old))
		if string(old[s:e]) != string(out[s:e]) && rng.IntN(2) == 0 {
			copy(out[s:e], old[s:e])
			mixed++
		}
	}
	return out, mixed
}
