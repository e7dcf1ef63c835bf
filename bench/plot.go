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
	for _, wl := range []string{"load", "durable-1", "durable-16", "fetch-1", "fetch-2", "miss"} {
		vals := map[string]float64{}
		for _, x := range r.Results {
			if x.Workload != wl || x.Target != "file" || x.OpsPerSec == 0 || (x.Engine != "" && x.Engine != "io_uring") {
				continue
			}
			if wl == "durable-1" || wl == "durable-16" {
				if x.Mode != "always" {
					continue
				}
			}
			vals[x.Store] = x.OpsPerSec
		}
		if err := bars(filepath.Join(dir, wl+".png"), wl+" (ops/s, higher is better)", vals); err != nil {
			return err
		}
	}
	for _, wl := range []string{"durable-1", "durable-16"} {
		vals := map[string]float64{}
		for _, x := range r.Results {
			if x.Workload == wl && x.Mode == "never" && x.Target == "file" && x.OpsPerSec > 0 && (x.Engine == "" || x.Engine == "io_uring") {
				vals[x.Store] = x.OpsPerSec
			}
		}
		if err := bars(filepath.Join(dir, wl+"-never.png"), wl+", durability off (ops/s, higher is better)", vals); err != nil {
			return err
		}
	}
	for _, wl := range []string{"open-clean", "open-crash"} {
		vals := map[string]float64{}
		for _, x := range r.Results {
			if x.Workload == wl && x.Target == "file" && x.Seconds > 0 && (x.Engine == "" || x.Engine == "io_uring") {
				vals[x.Store] = x.Seconds
			}
		}
		if err := bars(filepath.Join(dir, wl+".png"), wl+" (seconds, lower is better)", vals); err != nil {
			return err
		}
	}
	for _, wl := range []string{"durable-1", "durable-16"} {
		vals := map[string]float64{}
		for _, x := range r.Results {
			if x.Store == "nudb" && x.Workload == wl && x.Target == "file" && x.Engine == "io_uring" {
				vals["Sync"+map[string]string{"always": "Always", "interval": "Interval", "never": "Never"}[x.Mode]] = x.OpsPerSec
			}
		}
		if err := bars(filepath.Join(dir, "nudb-modes-"+wl+".png"), "nudb "+wl+" by sync mode (ops/s)", vals); err != nil {
			return err
		}
	}
	return nil
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
