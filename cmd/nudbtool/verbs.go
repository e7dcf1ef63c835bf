package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/nudbgo/nudb"
	"github.com/nudbgo/nudb/rotate"
)

func cmdCreate(c *cli, args []string) int {
	fs := c.flags("create", "[-key-size N] [-block-size N] [-overwrite] DATA KEY")
	keySize := fs.Int("key-size", 32, "fixed key size in bytes")
	blockSize := fs.Int("block-size", 4096, "I/O block size in bytes (a power of two)")
	overwrite := fs.Bool("overwrite", false, "replace an existing store")
	if !c.parse(fs, args, 2, 2) {
		return exitUsage
	}
	if *keySize < 1 || *blockSize < 1 {
		return c.fail(exitUsage, fmt.Errorf("-key-size and -block-size must be positive (got %d and %d)", *keySize, *blockSize))
	}
	err := nudb.Create(fs.Arg(0), fs.Arg(1), &nudb.Options{KeySize: *keySize, BlockSize: *blockSize, Overwrite: *overwrite})
	if err != nil {
		return c.fail(exitUsage, err)
	}
	fmt.Fprintf(c.stdout, "created %s (key file %s): %d-byte keys, %d-byte blocks\n", fs.Arg(0), fs.Arg(1), *keySize, *blockSize)
	return exitOK
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func cmdInfo(c *cli, args []string) int {
	fs, asJSON, ok := c.parseStoreOrSet("info", "print JSON", args)
	if !ok {
		return exitUsage
	}
	if fs.NArg() == 1 {
		return c.infoSet(fs.Arg(0), *asJSON)
	}
	info, err := nudb.Inspect(fs.Arg(0), fs.Arg(1))
	if err != nil {
		return c.fail(exitUsage, err)
	}
	if *asJSON {
		writeJSON(c.stdout, info)
		return exitOK
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "uid\t%s\n", info.UID)
	fmt.Fprintf(tw, "created\t%s\n", info.Created.Format(time.RFC3339))
	fmt.Fprintf(tw, "key size\t%d\nblock size\t%d\n", info.KeySize, info.BlockSize)
	kind := "regular file"
	if info.Device {
		kind = "block device"
	}
	fmt.Fprintf(tw, "data file\t%s, %d bytes\n", kind, info.DataSize)
	if info.KeyFileError != "" {
		fmt.Fprintf(tw, "key file\tunusable (%s); Open or rebuild will rebuild it\n", info.KeyFileError)
		tw.Flush()
		return exitOK
	}
	fmt.Fprintf(tw, "key file\t%d bytes, %d buckets, load factor %.2f\n", info.KeyFileSize, info.Buckets, info.LoadFactor)
	fmt.Fprintf(tw, "clean\t%v\n", info.Clean)
	fmt.Fprintf(tw, "watermarks\textent %d, written %d, synced %d, checkpoint %d\n", info.Extent, info.Written, info.Synced, info.Checkpoint)
	note := ""
	if !info.Clean {
		note = " (at the checkpoint; Open re-indexes what follows it)"
	}
	fmt.Fprintf(tw, "items\t%d%s\nrecords\t%d\n", info.Items, note, info.Records)
	tw.Flush()
	return exitOK
}

// cmdRotate rotates a set keeping every item not deleted: what was deleted
// leaves with the generations retired, and their space comes back. Ctrl-C
// stops it (the set stays as it was, with one more generation).
func cmdRotate(c *cli, args []string) int {
	fs := c.flags("rotate", "[-generations N] SET_DIR")
	gens := fs.Int("generations", 2, "generations the rotation leaves")
	if !c.parse(fs, args, 1, 1) {
		return exitUsage
	}
	if _, err := rotate.ReadGenerations(fs.Arg(0)); err != nil {
		return c.fail(exitUsage, err) // not a set: nothing is created
	}
	set, err := rotate.Open(fs.Arg(0), &rotate.Options{Generations: *gens})
	if err != nil {
		return c.fail(exitUsage, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := set.Rotate(ctx, nil)
	if cerr := set.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return c.fail(exitNegative, err)
	}
	fmt.Fprintf(c.stdout, "new generation %d, retired %v: %d items read, %d copied (%d bytes), %d deleted, %d held by newer generations; %d bytes freed in %v\n",
		rep.NewGeneration, rep.Retired, rep.Scanned, rep.Copied, rep.CopiedBytes, rep.Deleted, rep.Shadowed, rep.BytesFreed, rep.Duration.Round(time.Millisecond))
	return exitOK
}

// storeOrSetArgs is the usage of the read-only verbs that take either a
// store (its two files) or a rotation set's directory.
const storeOrSetArgs = "[-json] DATA KEY | SET_DIR"

// parseStoreOrSet parses the arguments of such a verb: -json, then DATA
// KEY or SET_DIR. With one argument, it must be a directory. It returns
// false after printing the usage.
func (c *cli) parseStoreOrSet(verb, jsonUsage string, args []string) (*flag.FlagSet, *bool, bool) {
	fs := c.flags(verb, storeOrSetArgs)
	asJSON := fs.Bool("json", false, jsonUsage)
	if !c.parse(fs, args, 1, 2) {
		return fs, asJSON, false
	}
	if fs.NArg() == 1 && !isDir(fs.Arg(0)) {
		fs.Usage()
		return fs, asJSON, false
	}
	return fs, asJSON, true
}

// isDir reports whether path is a directory: the one argument a verb
// takes for a rotation set.
func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// setGeneration is one line of info about a rotation set.
type setGeneration struct {
	ID       uint64    `json:"id"`
	DataPath string    `json:"data_path"`
	KeyPath  string    `json:"key_path"`
	Info     nudb.Info `json:"info"`
}

// infoSet shows the generations of a rotation set (package rotate), oldest
// first, with each store's size, items and state.
func (c *cli) infoSet(dir string, asJSON bool) int {
	gens, err := rotate.ReadGenerations(dir)
	if err != nil {
		return c.fail(exitUsage, err)
	}
	var out []setGeneration
	for _, g := range gens {
		info, err := nudb.Inspect(g.DataPath, g.KeyPath)
		if err != nil {
			return c.fail(exitUsage, fmt.Errorf("generation %d: %w", g.ID, err))
		}
		out = append(out, setGeneration{ID: g.ID, DataPath: g.DataPath, KeyPath: g.KeyPath, Info: info})
	}
	if asJSON {
		writeJSON(c.stdout, out)
		return exitOK
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "generation\tdata bytes\tkey file bytes\titems\tclean\n")
	for _, g := range out {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%v\n", g.ID, g.Info.DataSize, g.Info.KeyFileSize, g.Info.Items, g.Info.Clean)
	}
	tw.Flush()
	return exitOK
}

// parseKey decodes a hex key and checks it against the store's key size.
func parseKey(s string, keySize int) ([]byte, error) {
	k, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("key %q is not hex: %v", s, err)
	}
	if len(k) != keySize {
		return nil, fmt.Errorf("key %q has %d bytes, the store's keys have %d", s, len(k), keySize)
	}
	return k, nil
}

func openStore(c *cli, data, key string, opts *nudb.Options) (*nudb.Store, int) {
	s, err := nudb.Open(data, key, opts)
	if err != nil {
		return nil, c.fail(exitUsage, err)
	}
	return s, exitOK
}

// openForReading opens a store for get and export: for writing when it
// can (so a store left unclean is recovered first, as before), and
// read-only beside a live writer (the store is locked), without write
// permission or on a read-only filesystem.
func openForReading(c *cli, data, key string) (*nudb.Store, int) {
	s, err := nudb.Open(data, key, &nudb.Options{LockTimeout: -1})
	if err == nil {
		return s, exitOK
	}
	if errors.Is(err, nudb.ErrLocked) || errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
		return openStore(c, data, key, &nudb.Options{ReadOnly: true})
	}
	return nil, c.fail(exitUsage, err)
}

