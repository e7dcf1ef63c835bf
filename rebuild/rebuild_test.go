package rebuild_test

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/nudbgo/nudb/datafile"
	"github.com/nudbgo/nudb/keyfile"
	"github.com/nudbgo/nudb/rebuild"
)

const blockSize = 512

// osFile adapts *os.File to rebuild.DataFile, as a user of the package
// outside the module would.
type osFile struct{ *os.File }

func (f osFile) Size() int64 {
	st, err := f.Stat()
	if err != nil {
		return 0
	}
	return st.Size()
}
func (f osFile) Truncate(n int64) error { return f.File.Truncate(n) }
func (f osFile) Sync() error            { return f.File.Sync() }

// logSpec describes a crafted log: n records of a few items each; the
// record i carries the durable mark of what was durable when it was built
// (lag records behind it), and the records from epochFrom on carry epoch 2.
type logSpec struct {
	n, lag, epochFrom int
}

type crafted struct {
	path    string
	geom    datafile.Geometry
	id      keyfile.Identity
	headers []datafile.Header
	keys    [][][]byte // keys of each record
}

func key(r, j int) []byte {
	k := make([]byte, 16)
	binary.LittleEndian.PutUint64(k, uint64(r))
	binary.LittleEndian.PutUint64(k[8:], uint64(j))
	return k
}

func craft(t *testing.T, spec logSpec) *crafted {
	t.Helper()
	c := &crafted{path: filepath.Join(t.TempDir(), "data")}
	c.geom = datafile.Geometry{BlockSize: blockSize, KeySize: 16}
	c.geom.UID[0] = 7
	c.id = keyfile.Identity{UID: c.geom.UID, KeySize: 16, BlockSize: blockSize, Salt: 99}
	sb := datafile.Superblock{Version: datafile.FormatVersion, BlockSize: blockSize, KeySize: 16, UID: c.geom.UID, Salt: 99}
	file := make([]byte, blockSize)
	sb.Encode(file)
	b := datafile.NewBuilder(c.geom.UID, 16, blockSize)
	hs := datafile.NewHasher()
	buf := make([]byte, 1<<16)
	var prev datafile.Header
	off := c.geom.LogStart()
	for i := 0; i < spec.n; i++ {
		b.Reset(buf)
		var keys [][]byte
		for j := 0; j < 3; j++ {
			b.Add(key(i, j), bytes.Repeat([]byte{byte(i)}, 100+j*200))
			keys = append(keys, key(i, j))
		}
		durable := c.geom.LogStart()
		if i-spec.lag >= 0 && i-spec.lag < len(c.headers) {
			durable = c.headers[i-spec.lag].End(blockSize)
		}
		epoch := uint64(1)
		if spec.epochFrom > 0 && i >= spec.epochFrom {
			epoch = 2
		}
		h, rec := b.Finish(hs, datafile.Header{Offset: off, Seq: prev.Seq + 1, Epoch: epoch, Timestamp: int64(i),
			PrevOffset: prev.Offset, PrevHash: prev.Hash, Durable: durable})
		if i == 0 {
			h.PrevOffset = 0
		}
		file = append(file, rec...)
		c.headers = append(c.headers, h)
		c.keys = append(c.keys, keys)
		prev = h
		off += int64(len(rec))
	}
	if err := os.WriteFile(c.path, file, 0o644); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *crafted) garble(t *testing.T, r int) {
	t.Helper()
	f, err := os.OpenFile(c.path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xA5}, 40), c.headers[r].Offset+datafile.HeaderSize+10); err != nil {
		t.Fatal(err)
	}
}

func (c *crafted) rebuild(t *testing.T, durable int64) (*keyfile.File, rebuild.Report) {
	t.Helper()
	f, err := os.OpenFile(c.path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	kf, rep, _, err := rebuild.Rebuild(&rebuild.Store{File: osFile{f}, Geom: c.geom, ID: c.id}, filepath.Join(t.TempDir(), "key"), durable, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kf.Close() })
	return kf, rep
}

func indexed(kf *keyfile.File, salt uint64, k []byte) bool {
	return len(kf.Lookup(keyfile.Hash(salt, k), nil)) > 0
}

// Damage at every position inside the durable part loses that record's
// items alone; everything after it is indexed and nothing is cut.
func TestDamageAtEveryPosition(t *testing.T) {
	const n = 12
	for r := 0; r < n-2; r++ {
		c := craft(t, logSpec{n: n, lag: 1})
		c.garble(t, r)
		kf, rep := c.rebuild(t, 0)
		if rep.DamagedRecords != 1 || rep.TornAt != 0 || rep.RecordsDropped != 0 {
			t.Fatalf("damage at record %d: %+v", r, rep)
		}
		for i := 0; i < n; i++ {
			for _, k := range c.keys[i] {
				if indexed(kf, c.id.Salt, k) != (i != r) {
					t.Fatalf("damage at record %d: record %d indexed %v", r, i, !(i != r))
				}
			}
		}
		if rep.End != c.headers[n-1].End(blockSize) {
			t.Fatalf("damage at record %d: log ends at %d, want %d", r, rep.End, c.headers[n-1].End(blockSize))
		}
	}
}

