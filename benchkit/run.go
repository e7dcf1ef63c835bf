package benchkit

import (
	"bufio"
	"fmt"
	"github.com/nudbgo/nudb/internal/killchild"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Config says what to run and how big.
type Config struct {
	N         int           // items to load (and fetches to run)
	Duration  time.Duration // each durable workload
	Dir       string        // work directory
	Device    string        // a block device for the device target ("" skips it)
	ChildArgs []string      // how to re-run this program as the open-crash writer
	Logf      func(format string, a ...any)
}

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
	Bytes     int64   `json:"bytes,omitempty"` // record bytes written (load), bytes read (rebuild, open-crash)
	Note      string  `json:"note,omitempty"`
}

// Report is a whole run.
type Report struct {
	Machine string        `json:"machine"`
	N       int           `json:"n"`
	Limits  Limits        `json:"limits"`
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
	for _, d := range drivers {
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

func runVariant(d Driver, v Variant, cfg Config, rep *Report) error {
	res := func(workload, mode string) Result {
		return Result{Store: d.Name(), Engine: v.Engine, Target: v.Target, Workload: workload, Mode: mode}
	}
	it := items{seed: 1, valueSize: valueSize}

	// load, then the read workloads on the loaded store.
	path, dir := paths(d, v, cfg, "load")
	db, err := d.Open(v, path, dir, "never", true)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := db.Load(cfg.N, it.gen(), nil); err != nil {
		db.Close()
		return fmt.Errorf("load: %w", err)
	}
	if err := db.Close(); err != nil {
		return err
	}
	el := time.Since(start)
	r := res("load", "never")
	r.OpsPerSec, r.Items = float64(cfg.N)/el.Seconds(), cfg.N
	r.Bytes = int64(cfg.N) * (keySize + valueSize + 8)
	rep.add(r, cfg.Logf)

	start = time.Now()
	if db, err = d.Open(v, path, dir, "never", false); err != nil {
		return err
	}
	if v.Full {
		r = res("open-clean", "never")
		r.Seconds = time.Since(start).Seconds()
		rep.add(r, cfg.Logf)
	}
	for _, w := range []struct {
		name    string
		threads int
		present bool
	}{{"fetch-1", 1, true}, {"fetch-2", 2, true}, {"miss", 1, false}} {
		if !v.Full && w.name != "fetch-1" {
			continue
		}
		ops, err := fetchWorkload(db, it, cfg.N, w.threads, w.present, cfg.Duration)
		if err != nil {
			db.Close()
			return fmt.Errorf("%s: %w", w.name, err)
		}
		r = res(w.name, "never")
		r.OpsPerSec = ops
		rep.add(r, cfg.Logf)
	}
	if err := db.Close(); err != nil {
		return err
	}
	if rb, ok := d.(Rebuilder); ok && v.Full {
		start = time.Now()
		n, err := rb.Rebuild(path, dir)
		if err != nil {
			return fmt.Errorf("rebuild: %w", err)
		}
		r = res("rebuild", "never")
		r.Seconds, r.Bytes = time.Since(start).Seconds(), n
		rep.add(r, cfg.Logf)
	} else if v.Full {
		r = res("rebuild", "never")
		r.Note = "n/a: no separate index to rebuild"
		rep.add(r, cfg.Logf)
	}
	os.RemoveAll(dir)

	// durable-1 and durable-16 in each mode.
	modes := d.Modes()
	if !v.Full {
		modes = []string{"always", "never"}
	}
	for _, mode := range modes {
		for _, threads := range []int{1, 16} {
			if threads == 1 && mode == "always" && v.Full && d.Name() == "nudb" {
				// The disk's barrier rate drifts on a shared machine: measure
				// the baseline again right beside the workload it judges.
				if rep.Limits.FdatasyncBesideNudb, err = fdatasyncRate(cfg.Dir, cfg.Duration); err != nil {
					return err
				}
				cfg.Logf("limit: 4 KiB write+fdatasync, measured beside nudb durable-1: %.0f/s", rep.Limits.FdatasyncBesideNudb)
			}
			ops, err := durableWorkload(d, v, cfg, mode, threads)
			if err != nil {
				return fmt.Errorf("durable-%d %s: %w", threads, mode, err)
			}
			r = res("durable-"+strconv.Itoa(threads), mode)
			r.OpsPerSec = ops
			rep.add(r, cfg.Logf)
		}
	}

	if v.Full && len(cfg.ChildArgs) > 0 {
		if err := crashWorkload(d, v, cfg, rep, 0, "open-crash"); err != nil {
			return fmt.Errorf("open-crash: %w", err)
		}
		if d.Name() == "nudb" {
			// The same at-risk window on a store ten times larger.
			if err := crashWorkload(d, v, cfg, rep, 10*cfg.N, "open-crash-10x"); err != nil {
				return fmt.Errorf("open-crash-10x: %w", err)
			}
		}
	}
	return nil
}

// fetchWorkload runs n random fetches (or as many as fit in limit: a raw
// device reads every item from the disk).
func fetchWorkload(db DB, it items, n, threads int, present bool, limit time.Duration) (float64, error) {
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
	deadline := start.Add(limit)
	for t := 0; t < threads; t++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, k := t, 0; i < n; i, k = i+threads, k+1 {
				if k&1023 == 0 && time.Now().After(deadline) {
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