// storeAndKey checks the third argument as a hex key of the store's key
// size (read from the store named by the first two) and opens the store.
// It returns a nil store and the exit code when either fails.
func storeAndKey(c *cli, fs *flag.FlagSet, open func(c *cli, data, key string) (*nudb.Store, int)) (*nudb.Store, []byte, int) {
	info, err := nudb.Inspect(fs.Arg(0), fs.Arg(1))
	if err != nil {
		return nil, nil, c.fail(exitUsage, err)
	}
	k, err := parseKey(fs.Arg(2), info.KeySize)
	if err != nil {
		return nil, nil, c.fail(exitUsage, err)
	}
	s, code := open(c, fs.Arg(0), fs.Arg(1))
	return s, k, code
}

// openForWriting opens a store for put.
func openForWriting(c *cli, data, key string) (*nudb.Store, int) { return openStore(c, data, key, nil) }

func cmdPut(c *cli, args []string) int {
	fs := c.flags("put", "[-file F] DATA KEY HEXKEY")
	file := fs.String("file", "", "read the value from F instead of stdin")
	if !c.parse(fs, args, 3, 3) {
		return exitUsage
	}
	s, k, code := storeAndKey(c, fs, openForWriting)
	if s == nil {
		return code
	}
	defer s.Close()
	var value []byte
	var err error
	if *file != "" {
		value, err = os.ReadFile(*file)
	} else {
		value, err = io.ReadAll(c.stdin)
	}
	if err != nil {
		return c.fail(exitUsage, err)
	}
	if err := s.Insert(k, value); err != nil {
		if errors.Is(err, nudb.ErrKeyExists) {
			return c.fail(exitNegative, fmt.Errorf("key %s is already stored", fs.Arg(2)))
		}
		return c.fail(exitUsage, err)
	}
	if err := s.Close(); err != nil {
		return c.fail(exitUsage, err)
	}
	return exitOK
}

