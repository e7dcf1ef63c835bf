// Package prom exports a nudb store's Stats to Prometheus. It is a module
// of its own (github.com/nudbgo/nudb/prom) so that nudb itself never
// depends on the Prometheus client.
//
//	s, _ := nudb.Open(data, key, nil)
//	prometheus.MustRegister(prom.NewCollector(s, prometheus.Labels{"store": "objects"}))
//
// Every scrape reads Store.Stats once; the collector keeps no state.
// Metric names (all prefixed nudb_):
//
//	items, records                          gauges: items indexed, records in the log
//	inserts_total, syncs_total              counters since Open: items inserted, barriers
//	written_bytes_total                     counter: record bytes written since Open
//	fetch_hits_total, fetch_misses_total    counters: Fetch/FetchFunc/Exists calls that found, or missed, their key
//	data_growths_total                      counter: times the data file was grown
//	data_size_bytes, key_file_size_bytes    gauges
//	watermark_bytes{watermark=...}          gauges: extent, written, synced, checkpoint
//	load_factor                             gauge: index entries ÷ slots
//	insert_duration_seconds{mode=...}       histogram: Insert and InsertBatch calls, by sync mode
//	barrier_duration_seconds                histogram: RWF_DSYNC record writes and fdatasyncs
//	recovery_duration_seconds               gauge: what the last Open spent recovering
//	recovery_scanned_bytes                  gauge: data-file bytes it read
//	recovery_damaged_records                gauge: records it found damaged (skipped, never cut)
//	recovery_dropped_records                gauge: valid records cut with a torn tail
package prom

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nudbgo/nudb"
)

// Collector is a prometheus.Collector over one store.
type Collector struct {
	s *nudb.Store

	items, records, dataSize, keySize, watermark, loadFactor      *prometheus.Desc
	inserts, syncs, written, hits, misses, growths                *prometheus.Desc
	insertLatency, barrierLatency                                 *prometheus.Desc
	recoveryDuration, recoveryBytes, recoveryDamaged, recoveryCut *prometheus.Desc
}

// NewCollector returns a collector for s; labels (may be nil) are added
// to every metric, to tell several stores apart.
func NewCollector(s *nudb.Store, labels prometheus.Labels) *Collector {
	d := func(name, help string, variable ...string) *prometheus.Desc {
		return prometheus.NewDesc("nudb_"+name, help, variable, labels)
	}
	return &Collector{s: s,
		items:            d("items", "Items in the store."),
		records:          d("records", "Records in the log."),
		dataSize:         d("data_size_bytes", "Size of the data file or device."),
		keySize:          d("key_file_size_bytes", "Size of the key file."),
		watermark:        d("watermark_bytes", "The key file's watermarks.", "watermark"),
		loadFactor:       d("load_factor", "Index entries divided by bucket slots."),
		inserts:          d("inserts_total", "Items inserted since Open."),
		syncs:            d("syncs_total", "Durable barriers (RWF_DSYNC writes, fdatasyncs) since Open."),
		written:          d("written_bytes_total", "Record bytes written since Open."),
		hits:             d("fetch_hits_total", "Fetch, FetchFunc and Exists calls that found their key."),
		misses:           d("fetch_misses_total", "Fetch, FetchFunc and Exists calls that did not."),
		growths:          d("data_growths_total", "Times the data file was grown."),
		insertLatency:    d("insert_duration_seconds", "Insert and InsertBatch calls, entry to return.", "mode"),
		barrierLatency:   d("barrier_duration_seconds", "Durable barriers: an RWF_DSYNC record write or an fdatasync."),
		recoveryDuration: d("recovery_duration_seconds", "Time the last Open spent recovering."),
		recoveryBytes:    d("recovery_scanned_bytes", "Data-file bytes the last Open read to recover."),
		recoveryDamaged:  d("recovery_damaged_records", "Records the last Open found damaged (skipped, never cut)."),
		recoveryCut:      d("recovery_dropped_records", "Valid records the last Open cut with a torn tail."),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.items, c.records, c.dataSize, c.keySize, c.watermark, c.loadFactor,
		c.inserts, c.syncs, c.written, c.hits, c.misses, c.growths, c.insertLatency, c.barrierLatency,
		c.recoveryDuration, c.recoveryBytes, c.recoveryDamaged, c.recoveryCut} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	gauge := func(d *prometheus.Desc, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
	}
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge(c.items, float64(st.Items))
	gauge(c.records, float64(st.Records))
	gauge(c.dataSize, float64(st.DataSize))
	gauge(c.keySize, float64(st.KeyFileSize))
	gauge(c.watermark, float64(st.Extent), "extent")
	gauge(c.watermark, float64(st.Written), "written")
	gauge(c.watermark, float64(st.Synced), "synced")
	gauge(c.watermark, float64(st.Checkpoint), "checkpoint")
	gauge(c.loadFactor, st.LoadFactor)
	counter(c.inserts, st.Inserts)
	counter(c.syncs, st.Syncs)
	counter(c.written, st.BytesWritten)
	counter(c.hits, st.FetchHits)
	counter(c.misses, st.FetchMisses)
	counter(c.growths, st.DataGrowths)
	ch <- histogram(c.insertLatency, st.InsertLatency, st.Sync.String())
	ch <- histogram(c.barrierLatency, st.BarrierLatency)
	gauge(c.recoveryDuration, st.Recovery.Duration.Seconds())
	gauge(c.recoveryBytes, float64(st.Recovery.BytesScanned))
	gauge(c.recoveryDamaged, float64(st.Recovery.DamagedRecords))
	gauge(c.recoveryCut, float64(st.Recovery.RecordsDropped))
}

// histogram turns a nudb.Histogram (counts per bucket) into Prometheus's
// form (cumulative counts by upper bound, in seconds).
func histogram(d *prometheus.Desc, h nudb.Histogram, lv ...string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.Bounds))
	var cum uint64
	for i, b := range h.Bounds {
		cum += h.Counts[i]
		buckets[b.Seconds()] = cum
	}
	return prometheus.MustNewConstHistogram(d, h.Count, h.Sum.Seconds(), buckets, lv...)
}
