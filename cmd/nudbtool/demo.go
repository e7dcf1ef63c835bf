package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/nudbgo/nudb"
	"github.com/nudbgo/nudb/internal/killchild"
)

// demoWriterVerb is the hidden verb the demo runs in a child process: the
// writer that gets killed.
const demoWriterVerb = "demo-writer"

func demoKey(i int) []byte {
	k := sha256.Sum256(binary.LittleEndian.AppendUint64(nil, uint64(i)))
	return k[:]
}

func demoValue(i int) []byte {
	v := make([]byte, 100+i%200)
	for j := range v {
		v[j] = byte(i*31 + j)
	}
	return v
}

func cmdDemo(c *cli, args []string) int {
	fs := c.flags("demo", "[-items N] [-keep]")
	items := fs.Int("items", 200000, "items to bulk-load before the crash")
	keep := fs.Bool("keep", false, "keep the temporary directory")
	kill := fs.Int("kill-after", 3000, "acknowledged durable inserts before the writer is killed")
	if !c.parse(fs, args, 0, 0) {
		return exitUsage
	}
	if *items < 1 || *kill < 1 {
		return c.fail(exitUsage, fmt.Errorf("-items and -kill-after must be positive (got %d and %d)", *items, *kill))
	}
	dir, err := os.MkdirTemp("", "nudb-demo-")
	if err != nil {
		return c.fail(exitUsage, err)
	}
	if !*keep {
		defer os.RemoveAll(dir)
	}
	data, key := filepath.Join(dir, "data"), filepath.Join(dir, "key")
	out := c.stdout
	step := func(format string, a ...any) { fmt.Fprintf(out, "==> "+format+"\n", a...) }

	step("create a store in %s", dir)
	if err := nudb.Create(data, key, nil); err != nil {
		return c.fail(exitUsage, err)
	}

	step("bulk-load %d items (32-byte keys, 100-300-byte values, SyncNever, InsertBatch)", *items)
	el, err := demoLoad(data, key, *items)
	if err != nil {
		return c.fail(exitUsage, err)
	}
	fmt.Fprintf(out, "    %d items in %v: %.0f inserts/s\n", *items, el.Round(time.Millisecond), float64(*items)/el.Seconds())

	step("start a writer process (SyncAlways, 16 goroutines) and kill -9 it after %d acknowledged inserts", *kill)
	exe, err := os.Executable()
	if err != nil {
		return c.fail(exitUsage, err)
	}
	acked, err := runDemoWriter(exe, data, key, *items, *kill)
	if err != nil {
		return c.fail(exitUsage, err)
	}
	fmt.Fprintf(out, "    the writer acknowledged %d durable inserts before SIGKILL\n", len(acked))

	info, err := nudb.Inspect(data, key)
	if err != nil {
		return c.fail(exitUsage, err)
	}
	fmt.Fprintf(out, "    left behind: clean=%v, extent %d, written %d, synced %d, checkpoint %d\n",
		info.Clean, info.Extent, info.Written, info.Synced, info.Checkpoint)

	step("open the crashed store: recovery")
	s, err := nudb.Open(data, key, nil)
	if err != nil {
		return c.fail(exitUsage, err)
	}
	rec := s.Stats().Recovery
	fmt.Fprintf(out, "    reason: %s; rebuilt key file: %v\n", rec.Reason, rec.Rebuilt)
	fmt.Fprintf(out, "    scanned %d bytes, verified %d records, re-indexed %d items, in %v; the durable part of the log ends at %d\n",
		rec.BytesScanned, rec.RecordsVerified, rec.ItemsIndexed, rec.Duration.Round(time.Microsecond), rec.Durable)
	if rec.TornAt == 0 && rec.DamagedRecords == 0 {
		fmt.Fprintln(out, "    nothing torn, nothing damaged")
	}
	reportLoss(indent{out}, rec.TornAt, rec.RecordsDropped, rec.BytesDropped, rec.DamagedRecords, rec.DamagedBytes, rec.Damaged)

	step("check every acknowledged insert and the bulk load")
	missing := 0
	for _, i := range acked {
		v, err := s.Fetch(demoKey(i))
		if err != nil || !bytes.Equal(v, demoValue(i)) {
			missing++
		}
	}
	for i := 0; i < *items; i += 97 {
		if v, err := s.Fetch(demoKey(i)); err != nil || !bytes.Equal(v, demoValue(i)) {
			missing++
		}
	}
	st := s.Stats()
	if err := s.Close(); err != nil {
		return c.fail(exitUsage, err)
	}
	fmt.Fprintf(out, "    %d acknowledged inserts checked, %d missing or wrong; the store holds %d items\n", len(acked), missing, st.Items)

	step("verify the whole store (every record hash, item CRC and index entry)")
	rep, err := nudb.Verify(data, key, nil)
	if err != nil {
		return c.fail(exitUsage, err)
	}
	fmt.Fprintf(out, "    %d records, %d items, %d index entries, %d problems\n", rep.Records, rep.Items, rep.IndexEntries, rep.ProblemCount)
	if missing > 0 || !rep.OK() {
		fmt.Fprintln(out, "FAILED: acknowledged data was lost or the store does not verify")
		return exitNegative
	}
	fmt.Fprintln(out, "OK: nothing acknowledged was lost, and the recovered store verifies")
	if *keep {
		fmt.Fprintf(out, "the store is in %s\n", dir)
	}
	return exitOK
}

// demoLoad bulk-loads items demo items into the store and closes it.
func demoLoad(data, key string, items int) (time.Duration, error) {
	s, err := nudb.Open(data, key, &nudb.Options{Sync: nudb.SyncNever})
	if err != nil {
		return 0, err
	}
	start := time.Now()
	var batch nudb.Batch
	for i := 0; i < items; i++ {
		batch.Put(demoKey(i), demoValue(i))
		if batch.Len() == 1000 || i == items-1 {
			if _, err := s.InsertBatch(&batch); err != nil {
				s.Close()
				return 0, err
			}
			batch.Reset()
		}
	}
	if err := s.Close(); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// runDemoWriter starts the writer child (exe demo-writer), kills it after
// n acknowledged inserts and returns the indexes it acknowledged. The
// store is opened right after, as a supervisor would: Open waits out the
// dead writer's lock itself.
func runDemoWriter(exe, data, key string, start, n int) ([]int, error) {
	return killchild.Run(exec.Command(exe, demoWriterVerb, data, key, strconv.Itoa(start)), n)
}

// demoWriter is the child: it inserts from 16 goroutines under SyncAlways
// and prints each acknowledged index until it is killed.
func demoWriter(c *cli, args []string) int {
	if len(args) != 3 {
		return exitUsage
	}
	start, _ := strconv.Atoi(args[2])
	s, err := nudb.Open(args[0], args[1], nil)
	if err != nil {
		return c.fail(exitUsage, err)
	}
	var mu sync.Mutex
	var next = start
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if err := s.Insert(demoKey(i), demoValue(i)); err != nil {
					fmt.Fprintln(c.stderr, "writer:", err)
					os.Exit(exitUsage)
				}
				mu.Lock()
				fmt.Fprintln(c.stdout, i)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return exitOK
}

// indent prefixes what is written through it with four spaces (one write
// per line, as reportLoss does).
type indent struct{ w io.Writer }

func (i indent) Write(p []byte) (int, error) {
	if _, err := i.w.Write([]byte("    ")); err != nil {
		return 0, err
	}
	return i.w.Write(p)
}
