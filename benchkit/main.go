package benchkit

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Main runs the harness with command-line flags (args without the program
// name) and returns an exit code. prefix is how to re-run this program so
// that it reaches Main again (for the open-crash writer); extra, when set,
// receives the finished report (the bench module draws its plots there).
func Main(args []string, prefix []string, drivers []Driver, stdout, stderr io.Writer, extra func(fs *flag.FlagSet) func(*Report) error) int {
	if len(args) > 0 && args[0] == "-crash-child" {
		if err := crashChild(drivers, args[1:]); err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
		return 0
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "smaller N and 1 s cells (a few minutes)")
	n := fs.Int("n", 0, "items to load (default 1,000,000; -quick 300,000)")
	dur := fs.Duration("duration", 0, "length of each durable workload, twice each fetch workload's (default 10s; -quick 1s)")
	rotate := fs.Int("rotate", -1, "start the stores' order at this index (default: rotates with the clock between runs)")
	jsonPath := fs.String("json", "", "write the results as JSON to this file")
	dir := fs.String("dir", "", "work directory on the disk to measure (default: a new directory in $TMPDIR)")
	only := fs.String("stores", "", "comma-separated stores to run (default: all)")
	noDevice := fs.Bool("no-device", false, "skip the loop-device target")
	skip := fs.String("skip", "", "comma-separated workload groups to leave out: durable, crash, rebuild (e.g. for a fetch run at 10M items)")
	var finish func(*Report) error
	if extra != nil {
		finish = extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *jsonPath != "" {
		// Fail now, not after the whole run, if the report cannot be written.
		f, err := os.OpenFile(*jsonPath, os.O_WRONLY|os.O_CREATE, 0o644)
		if err != nil {
			fmt.Fprintf(stderr, "bench: %v\n", err)
			return 2
		}
		f.Close()
	}
	cfg := Config{N: 1_000_000, Duration: 10 * time.Second, ChildArgs: prefix,
		Logf: func(f string, a ...any) { fmt.Fprintf(stderr, f+"\n", a...) }}
	if *quick {
		cfg.N, cfg.Duration = 300_000, time.Second
	}
	cfg.Rotate = *rotate
	cfg.Skip = map[string]bool{}
	for _, g := range strings.Split(*skip, ",") {
		cfg.Skip[strings.TrimSpace(g)] = true
	}
	if cfg.Rotate < 0 {
		cfg.Rotate = int(time.Now().Unix() / 60)
	}
	if *n > 0 {
		cfg.N = *n
	}
	if *dur > 0 {
		cfg.Duration = *dur
	}
	if *only != "" {
		var keep []Driver
		for _, d := range drivers {
			if strings.Contains(","+*only+",", ","+d.Name()+",") {
				keep = append(keep, d)
			}
		}
		drivers = keep
	}
	work := *dir
	if work == "" {
		var err error
		if work, err = os.MkdirTemp("", "nudb-bench-"); err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
		defer os.RemoveAll(work)
	}
	cfg.Dir = work
	if !*noDevice {
		// Sparse: only what is written takes space. A durable cell without
		// fsync writes a 4 KiB record per insert for -duration (some GB).
		dev, cleanup, err := loopDevice(work, int64(max(cfg.N*400, 16<<30)))
		if err != nil {
			cfg.Logf("device target skipped: %v", err)
		} else {
			defer cleanup()
			cfg.Device = dev
			// An interrupted run must not leave the loop device attached.
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
			defer signal.Stop(sig)
			go func() {
				if _, ok := <-sig; ok {
					cleanup()
					os.RemoveAll(work)
					os.Exit(130)
				}
			}()
		}
	}
	rep, err := Run(drivers, cfg)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	rep.WriteMarkdown(stdout)
	if *jsonPath != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(*jsonPath, b, 0o644); err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
	}
	if finish != nil {
		if err := finish(rep); err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
	}
	return 0
}

// loopDevice attaches a sparse file as a direct-I/O loop device (root only).
func loopDevice(dir string, size int64) (string, func(), error) {
	if os.Geteuid() != 0 {
		return "", nil, fmt.Errorf("not root")
	}
	img := filepath.Join(dir, "loop.img")
	f, err := os.Create(img)
	if err != nil {
		return "", nil, err
	}
	f.Truncate(size)
	f.Close()
	out, err := exec.Command("losetup", "-f", "--show", "--direct-io=on", img).CombinedOutput()
	if err != nil {
		return "", nil, fmt.Errorf("losetup: %v: %s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	return dev, func() { exec.Command("losetup", "-d", dev).Run(); os.Remove(img) }, nil
}