func cmdGet(c *cli, args []string) int {
	fs := c.flags("get", "DATA KEY HEXKEY")
	if !c.parse(fs, args, 3, 3) {
		return exitUsage
	}
	s, k, code := storeAndKey(c, fs, openForReading)
	if s == nil {
		return code
	}
	defer s.Close()
	err := s.FetchFunc(k, func(v []byte) { c.stdout.Write(v) })
	switch {
	case errors.Is(err, nudb.ErrNotFound):
		return c.fail(exitNegative, fmt.Errorf("no item has key %s", fs.Arg(2)))
	case err != nil:
		return c.fail(exitUsage, err)
	}
	return exitOK
}

// collectFiles lists the regular files under roots (a link to a regular
// file counts as the file) and their total size. Anything else is named on
// stderr and counted as skipped, never passed over in silence.
func (c *cli) collectFiles(roots []string) (files []string, total int64, skipped int, err error) {
	for _, root := range roots {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				return nil
			}
			fi, err := os.Stat(path) // follows a link
			if err != nil || !fi.Mode().IsRegular() {
				fmt.Fprintf(c.stderr, "nudbtool: %s: not a regular file (or a link to one); skipped\n", path)
				skipped++
				return nil
			}
			files = append(files, path)
			total += fi.Size()
			return nil
		})
		if err != nil {
			return nil, 0, 0, err
		}
	}
	return files, total, skipped, nil
}

