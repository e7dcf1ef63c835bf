package rotate

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// The files of a set, all in its directory.
const (
	manifestName     = "MANIFEST"
	manifestTempName = "MANIFEST.tmp"
	lockName         = "LOCK"
	tombstonesName   = "TOMBSTONES"
	tombstonesTemp   = "TOMBSTONES.tmp"
	reserveName      = "RESERVE"
	manifestMagic    = "nudb-rotate manifest 1"
)

// genDataName and genKeyName are the one home of a generation's file names.
func genDataName(id uint64) string { return fmt.Sprintf("gen-%08d.data", id) }
func genKeyName(id uint64) string  { return fmt.Sprintf("gen-%08d.key", id) }

// parseGenName returns the generation a file of the set belongs to, if it
// is a generation file.
func parseGenName(name string) (uint64, bool) {
	rest, ok := strings.CutPrefix(name, "gen-")
	if !ok {
		return 0, false
	}
	num, ext, ok := strings.Cut(rest, ".")
	if !ok || (ext != "data" && ext != "key") || len(num) != 8 {
		return 0, false
	}
	id, err := strconv.ParseUint(num, 10, 64)
	return id, err == nil
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// manifest is what the MANIFEST file says: the generations, oldest first,
// and the id the next generation gets (ids are never reused, so a file
// left by a crashed rotation can never be mistaken for a live one).
//
// On disk it is text, one fact per line, closed by a CRC-32C of the lines
// above it:
//
//	nudb-rotate manifest 1
//	next 7
//	gen 5
//	gen 6
//	crc32c 1a2b3c4d
type manifest struct {
	next uint64
	gens []uint64
}

func (m manifest) encode() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\nnext %d\n", manifestMagic, m.next)
	for _, id := range m.gens {
		fmt.Fprintf(&b, "gen %d\n", id)
	}
	fmt.Fprintf(&b, "crc32c %08x\n", crc32.Checksum(b.Bytes(), crcTable))
	return b.Bytes()
}

func decodeManifest(b []byte) (manifest, error) {
	var m manifest
	body, tail, ok := cutLastLine(b)
	crcText, found := strings.CutPrefix(tail, "crc32c ")
	if !ok || !found {
		return m, fmt.Errorf("%w: manifest has no checksum line", ErrCorrupt)
	}
	if crcText != fmt.Sprintf("%08x", crc32.Checksum(body, crcTable)) {
		return m, fmt.Errorf("%w: manifest checksum mismatch", ErrCorrupt)
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	if !sc.Scan() || sc.Text() != manifestMagic {
		return m, fmt.Errorf("%w: not a nudb rotate manifest", ErrNotSet)
	}
	for sc.Scan() {
		field, value, _ := strings.Cut(sc.Text(), " ")
		n, err := strconv.ParseUint(value, 10, 64)
		if err != nil {
			return m, fmt.Errorf("%w: manifest line %q", ErrCorrupt, sc.Text())
		}
		switch field {
		case "next":
			m.next = n
		case "gen":
			if len(m.gens) > 0 && n <= m.gens[len(m.gens)-1] {
				return m, fmt.Errorf("%w: manifest generations out of order", ErrCorrupt)
			}
			m.gens = append(m.gens, n)
		default:
			return m, fmt.Errorf("%w: manifest line %q", ErrCorrupt, sc.Text())
		}
	}
	if len(m.gens) == 0 || m.next <= m.gens[len(m.gens)-1] {
		return m, fmt.Errorf("%w: manifest names no generation or a stale next id", ErrCorrupt)
	}
	return m, nil
}

// cutLastLine splits b (ending in a newline) before its last line.
func cutLastLine(b []byte) (body []byte, last string, ok bool) {
	if len(b) == 0 || b[len(b)-1] != '\n' {
		return nil, "", false
	}
	i := bytes.LastIndexByte(b[:len(b)-1], '\n')
	if i < 0 {
		return nil, "", false
	}
	return b[:i+1], string(b[i+1 : len(b)-1]), true
}

func readManifest(dir string) (manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, manifestName))
	if err != nil {
		return manifest{}, err
	}
	return decodeManifest(b)
}

// writeManifest replaces the manifest atomically: the new text goes to a
// temporary file that is synced, renamed over MANIFEST, and the directory
// is synced so the rename itself is durable. A crash leaves either the old
// manifest or the new one, never a mix (a leftover temporary file is
// removed by Open). On a full disk the reserve file is given up for it:
// the manifest that drops a generation is what gives space back. why says
// what the manifest does, for the durability trace of the tests.
func (s *Set) writeManifest(m manifest, why string) error {
	tmp := filepath.Join(s.dir, manifestTempName)
	err := writeFileSync(tmp, m.encode())
	if errors.Is(err, syscall.ENOSPC) && os.Remove(filepath.Join(s.dir, reserveName)) == nil {
		err = writeFileSync(tmp, m.encode())
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("rotate: write manifest: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, manifestName)); err != nil {
		return fmt.Errorf("rotate: install manifest: %w", err)
	}
	s.note(traceEvent{op: opManifest, why: why, gens: slices.Clone(m.gens)})
	if err := s.syncDir(); err != nil {
		return fmt.Errorf("%w: %w", errManifestInPlace, err)
	}
	return nil
}

// errManifestInPlace: the new manifest was renamed into place but the
// directory sync failed, so either manifest may be the one a power loss
// leaves: the files both name must stay.
var errManifestInPlace = errors.New("rotate: manifest renamed, not yet durable")

// reserveSize is the disk space the RESERVE file keeps for the manifest
// (and its temporary copy) on a full disk.
const reserveSize = 256 << 10

// ensureReserve (re)makes the reserve file where there is room; best
// effort: without it only the full-disk path loses its margin.
func ensureReserve(dir string) {
	path := filepath.Join(dir, reserveName)
	if st, err := os.Stat(path); err == nil && st.Size() == reserveSize {
		return
	}
	if err := writeFileSync(path, make([]byte, reserveSize)); err != nil {
		os.Remove(path)
	}
}

// writeFileSync writes a whole new file and makes its bytes durable.
func writeFileSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

// syncDir makes the directory's entries (creations, renames, removals)
// durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("rotate: sync directory: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("rotate: sync directory: %w", err)
	}
	return nil
}

// syncDir syncs the set's directory and notes it in the trace.
func (s *Set) syncDir() error {
	err := syncDir(s.dir)
	if err == nil {
		s.note(traceEvent{op: opDirSync})
	}
	return err
}
