package benchkit

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nudbgo/nudb/internal/ioengine"
	"github.com/nudbgo/nudb/internal/killchild"
)

// Config says what to run and how big.
type Config struct {
	N         int             // items to load (and fetches to run)
	Duration  time.Duration   // each durable workload
	Dir       string          // work directory
	Device    string          // a block device for the device target ("" skips it)
	ChildArgs []string        // how to re-run this program as the open-crash writer
	Rotate    int             // the stores run in order starting from this index (rotated between runs)
	Skip      map[string]bool // workload groups not to run: "durable", "crash", "rebuild"
	Logf      func(format string, a ...any)
}

// fetchTime is how long each fetch workload runs: time-bounded, never
// under a second.
func (c Config) fetchTime() time.Duration { return max(time.Second, c.Duration/2) }

// Result is one measurement.
type Result struct {
	Store     string  `json:"store"`
	Mode      string  `json:"mode"`
	Target    string  `json:"target"`
	Workload  string  `json:"workload"`
	Engine    string  `json:"engine,omitempty"`
	OpsPerSec float64 `json:"ops_per_sec,omitempty"`
	Seconds   float64 `json:"seconds,omitempty"`
	Items     int     `json:"items,omitempty"`
	Bytes     int64   `json:"bytes,omitempty"` // log bytes written (load), log bytes rebuilt (rebuild), bytes read (open-crash)
	// CloseSeconds is the final sync and close after a load, timed apart
	// from the inserts (each store does different work there).
	CloseSeconds float64 `json:"close_seconds,omitempty"`
	Note         string  `json:"note,omitempty"`
}

// StoreInfo is how a store ran: what the report prints beside its rows.
type StoreInfo struct {
	Name     string            `json:"name"`
	Settings string            `json:"settings"`
	Survives map[string]string `json:"survives,omitempty"` // by mode: what an acknowledged write survives
}

// Report is a whole run.
type Report struct {
	Machine string        `json:"machine"`
	N       int           `json:"n"`
	Limits  Limits        `json:"limits"`
	Stores  []StoreInfo   `json:"stores"`
	Results []Result      `json:"results"`
	Elapsed time.Duration `json:"elapsed_ns"`
}

func (r *Report) add(res Result, logf func(string, ...any)) {
	r.Results = append(r.Results, res)
	v := fmt.Sprintf("%.0f ops/s", res.OpsPerSec)
	if res.Seconds > 0 || res.OpsPerSec == 0 {
		v = fmt.Sprintf("%.3f s", res.Seconds)
	}
	logf("%-10s %-7s %-9s %-6s %-8s %s %s", res.Workload, res.Store, res.Engine, res.Target, res.Mode, v, res.Note)
}

