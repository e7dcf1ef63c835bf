package benchkit

import (
	"bytes"
	"strings"
	"testing"
)

func TestReportRatios(t *testing.T) {
	r := &Report{N: 10, Limits: Limits{SeqWriteMBs: 100, FdatasyncPerS: 1000, SeqReadMBs: 200, FdatasyncBesideNudb: 800}}
	add := func(store, engine, wl, mode string, ops, secs float64) {
		r.Results = append(r.Results, Result{Store: store, Engine: engine, Target: "file", Workload: wl, Mode: mode, OpsPerSec: ops, Seconds: secs})
	}
	add("nudb", "io_uring", "load", "never", 600, 0)
	add("nudb", "pwrite", "load", "never", 9999, 0) // not the default engine: ignored by the ratios
	add("pebble", "", "load", "never", 300, 0)
	add("pogreb", "", "load", "never", 100, 0)
	add("nudb", "io_uring", "durable-1", "always", 720, 0)
	add("nudb", "io_uring", "open-crash", "never", 0, 0.5)
	add("pogreb", "", "open-crash", "never", 0, 5)
	add("pebble", "", "open-crash", "never", 0, 2.5)
	r.Results[0].Bytes, r.Results[0].Items = 2000, 10 // 200 bytes an item: 0.12 MB/s ÷ 100
	r.Results = append(r.Results, Result{Store: "gonudb", Target: "file", Workload: "open-crash", Note: "n/a: no recovery"})
	var out bytes.Buffer
	r.WriteMarkdown(&out)
	for _, want := range []string{
		"| nudb ÷ best peer, load never (pebble) | 2.00 |",
		"| best peer (pebble) open-crash time ÷ nudb's | 5.00 |",
		"| nudb load bytes/s (200 bytes written per item) ÷ sequential write limit | 0.00 |",
		"| nudb durable-1 ÷ fdatasync/s limit | 0.72 |",
		"| nudb durable-1 ÷ fdatasync/s measured just before it | 0.90 |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestItemsAreDeterministicAndDistinct(t *testing.T) {
	it := items{seed: 1, valueSize: valueSize}
	if !bytes.Equal(it.key(5), it.key(5)) {
		t.Fatal("the same item gave two keys")
	}
	seen := map[string]bool{}
	for i := 0; i < 10000; i++ {
		k := string(it.key(i))
		if seen[k] {
			t.Fatalf("item %d repeats a key", i)
		}
		seen[k] = true
	}
	other := items{seed: 2, valueSize: valueSize}
	if bytes.Equal(it.key(0), other.key(0)) {
		t.Fatal("two seeds gave the same key")
	}
}
