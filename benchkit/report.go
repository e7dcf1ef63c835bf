package benchkit

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// find returns the result for a store/workload/mode on a file target with
// the default engine (io_uring for nudb), or nil.
func (r *Report) find(store, workload, mode string) *Result {
	for i := range r.Results {
		x := &r.Results[i]
		if x.Store == store && x.Workload == workload && (mode == "" || x.Mode == mode) && x.Target == "file" &&
			(x.Engine == "" || x.Engine == "io_uring") {
			return x
		}
	}
	return nil
}

// bestPeer returns the fastest (or, for timed workloads, quickest) peer.
func (r *Report) bestPeer(workload, mode string) *Result {
	var best *Result
	for i := range r.Results {
		x := &r.Results[i]
		if x.Store == "nudb" || x.Workload != workload || (mode != "" && x.Mode != mode) || x.Note != "" && strings.HasPrefix(x.Note, "n/a") {
			continue
		}
		if best == nil || (x.Seconds == 0 && x.OpsPerSec > best.OpsPerSec) || (x.Seconds > 0 && x.Seconds < best.Seconds) {
			best = x
		}
	}
	return best
}

func value(x *Result) string {
	if x == nil {
		return "—"
	}
	if x.Note != "" && strings.HasPrefix(x.Note, "n/a") {
		return x.Note
	}
	if x.Seconds > 0 || x.OpsPerSec == 0 {
		return fmt.Sprintf("%.3f s", x.Seconds)
	}
	return fmt.Sprintf("%.0f/s", x.OpsPerSec)
}