// A bad record past every durable mark is a torn tail: it and the valid
// records after it are cut, and counted.
func TestTornTail(t *testing.T) {
	const n = 10
	c := craft(t, logSpec{n: n, lag: 3})
	// Record 8 is past the highest mark (record 9 proves up to record 6).
	c.garble(t, 8)
	kf, rep := c.rebuild(t, 0)
	if rep.TornAt != c.headers[8].Offset || rep.RecordsDropped != 1 || rep.DamagedRecords != 0 {
		t.Fatalf("torn tail: %+v", rep)
	}
	if indexed(kf, c.id.Salt, c.keys[9][0]) {
		t.Fatal("a record after the torn tail is indexed")
	}
	if !indexed(kf, c.id.Salt, c.keys[7][0]) {
		t.Fatal("a record before the torn tail is lost")
	}
	// The same log with a key file that says everything was synced: the
	// bad record is damage, nothing is cut.
	c = craft(t, logSpec{n: n, lag: 3})
	c.garble(t, 8)
	kf, rep = c.rebuild(t, c.headers[n-1].End(blockSize))
	if rep.TornAt != 0 || rep.DamagedRecords != 1 || !indexed(kf, c.id.Salt, c.keys[9][0]) {
		t.Fatalf("damage proven durable by the key file: %+v", rep)
	}
}

// A record of an older epoch cannot continue the chain across damage: it
// is stale (a device keeps old records beyond the end).
func TestStaleRecordsAreNotResurrected(t *testing.T) {
	const n = 8
	c := craft(t, logSpec{n: n, lag: 1, epochFrom: 4})
	// An epoch that steps up (a new session) continues the chain, also
	// across damage: record 4 (the first of epoch 2) is stepped over.
	c.garble(t, 4)
	_, rep := c.rebuild(t, c.headers[n-1].End(blockSize))
	if rep.DamagedRecords != 1 || rep.End != c.headers[n-1].End(blockSize) {
		t.Fatalf("epoch step across damage: %+v", rep)
	}
	// A newer, shorter log written over an older one on the same device:
	// the old records 5.. stay beyond its end. With the newer log's last
	// record damaged, they look like its continuation in every way but
	// their epoch, which is older: they must not pass.
	stale := craft(t, logSpec{n: n, lag: 1})               // all epoch 1
	fresh := craft(t, logSpec{n: 5, lag: 1, epochFrom: 1}) // records 1.. epoch 2
	b, _ := os.ReadFile(stale.path)
	fb, _ := os.ReadFile(fresh.path)
	copy(b, fb) // the fresh, shorter log over the stale one: 5..7 stay stale
	os.WriteFile(stale.path, b, 0o644)
	fresh.path = stale.path
	fresh.garble(t, 4) // the fresh log's last record is bad; stale 5.. follow
	kf, rep := fresh.rebuild(t, fresh.headers[4].End(blockSize))
	for i := 5; i < n; i++ {
		if indexed(kf, fresh.id.Salt, stale.keys[i][0]) {
			t.Fatalf("stale record %d resurrected: %+v", i, rep)
		}
	}
}

// A walk that breaks inside the durable part with nothing after it keeps
// the damaged bytes: the tail bridges over them.
func TestBridgeOverDamageAtTheEnd(t *testing.T) {
	const n = 6
	c := craft(t, logSpec{n: n, lag: 1})
	c.garble(t, n-1)
	end := c.headers[n-1].End(blockSize)
	f, _ := os.OpenFile(c.path, os.O_RDWR, 0)
	defer f.Close()
	_, rep, tail, err := rebuild.Rebuild(&rebuild.Store{File: osFile{f}, Geom: c.geom, ID: c.id}, filepath.Join(t.TempDir(), "key"), end, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tail.End != end || rep.DamagedRecords != 1 || rep.TornAt != 0 {
		t.Fatalf("bridge: tail %+v, report %+v", tail, rep)
	}
	if tail.Last.Offset != c.headers[n-1].Offset || tail.Last.Seq != c.headers[n-2].Seq+1 {
		t.Fatalf("the stand-in does not span the damage: %+v", tail.Last)
	}
	if st, _ := f.Stat(); st.Size() != end {
		t.Fatalf("the damaged bytes were cut: size %d, want %d", st.Size(), end)
	}
}