// Run measures the machine's limits and every driver's workloads.
func Run(drivers []Driver, cfg Config) (*Report, error) {
	start := time.Now()
	rep := &Report{N: cfg.N, Machine: fmt.Sprintf("%s/%s, %d CPUs", runtime.GOOS, runtime.GOARCH, runtime.NumCPU())}
	limitSize := int64(max(256<<20, cfg.N*(keySize+valueSize+8)))
	var err error
	if rep.Limits, err = measureLimits(cfg.Dir, limitSize, max(time.Second, cfg.Duration/5), cfg.Logf); err != nil {
		return nil, fmt.Errorf("measuring the machine: %w", err)
	}
	// The order of the stores rotates between runs, so no store always
	// runs first on a cold machine or last on a warm one.
	rot := cfg.Rotate % max(len(drivers), 1)
	drivers = append(append([]Driver(nil), drivers[rot:]...), drivers[:rot]...)
	for _, d := range drivers {
		rep.Stores = append(rep.Stores, describe(d))
		for _, v := range d.Variants() {
			if v.Target == "device" && cfg.Device == "" {
				cfg.Logf("%s on a device: skipped (no loop device: needs root and losetup)", d.Name())
				continue
			}
			if err := runVariant(d, v, cfg, rep); err != nil {
				cfg.Logf("%s %s %s: %v", d.Name(), v.Engine, v.Target, err)
				rep.Results = append(rep.Results, Result{Store: d.Name(), Engine: v.Engine, Target: v.Target, Workload: "error", Note: err.Error()})
			}
		}
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// paths returns a fresh store location for a variant.
func paths(d Driver, v Variant, cfg Config, name string) (path, dir string) {
	dir = filepath.Join(cfg.Dir, d.Name()+"-"+v.Engine+"-"+v.Target+"-"+name)
	os.RemoveAll(dir)
	os.MkdirAll(dir, 0o755)
	if v.Target == "device" {
		return cfg.Device, dir
	}
	return filepath.Join(dir, "store"), dir
}

// describe collects what the report says of a store's configuration.
func describe(d Driver) StoreInfo {
	si := StoreInfo{Name: d.Name(), Settings: "defaults"}
	if ds, ok := d.(Describer); ok {
		si.Settings = ds.Settings()
		si.Survives = map[string]string{}
		for _, m := range d.Modes() {
			si.Survives[m] = ds.Survives(m)
		}
	}
	return si
}

// notApplicable is why d cannot run workload, or "".
func notApplicable(d Driver, workload string) string {
	if l, ok := d.(Limited); ok {
		return l.NotApplicable(workload)
	}
	return ""
}

func runVariant(d Driver, v Variant, cfg Config, rep *Report) error {
	res := func(workload, mode string) Result {
		return Result{Store: d.Name(), Engine: v.Engine, Target: v.Target, Workload: workload, Mode: mode}
	}
	path, dir := paths(d, v, cfg, "load")
	if err := loadWorkload(d, v, cfg, rep, path, dir, res); err != nil {
		return err
	}
	if err := readWorkloads(d, v, cfg, rep, path, dir, res); err != nil {
		return err
	}
	if v.Full && !cfg.Skip["rebuild"] {
		r := res("rebuild", "never")
		if rb, ok := d.(Rebuilder); ok {
			start := time.Now()
			n, err := rb.Rebuild(path, dir)
			if err != nil {
				return fmt.Errorf("rebuild: %w", err)
			}
			r.Seconds, r.Bytes = time.Since(start).Seconds(), n
		} else {
			r.Note = "n/a: " + notApplicable(d, "rebuild")
		}
		rep.add(r, cfg.Logf)
	}
	os.RemoveAll(dir)

	// durable-1 and durable-16 in each mode.
	modes := d.Modes()
	if !v.Full {
		modes = []string{"always", "never"}
	}
	if cfg.Skip["durable"] {
		modes = nil
	}
	for _, mode := range modes {
		for _, threads := range []int{1, 16} {
			r := res("durable-"+strconv.Itoa(threads), mode)
			if why := notApplicable(d, "durable"); why != "" {
				r.Note = "n/a: " + why
				rep.add(r, cfg.Logf)
				continue
			}
			if threads == 1 && mode == "always" && v.Full && d.Name() == "nudb" {
				// The disk's barrier rate drifts on a shared machine: measure
				// the baseline again right beside the workload it judges.
				var err error
				if rep.Limits.FdatasyncBesideNudb, err = fdatasyncRate(cfg.Dir, cfg.Duration); err != nil {
					return err
				}
				cfg.Logf("limit: 4 KiB write+fdatasync, measured beside nudb durable-1: %.0f/s", rep.Limits.FdatasyncBesideNudb)
			}
			ops, err := durableWorkload(d, v, cfg, mode, threads)
			if err != nil {
				return fmt.Errorf("durable-%d %s: %w", threads, mode, err)
			}
			r.OpsPerSec = ops
			rep.add(r, cfg.Logf)
		}
	}

	if v.Full && len(cfg.ChildArgs) > 0 && !cfg.Skip["crash"] {
		if why := notApplicable(d, "open-crash"); why != "" {
			r := res("open-crash", "never")
			r.Note = "n/a: " + why
			rep.add(r, cfg.Logf)
			return nil
		}
		if err := crashWorkload(d, v, cfg, rep, 0, "open-crash"); err != nil {
			return fmt.Errorf("open-crash: %w", err)
		}
		if d.Name() == "nudb" {
			// The same inserts before the kill on a store ten times
			// larger. The at-risk window is not the same: it is what
			// came after the store's last checkpoint, and the checkpoint
			// distance grows with the key file (max(CheckpointBytes,
			// 2 × key file)), so the 10× store replays more of it.
			if err := crashWorkload(d, v, cfg, rep, 10*cfg.N, "open-crash-10x"); err != nil {
				return fmt.Errorf("open-crash-10x: %w", err)
			}
		}
	}
	return nil
}

// loadWorkload bulk-loads cfg.N items into a fresh store, timing the
// inserts and the final sync and close apart.
func loadWorkload(d Driver, v Variant, cfg Config, rep *Report, path, dir string, res func(string, string) Result) error {
	db, err := d.Open(v, path, dir, "never", true)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := db.Load(cfg.N, items{seed: 1, valueSize: valueSize}.gen(), nil); err != nil {
		db.Close()
		return fmt.Errorf("load: %w", err)
	}
	el := time.Since(start)
	r := res("load", "never")
	r.OpsPerSec, r.Items, r.Seconds = float64(cfg.N)/el.Seconds(), cfg.N, 0
	if bc, ok := db.(ByteCounter); ok {
		r.Bytes = bc.BytesWritten()
	}
	start = time.Now()
	if err := db.Close(); err != nil {
		return err
	}
	r.CloseSeconds = time.Since(start).Seconds()
	rep.add(r, cfg.Logf)
	return nil
}

// readWorkloads reopens the loaded store (open-clean), fetches with a cold
// page cache (fetch-cold), reads the store's files into the cache (the
// same warm-up for every store), then runs the warm fetch workloads, each
// for cfg.fetchTime().
func readWorkloads(d Driver, v Variant, cfg Config, rep *Report, path, dir string, res func(string, string) Result) error {
	files := storeFiles(path, dir)
	dropCache(files)
	start := time.Now()
	db, err := d.Open(v, path, dir, "never", false)
	if err != nil {
		return err
	}
	if v.Full {
		r := res("open-clean", "never")
		r.Seconds = time.Since(start).Seconds()
		rep.add(r, cfg.Logf)
	}
	it := items{seed: 1, valueSize: valueSize}
	type workload struct {
		name    string
		threads int
		present bool
	}
	run := func(w workload) error {
		ops, err := fetchWorkload(db, it, cfg.N, w.threads, w.present, cfg.fetchTime())
		if err != nil {
			return fmt.Errorf("%s: %w", w.name, err)
		}
		r := res(w.name, "never")
		r.OpsPerSec = ops
		rep.add(r, cfg.Logf)
		return nil
	}
	if v.Full {
		if err := run(workload{"fetch-cold", 1, true}); err != nil {
			db.Close()
			return err
		}
	}
	if err := warmCache(files); err != nil {
		db.Close()
		return err
	}
	for _, w := range []workload{{"fetch-1", 1, true}, {"fetch-2", 2, true}, {"miss", 1, false}} {
		if !v.Full && w.name != "fetch-1" {
			continue
		}
		if err := run(w); err != nil {
			db.Close()
			return err
		}
	}
	return db.Close()
}

// storeFiles lists a store's files: path itself (a device, or a file) or
// every regular file under it, and every regular file in dir.
func storeFiles(path, dir string) []string {
	var files []string
	add := func(root string) {
		filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
			if err == nil && !e.IsDir() {
				files = append(files, p)
			}
			return nil
		})
	}
	if st, err := os.Stat(path); err == nil && !st.IsDir() {
		files = append(files, path)
	} else {
		add(path)
	}
	if dir != path && !strings.HasPrefix(path, dir+string(filepath.Separator)) {
		add(dir)
	}
	return files
}