func cmdImport(c *cli, args []string) int {
	fl := c.flags("import", "DATA KEY PATH...")
	if !c.parse(fl, args, 3, -1) {
		return exitUsage
	}
	info, err := nudb.Inspect(fl.Arg(0), fl.Arg(1))
	if err != nil {
		return c.fail(exitUsage, err)
	}
	if info.KeySize != sha256.Size {
		return c.fail(exitUsage, fmt.Errorf("import keys items by SHA-256 (32 bytes); this store's keys have %d bytes", info.KeySize))
	}
	// Walk first: the total makes the progress bar honest.
	files, total, skipped, err := c.collectFiles(fl.Args()[2:])
	if err != nil {
		return c.fail(exitUsage, err)
	}
	s, code := openStore(c, fl.Arg(0), fl.Arg(1), &nudb.Options{Sync: nudb.SyncNever})
	if s == nil {
		return code
	}
	defer s.Close()
	bar := c.newProgress("import", total)
	var batch nudb.Batch
	var batchBytes, done int64
	var imported, present, tooBig int
	flush := func() error {
		skipped, err := s.InsertBatch(&batch)
		imported += batch.Len() - skipped
		present += skipped
		batch.Reset()
		batchBytes = 0
		return err
	}
	for _, path := range files {
		content, err := os.ReadFile(path)
		if err != nil {
			return c.fail(exitUsage, err)
		}
		done += int64(len(content))
		if len(content) > nudb.MaxValueSize {
			fmt.Fprintf(c.stderr, "nudbtool: %s: %d bytes is over the %d-byte value limit; skipped\n", path, len(content), nudb.MaxValueSize)
			tooBig++
			continue
		}
		sum := sha256.Sum256(content)
		batch.Put(sum[:], content)
		batchBytes += int64(len(content))
		if batch.Len() >= 1024 || batchBytes >= 32<<20 {
			if err := flush(); err != nil {
				return c.fail(exitUsage, err)
			}
		}
		bar.set(done, total)
	}
	if err := flush(); err != nil {
		return c.fail(exitUsage, err)
	}
	if err := s.Close(); err != nil {
		return c.fail(exitUsage, err)
	}
	bar.finish()
	fmt.Fprintf(c.stdout, "imported %d files (%d bytes), %d already present\n", imported, done, present)
	if tooBig > 0 || skipped > 0 {
		return exitNegative
	}
	return exitOK
}

func cmdExport(c *cli, args []string) int {
	fs := c.flags("export", "DATA KEY DIR")
	if !c.parse(fs, args, 3, 3) {
		return exitUsage
	}
	dir := fs.Arg(2)
	s, code := openForReading(c, fs.Arg(0), fs.Arg(1))
	if s == nil {
		return code
	}
	defer s.Close()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return c.fail(exitUsage, err)
	}
	total := s.Stats().LogEnd
	bar := c.newProgress("export", total)
	var n, done int64
	err := s.Visit(func(k, v []byte) error {
		n++
		done += int64(len(k) + len(v) + 8)
		bar.set(done, total)
		return os.WriteFile(filepath.Join(dir, hex.EncodeToString(k)), v, 0o644)
	})
	if err != nil {
		return c.fail(exitUsage, err)
	}
	bar.finish()
	fmt.Fprintf(c.stdout, "exported %d items to %s\n", n, dir)
	return exitOK
}

func cmdVerify(c *cli, args []string) int {
	fs, asJSON, ok := c.parseStoreOrSet("verify", "print the report as JSON", args)
	if !ok {
		return exitUsage
	}
	if fs.NArg() == 1 {
		return c.verifySet(fs.Arg(0), *asJSON)
	}
	return c.verifyStore(fs.Arg(0), fs.Arg(1), *asJSON, "")
}

// verifySet verifies every generation of a rotation set (package rotate)
// that its manifest names, one after the other.
func (c *cli) verifySet(dir string, asJSON bool) int {
	gens, err := rotate.ReadGenerations(dir)
	if err != nil {
		return c.fail(exitUsage, err)
	}
	code := exitOK
	for _, g := range gens {
		if r := c.verifyStore(g.DataPath, g.KeyPath, asJSON, fmt.Sprintf("generation %d: ", g.ID)); r != exitOK {
			code = r
		}
	}
	return code
}

