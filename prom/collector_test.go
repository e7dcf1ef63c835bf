package prom_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/nudbgo/nudb"
	"github.com/nudbgo/nudb/prom"
)

func TestCollector(t *testing.T) {
	dir := t.TempDir()
	data, key := filepath.Join(dir, "data"), filepath.Join(dir, "key")
	if err := nudb.Create(data, key, nil); err != nil {
		t.Fatal(err)
	}
	s, err := nudb.Open(data, key, &nudb.Options{Sync: nudb.SyncNever})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 100; i++ {
		k := make([]byte, 32)
		k[0], k[1] = byte(i), 1
		if err := s.Insert(k, []byte("value")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Fetch(k); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Fetch(make([]byte, 32)); err == nil {
		t.Fatal("a key never inserted was found")
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	c := prom.NewCollector(s, prometheus.Labels{"store": "test"})
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %+v", err, problems)
	}
	want := `
# HELP nudb_fetch_hits_total Fetch, FetchFunc and Exists calls that found their key.
# TYPE nudb_fetch_hits_total counter
nudb_fetch_hits_total{store="test"} 100
# HELP nudb_fetch_misses_total Fetch, FetchFunc and Exists calls that did not.
# TYPE nudb_fetch_misses_total counter
nudb_fetch_misses_total{store="test"} 1
# HELP nudb_inserts_total Items inserted since Open.
# TYPE nudb_inserts_total counter
nudb_inserts_total{store="test"} 100
# HELP nudb_items Items in the store.
# TYPE nudb_items gauge
nudb_items{store="test"} 100
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"nudb_fetch_hits_total", "nudb_fetch_misses_total", "nudb_inserts_total", "nudb_items"); err != nil {
		t.Fatal(err)
	}
	// The insert latency histogram holds every Insert, labelled with the mode.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() != "nudb_insert_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "mode" && lp.GetValue() == "never" && m.GetHistogram().GetSampleCount() == 100 {
					found = true
				}
			}
		}
	}
	if !found {
		t.Fatal("nudb_insert_duration_seconds{mode=\"never\"} does not count the 100 inserts")
	}
	if n := testutil.CollectAndCount(c); n != 21 {
		t.Fatalf("%d metrics collected, want 21", n)
	}
}