// dropCache evicts the files' clean pages from the page cache.
func dropCache(files []string) {
	for _, p := range files {
		if f, err := os.Open(p); err == nil {
			ioengine.DropCache(int(f.Fd()))
			f.Close()
		}
	}
}

// warmCache reads the files through the page cache, as `vmtouch -t` would.
func warmCache(files []string) error {
	buf := make([]byte, 1<<20)
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			continue // a store may remove a file between listing and reading
		}
		for {
			_, err := f.Read(buf)
			if err == io.EOF {
				break
			}
			if err != nil {
				f.Close()
				return fmt.Errorf("warming %s: %w", p, err)
			}
		}
		f.Close()
	}
	return nil
}

// fetchWorkload fetches random keys of [0, n) (or absent keys) from
// threads goroutines for d and returns the rate.
func fetchWorkload(db DB, it items, n, threads int, present bool, d time.Duration) (float64, error) {
	keys := make([][]byte, 0, min(n, 1<<20))
	for i := 0; i < cap(keys); i++ {
		j := int(splitmix(uint64(i)) % uint64(n))
		if !present {
			j += 1 << 30
		}
		keys = append(keys, it.key(j))
	}
	var wg sync.WaitGroup
	var failed atomic.Value
	var done atomic.Int64
	start := time.Now()
	deadline := start.Add(d)
	for t := 0; t < threads; t++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := t; ; i += threads {
				if i&1023 < threads && time.Now().After(deadline) {
					return
				}
				done.Add(1)
				found, err := db.Get(keys[i%len(keys)])
				if err != nil || found != present {
					failed.Store(fmt.Errorf("key %d: found=%v err=%v", i, found, err))
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return 0, err
	}
	return float64(done.Load()) / time.Since(start).Seconds(), nil
}

func durableWorkload(d Driver, v Variant, cfg Config, mode string, threads int) (float64, error) {
	path, dir := paths(d, v, cfg, "durable")
	defer os.RemoveAll(dir)
	db, err := d.Open(v, path, dir, mode, true)
	if err != nil {
		return 0, err
	}
	if h, ok := db.(WriterHint); ok {
		h.SetWriters(threads)
	}
	it := items{seed: uint64(2 + threads), valueSize: valueSize}
	var next, done atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	deadline := time.Now().Add(cfg.Duration)
	start := time.Now()
	for t := 0; t < threads; t++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, val := make([]byte, keySize), make([]byte, valueSize)
			for time.Now().Before(deadline) {
				it.fill(int(next.Add(1)), k, val)
				if err := db.Put(k, val); err != nil {
					failed.Store(err)
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	if err := db.Close(); err != nil {
		return 0, err
	}
	if err, _ := failed.Load().(error); err != nil {
		return 0, err
	}
	return float64(done.Load()) / el.Seconds(), nil
}

// crashWorkload loads base items cleanly (when base > 0), then runs a
// writer process that loads cfg.N more, SIGKILLs it halfway, and times the
// reopen and counts what survived.
func crashWorkload(d Driver, v Variant, cfg Config, rep *Report, base int, name string) error {
	path, dir := paths(d, v, cfg, name)
	defer os.RemoveAll(dir)
	db, err := d.Open(v, path, dir, "never", true)
	if err != nil {
		return err
	}
	if base > 0 {
		if err := db.Load(base, items{seed: 9, valueSize: valueSize}.gen(), nil); err != nil {
			db.Close()
			return err
		}
	}
	if err := db.Close(); err != nil {
		return err
	}
	args := append(append([]string(nil), cfg.ChildArgs[1:]...), "-crash-child", d.Name(), v.Engine, v.Target, path, dir, strconv.Itoa(cfg.N))
	cmd := exec.Command(cfg.ChildArgs[0], args...)
	cmd.Stderr = os.Stderr
	// The child prints the running count of acknowledged items; it dies
	// halfway through its load.
	counts, err := killchild.RunUntil(cmd, func(c []int) bool { return c[len(c)-1] >= cfg.N/2 })
	if err != nil {
		return err
	}
	acked := counts[len(counts)-1]
	if u, ok := d.(Unlocker); ok {
		if err := u.WaitUnlocked(path, dir); err != nil {
			return err
		}
	}
	start := time.Now()
	db, err = d.Open(v, path, dir, "never", false)
	if err != nil {
		return fmt.Errorf("open after SIGKILL: %w", err)
	}
	el := time.Since(start)
	n, err := db.Count()
	r := Result{Store: d.Name(), Engine: v.Engine, Target: v.Target, Workload: name, Mode: "never", Seconds: el.Seconds(), Items: n}
	r.Note = fmt.Sprintf("%d acknowledged before SIGKILL, %d items survived (base %d)", acked, n, base)
	if s, ok := db.(interface{ Stats() nudbStats }); ok {
		r.Bytes = s.Stats().Recovery.BytesScanned
	}
	db.Close()
	if err != nil {
		return err
	}
	rep.add(r, cfg.Logf)
	return nil
}

// crashChild is the writer process of open-crash: it loads n items and
// prints the count after every batch until it is killed.
func crashChild(drivers []Driver, args []string) error {
	if len(args) != 6 {
		return fmt.Errorf("crash child: want driver engine target path dir n, got %q", args)
	}
	var d Driver
	for _, x := range drivers {
		if x.Name() == args[0] {
			d = x
		}
	}
	if d == nil {
		return fmt.Errorf("crash child: no driver %q", args[0])
	}
	n, _ := strconv.Atoi(args[5])
	v := Variant{Engine: args[1], Target: args[2], Full: true}
	db, err := d.Open(v, args[3], args[4], "never", false)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(os.Stdout)
	err = db.Load(n, items{seed: 7, valueSize: valueSize}.gen(), func(done int) {
		fmt.Fprintln(w, done)
		w.Flush()
	})
	if err != nil {
		return err
	}
	// Not killed in time: wait to be.
	select {}
}
