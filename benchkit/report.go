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

// rate is what the ratios compare: operations per second; for a load,
// which is done only when its data is on disk, the inserts and the final
// sync and close together (the table shows them apart).
func (x *Result) rate() float64 {
	if x.Workload == "load" && x.OpsPerSec > 0 && x.Items > 0 {
		return float64(x.Items) / (float64(x.Items)/x.OpsPerSec + x.CloseSeconds)
	}
	return x.OpsPerSec
}

// findOn is find on another target (nudb's "device").
func (r *Report) findOn(store, workload, target string) *Result {
	for i := range r.Results {
		x := &r.Results[i]
		if x.Store == store && x.Workload == workload && x.Target == target && (x.Engine == "" || x.Engine == "io_uring") {
			return x
		}
	}
	return nil
}

// order lists the stores in the order they ran.
func (r *Report) order() []string {
	var names []string
	for _, si := range r.Stores {
		names = append(names, si.Name)
	}
	return names
}

// bestPeer returns the fastest (or, for timed workloads, quickest) peer.
func (r *Report) bestPeer(workload, mode string) *Result {
	var best *Result
	for i := range r.Results {
		x := &r.Results[i]
		if x.Store == "nudb" || x.Workload != workload || (mode != "" && x.Mode != mode) || x.Note != "" && strings.HasPrefix(x.Note, "n/a") {
			continue
		}
		if x.OpsPerSec == 0 && x.Seconds == 0 {
			continue
		}
		if best == nil || (x.Seconds == 0 && x.rate() > best.rate()) || (x.Seconds > 0 && x.Seconds < best.Seconds) {
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
		return "n/a"
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

	fmt.Fprintf(w, "## How each store ran\n\n| store | settings changed from its defaults | an acknowledged write survives |\n|---|---|---|\n")
	for _, si := range r.Stores {
		var modes []string
		for m := range si.Survives {
			modes = append(modes, m)
		}
		sort.Strings(modes)
		var surv []string
		for _, m := range modes {
			surv = append(surv, m+": "+si.Survives[m])
		}
		fmt.Fprintf(w, "| %s | %s | %s |\n", si.Name, si.Settings, strings.Join(surv, "; "))
	}
	fmt.Fprintf(w, "\n## Results (N = %d items, 32-byte keys, 128-byte values)\n\n", r.N)
	fmt.Fprintf(w, "| workload | store | engine | target | mode | result | close | bytes/item | items | note |\n|---|---|---|---|---|---|---|---|---|---|\n")
	order := map[string]int{"load": 0, "durable-1": 1, "durable-16": 2, "fetch-cold": 3, "fetch-1": 4, "fetch-2": 5, "miss": 6, "open-clean": 7, "open-crash": 8, "open-crash-10x": 9, "rebuild": 10}
	rows := append([]Result(nil), r.Results...)
	sort.SliceStable(rows, func(i, j int) bool { return order[rows[i].Workload] < order[rows[j].Workload] })
	for _, x := range rows {
		items, closing, perItem := "", "", ""
		if x.Items > 0 {
			items = fmt.Sprint(x.Items)
		}
		if x.CloseSeconds > 0 {
			closing = fmt.Sprintf("%.3f s", x.CloseSeconds)
		}
		if x.Workload == "load" && x.Bytes > 0 && x.Items > 0 {
			perItem = fmt.Sprintf("%.0f", float64(x.Bytes)/float64(x.Items))
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", x.Workload, x.Store, x.Engine, x.Target, x.Mode, value(&x), closing, perItem, items, x.Note)
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
		return x.rate()
	}
	secs := func(x *Result) float64 {
		if x == nil {
			return 0
		}
		return x.Seconds
	}
	for _, wl := range []struct{ name, mode, target string }{
		{"load", "never", "≥ 2 (inserts + close)"}, {"durable-1", "always", ""}, {"durable-16", "always", "≥ 2 (vs pebble)"},
		{"durable-1", "never", "≥ 1 (vs pebble)"}, {"durable-16", "never", "≥ 2 (vs pebble)"},
		{"fetch-1", "", "≥ 1.5 (vs pogreb)"}, {"fetch-2", "", ""}, {"miss", "", "≥ 1.5 (vs pogreb)"},
	} {
		n, p := r.find("nudb", wl.name, wl.mode), r.bestPeer(wl.name, wl.mode)
		name := fmt.Sprintf("nudb ÷ best peer, %s %s", wl.name, wl.mode)
		if p != nil {
			name += " (" + p.Store + ")"
		}
		ratio(strings.Replace(name, "  ", " ", 1), ops(n), ops(p), wl.target)
	}
	for _, wl := range []struct{ name, mode, peerMode, target string }{
		{"durable-16", "always", "always", "≥ 2"}, {"durable-1", "never", "never", "≥ 1"}, {"durable-16", "never", "never", "≥ 2"},
		// Both acknowledge from memory: the like-for-like comparison.
		{"durable-1", "write-behind", "never", "≥ 1"}, {"durable-16", "write-behind", "never", "≥ 2"},
	} {
		if n, p := r.find("nudb", wl.name, wl.mode), r.find("pebble", wl.name, wl.peerMode); p != nil {
			ratio(fmt.Sprintf("nudb %s ÷ pebble %s, %s", wl.mode, wl.peerMode, wl.name), ops(n), ops(p), wl.target)
		}
	}
	for _, wl := range []string{"fetch-1", "miss"} {
		if n, p := r.find("nudb", wl, ""), r.find("pogreb", wl, ""); p != nil {
			ratio("nudb ÷ pogreb, "+wl, ops(n), ops(p), "≥ 1.5")
		}
	}
	for _, wl := range []string{"open-clean", "open-crash"} {
		if p := r.bestPeer(wl, ""); p != nil {
			ratio(fmt.Sprintf("best peer (%s) %s time ÷ nudb's", p.Store, wl), secs(p), secs(r.find("nudb", wl, "")), "≥ 1")
		}
	}
	if n := r.find("nudb", "load", "never"); n != nil && n.Bytes > 0 && n.Items > 0 {
		perItem := float64(n.Bytes) / float64(n.Items)
		ratio(fmt.Sprintf("nudb load bytes/s (%.0f bytes written per item) ÷ sequential write limit", perItem), ops(n)*perItem/1e6, r.Limits.SeqWriteMBs, "≥ 0.5")
	}
	ratio("nudb durable-1 ÷ fdatasync/s limit", ops(r.find("nudb", "durable-1", "always")), r.Limits.FdatasyncPerS, "≥ 0.9")
	ratio("nudb durable-1 ÷ fdatasync/s measured just before it", ops(r.find("nudb", "durable-1", "always")), r.Limits.FdatasyncBesideNudb, "≥ 0.9")
	ratio("nudb durable-16 ÷ nudb durable-1", ops(r.find("nudb", "durable-16", "always")), ops(r.find("nudb", "durable-1", "always")), "≥ 8")
	ratio("nudb fetch-2 ÷ fetch-1", ops(r.find("nudb", "fetch-2", "")), ops(r.find("nudb", "fetch-1", "")), "≥ 1.6")
	if n, f := r.findOn("nudb", "fetch-1", "device"), r.find("nudb", "fetch-1", ""); n != nil {
		ratio("nudb fetch-1 on a raw device ÷ on a file (warm)", ops(n), ops(f), "≥ 0.5")
	}
	if rb := r.find("nudb", "rebuild", ""); rb != nil && rb.Seconds > 0 {
		ratio("nudb rebuild read rate (log bytes) ÷ sequential read limit", float64(rb.Bytes)/rb.Seconds/1e6, r.Limits.SeqReadMBs, "≥ 0.8")
	}
	ratio("nudb open-crash 10× store ÷ 1× store (same inserts before the kill)", secs(r.find("nudb", "open-crash-10x", "")), secs(r.find("nudb", "open-crash", "")), "≤ 1.2")
	ratio("nudb SyncNever ÷ SyncAlways, durable-16", ops(r.find("nudb", "durable-16", "never")), ops(r.find("nudb", "durable-16", "always")), "(the cost of durability)")
	ratio("nudb SyncNever ÷ SyncAlways, durable-1", ops(r.find("nudb", "durable-1", "never")), ops(r.find("nudb", "durable-1", "always")), "(the cost of durability)")
	ratio("nudb SyncInterval ÷ SyncAlways, durable-16", ops(r.find("nudb", "durable-16", "interval")), ops(r.find("nudb", "durable-16", "always")), "")
	fmt.Fprintf(w, "\nStores ran in this order: %s.\n", strings.Join(r.order(), ", "))
	fmt.Fprintf(w, "\nLoad runs with durability off in every store (nudb: SyncNever + InsertBatch); its rate counts the inserts only, the final sync and close are the close column. Fetches run after a clean reopen: fetch-cold with the store's files dropped from the page cache, then every store's files are read into it once and fetch-1, fetch-2 and miss run warm, each for a fixed time.\n")
	fmt.Fprintf(w, "\nRun took %v.\n", r.Elapsed.Round(1e9))
}