// WriteMarkdown prints the results table and the ratios.
func (r *Report) WriteMarkdown(w io.Writer) {
	fmt.Fprintf(w, "## Machine limits (measured in this run)\n\n")
	fmt.Fprintf(w, "| sequential O_DIRECT write | 4 KiB write+fdatasync, QD1 | random 4 KiB read, QD1 | sequential read (cold) |\n|---|---|---|---|\n")
	fmt.Fprintf(w, "| %.0f MB/s | %.0f/s | %.0f IOPS | %.0f MB/s |\n\n", r.Limits.SeqWriteMBs, r.Limits.FdatasyncPerS, r.Limits.RandReadIOPS, r.Limits.SeqReadMBs)

	fmt.Fprintf(w, "## Results (N = %d items, 32-byte keys, 128-byte values)\n\n", r.N)
	fmt.Fprintf(w, "| workload | store | engine | target | mode | result | items | note |\n|---|---|---|---|---|---|---|---|\n")
	order := map[string]int{"load": 0, "durable-1": 1, "durable-16": 2, "fetch-1": 3, "fetch-2": 4, "miss": 5, "open-clean": 6, "open-crash": 7, "open-crash-10x": 8, "rebuild": 9}
	rows := append([]Result(nil), r.Results...)
	sort.SliceStable(rows, func(i, j int) bool { return order[rows[i].Workload] < order[rows[j].Workload] })
	for _, x := range rows {
		items := ""
		if x.Items > 0 {
			items = fmt.Sprint(x.Items)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", x.Workload, x.Store, x.Engine, x.Target, x.Mode, value(&x), items, x.Note)
	}
	fmt.Fprintf(w, "\n## Ratios\n\n| ratio | value | target |\n|---|---|---|\n")
	ratio := func(name string, a, b float64, target string) {
		if a <= 0 || b <= 0 {
			fmt.Fprintf(w, "| %s | — | %s |\n", name, target)
			return
		}
		fmt.Fprintf(w, "| %s | %.2f | %s |\n", name, a/b, target)
	}
	ops := func(x *Result) float64 {
		if x == nil {
			return 0
		}
		return x.OpsPerSec
	}
	secs := func(x *Result) float64 {
		if x == nil {
			return 0
		}
		return x.Seconds
	}
	for _, wl := range []struct{ name, mode, target string }{
		{"load", "never", "≥ 2"}, {"durable-1", "always", ""}, {"durable-16", "always", "≥ 2 (vs pebble)"},
		{"fetch-1", "", "≥ 1 (vs pogreb)"}, {"fetch-2", "", ""}, {"miss", "", "≥ 1 (vs pogreb)"},
	} {
		n, p := r.find("nudb", wl.name, wl.mode), r.bestPeer(wl.name, wl.mode)
		name := fmt.Sprintf("nudb ÷ best peer, %s", wl.name)
		if p != nil {
			name += " (" + p.Store + ")"
		}
		ratio(name, ops(n), ops(p), wl.target)
	}
	if n, p := r.find("nudb", "durable-16", "always"), r.find("pebble", "durable-16", "always"); p != nil {
		ratio("nudb ÷ pebble, durable-16", ops(n), ops(p), "≥ 2")
	}
	if n, p := r.find("nudb", "fetch-1", ""), r.find("pogreb", "fetch-1", ""); p != nil {
		ratio("nudb ÷ pogreb, fetch-1", ops(n), ops(p), "≥ 1")
	}
	if n, p := r.find("nudb", "miss", ""), r.find("pogreb", "miss", ""); p != nil {
		ratio("nudb ÷ pogreb, miss", ops(n), ops(p), "≥ 1")
	}
	if n := r.find("nudb", "load", "never"); n != nil {
		ratio("nudb load bytes/s ÷ sequential write limit", ops(n)*float64(keySize+valueSize+8)/1e6, r.Limits.SeqWriteMBs, "≥ 0.5")
	}
	ratio("nudb durable-1 ÷ fdatasync/s limit", ops(r.find("nudb", "durable-1", "always")), r.Limits.FdatasyncPerS, "≥ 0.9")
	ratio("nudb durable-1 ÷ fdatasync/s measured just before it", ops(r.find("nudb", "durable-1", "always")), r.Limits.FdatasyncBesideNudb, "≥ 0.9")
	ratio("nudb durable-16 ÷ nudb durable-1", ops(r.find("nudb", "durable-16", "always")), ops(r.find("nudb", "durable-1", "always")), "≥ 8")
	ratio("nudb fetch-2 ÷ fetch-1", ops(r.find("nudb", "fetch-2", "")), ops(r.find("nudb", "fetch-1", "")), "≥ 1.6")
	if rb := r.find("nudb", "rebuild", ""); rb != nil && rb.Seconds > 0 {
		ratio("nudb rebuild read rate ÷ sequential read limit", float64(rb.Bytes)/rb.Seconds/1e6, r.Limits.SeqReadMBs, "≥ 0.8")
	}
	if p := r.find("pogreb", "open-crash", ""); p != nil {
		ratio("pogreb open-crash time ÷ nudb open-crash time", secs(p), secs(r.find("nudb", "open-crash", "")), "≥ 10")
	}
	ratio("nudb open-crash 10× store ÷ 1× store (same at-risk window)", secs(r.find("nudb", "open-crash-10x", "")), secs(r.find("nudb", "open-crash", "")), "≈ 1")
	ratio("nudb SyncNever ÷ SyncAlways, durable-16", ops(r.find("nudb", "durable-16", "never")), ops(r.find("nudb", "durable-16", "always")), "(the cost of durability)")
	ratio("nudb SyncNever ÷ SyncAlways, durable-1", ops(r.find("nudb", "durable-1", "never")), ops(r.find("nudb", "durable-1", "always")), "(the cost of durability)")
	ratio("nudb SyncInterval ÷ SyncAlways, durable-16", ops(r.find("nudb", "durable-16", "interval")), ops(r.find("nudb", "durable-16", "always")), "")
	fmt.Fprintf(w, "\nLoad runs with durability off in every store (nudb: SyncNever + InsertBatch); SyncAlways ÷ SyncNever for a load is the durable-1 ÷ load ratio above.\n")
	fmt.Fprintf(w, "\nRun took %v.\n", r.Elapsed.Round(1e9))
}
