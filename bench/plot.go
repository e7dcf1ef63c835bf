package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/nudbgo/nudb/benchkit"
)

// writePlots draws, for each throughput workload, nudb against the peers,
// and nudb's durability modes against each other.
func writePlots(r *benchkit.Report, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ops := func(x benchkit.Result) float64 { return x.OpsPerSec }
	secs := func(x benchkit.Result) float64 { return x.Seconds }
	for _, wl := range []string{"load", "durable-1", "durable-16", "fetch-1", "fetch-2", "miss"} {
		mode := ""
		if wl == "durable-1" || wl == "durable-16" {
			mode = "always"
		}
		if err := bars(filepath.Join(dir, wl+".png"), wl+" (ops/s, higher is better)", byStore(r, wl, mode, ops)); err != nil {
			return err
		}
	}
	for _, wl := range []string{"durable-1", "durable-16"} {
		if err := bars(filepath.Join(dir, wl+"-never.png"), wl+", durability off (ops/s, higher is better)", byStore(r, wl, "never", ops)); err != nil {
			return err
		}
	}
	for _, wl := range []string{"open-clean", "open-crash"} {
		if err := bars(filepath.Join(dir, wl+".png"), wl+" (seconds, lower is better)", byStore(r, wl, "", secs)); err != nil {
			return err
		}
	}
	for _, wl := range []string{"durable-1", "durable-16"} {
		vals := map[string]float64{}
		for _, x := range r.Results {
			if x.Store == "nudb" && x.Workload == wl && x.Target == "file" && x.Engine == "io_uring" {
				vals["Sync"+map[string]string{"always": "Always", "interval": "Interval", "never": "Never", "write-behind": "WriteBehind"}[x.Mode]] = x.OpsPerSec
			}
		}
		if err := bars(filepath.Join(dir, "nudb-modes-"+wl+".png"), "nudb "+wl+" by sync mode (ops/s)", vals); err != nil {
			return err
		}
	}
	return nil
}

// byStore collects, per store, value(x) of the results of workload wl in
// mode ("": any) of the default configuration on a regular file (the one
// charted against the peers), where there is one.
func byStore(r *benchkit.Report, wl, mode string, value func(benchkit.Result) float64) map[string]float64 {
	vals := map[string]float64{}
	for _, x := range r.Results {
		if x.Workload == wl && (mode == "" || x.Mode == mode) && x.Target == "file" &&
			(x.Engine == "" || x.Engine == "io_uring") && value(x) > 0 {
			vals[x.Store] = value(x)
		}
	}
	return vals
}

func bars(path, title string, vals map[string]float64) error {
	if len(vals) == 0 {
		return nil
	}
	names := make([]string, 0, len(vals))
	for n := range vals {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return vals[names[i]] > vals[names[j]] })
	ys := make(plotter.Values, len(names))
	for i, n := range names {
		ys[i] = vals[n]
	}
	p := plot.New()
	p.Title.Text = title
	b, err := plotter.NewBarChart(ys, vg.Points(30))
	if err != nil {
		return err
	}
	p.Add(b)
	p.NominalX(names...)
	if err := p.Save(6*vg.Inch, 4*vg.Inch, path); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return nil
}