// verifyStore verifies one store; prefix starts each line of the text
// report (a set's generation).
func (c *cli) verifyStore(data, key string, asJSON bool, prefix string) int {
	bar := c.fileProgress("verify", data)
	rep, err := nudb.Verify(data, key, bar.callback())
	if errors.Is(err, nudb.ErrLocked) {
		return c.verifyLive(data, key)
	}
	if err != nil {
		return c.fail(exitUsage, err)
	}
	bar.finish()
	if asJSON {
		writeJSON(c.stdout, rep)
	} else {
		fmt.Fprintf(c.stdout, "%srecords %d, items %d, index entries %d, log end %d, %d bytes read\n",
			prefix, rep.Records, rep.Items, rep.IndexEntries, rep.LogEnd, rep.BytesRead)
		if rep.KeyFile && !rep.Clean {
			fmt.Fprintf(c.stdout, "%snot closed cleanly: %d items past the checkpoint are not indexed yet (Open indexes them)\n", prefix, rep.Unindexed)
		}
		for _, p := range rep.Problems {
			fmt.Fprintf(c.stdout, "%sproblem at %d: %s\n", prefix, p.Offset, p.What)
		}
		if rep.ProblemCount > len(rep.Problems) {
			fmt.Fprintf(c.stdout, "%s... and %d more problems\n", prefix, rep.ProblemCount-len(rep.Problems))
		}
		if rep.OK() {
			fmt.Fprintf(c.stdout, "%sok\n", prefix)
		}
	}
	if !rep.OK() {
		return exitNegative
	}
	return exitOK
}

func cmdRebuild(c *cli, args []string) int {
	fs := c.flags("rebuild", "DATA KEY")
	if !c.parse(fs, args, 2, 2) {
		return exitUsage
	}
	bar := c.fileProgress("rebuild", fs.Arg(0))
	rep, err := nudb.Rebuild(fs.Arg(0), fs.Arg(1), &nudb.Options{Progress: bar.callback()})
	if err != nil {
		return c.fail(exitUsage, err)
	}
	bar.finish()
	rate := float64(rep.BytesScanned) / rep.Duration.Seconds() / 1e6
	fmt.Fprintf(c.stdout, "rebuilt %s: %d items in %d records, %d bytes read in %v (%.0f MB/s)\n",
		fs.Arg(1), rep.Items, rep.Records, rep.BytesScanned, rep.Duration.Round(time.Millisecond), rate)
	reportLoss(c.stdout, rep.TornAt, rep.RecordsDropped, rep.BytesDropped, rep.DamagedRecords, rep.DamagedBytes, rep.Damaged)
	if rep.Lost() {
		return exitNegative
	}
	return exitOK
}

// reportLoss says what recovery or a rebuild dropped or skipped, the same
// way for rebuild and the demo.
func reportLoss(w io.Writer, tornAt int64, dropped int, droppedBytes int64, damaged int, damagedBytes int64, ranges []nudb.Range) {
	if tornAt > 0 {
		fmt.Fprintf(w, "torn tail cut at %d: %d bytes, %d records that still validated dropped\n", tornAt, droppedBytes, dropped)
	}
	if damaged > 0 {
		fmt.Fprintf(w, "media damage: %d records (%d bytes) skipped; their items are lost, everything after them is kept\n", damaged, damagedBytes)
		for _, r := range ranges {
			fmt.Fprintf(w, "  damaged %d..%d\n", r.From, r.To)
		}
	}
}

// verifyLive checks a store a live writer holds: read-only, it walks the
// log written so far (every record's hash and chain, every item's CRC) and
// fetches every item through the index. The index's own consistency (each
// item indexed exactly once) needs the store to itself: a full verify.
func (c *cli) verifyLive(data, key string) int {
	s, err := nudb.Open(data, key, &nudb.Options{ReadOnly: true})
	if err != nil {
		return c.fail(exitUsage, err)
	}
	defer s.Close()
	n := 0
	for it, err := range s.Items(context.Background()) {
		if err != nil {
			fmt.Fprintf(c.stdout, "problem: %v\n", err)
			return exitNegative
		}
		if err := s.FetchFunc(it.Key, nil); err != nil {
			fmt.Fprintf(c.stdout, "problem: item %x: %v\n", it.Key, err)
			return exitNegative
		}
		n++
	}
	fmt.Fprintf(c.stdout, "open by a live writer: %d items in the log checked (record hashes and chain, item CRCs, each found through the index); close it for a full verify of the index\nok\n", n)
	return exitOK
}
