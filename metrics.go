package nudb

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram is a distribution of durations, as Stats reports latencies:
// Counts[i] observations fell at or below Bounds[i] (and above the bound
// before it); the last count, one past the bounds, holds the rest. The
// bounds double from one microsecond to about 17 seconds, fixed, so two
// snapshots subtract bucket by bucket.
type Histogram struct {
	Bounds []time.Duration
	Counts []uint64
	Count  uint64        // observations
	Sum    time.Duration // their total
}

// Mean is Sum ÷ Count (0 without observations).
func (h Histogram) Mean() time.Duration {
	if h.Count == 0 {
		return 0
	}
	return h.Sum / time.Duration(h.Count)
}

// latencyBuckets is the number of finite bounds: 1 µs · 2^0 … 2^24.
const latencyBuckets = 25

// histogramBounds are the bounds of every Histogram, shared.
var histogramBounds = func() []time.Duration {
	b := make([]time.Duration, latencyBuckets)
	for i := range b {
		b[i] = time.Microsecond << i
	}
	return b
}()

// latency records a distribution with atomic counters: observing costs two
// atomic adds and no lock, so the hot paths can afford it.
type latency struct {
	counts [latencyBuckets + 1]atomic.Uint64
	sum    atomic.Int64
}

// observe adds one duration.
func (l *latency) observe(d time.Duration) {
	i := 0
	if d > time.Microsecond {
		// The smallest i with d ≤ 1 µs · 2^i.
		i = min(bits.Len64(uint64((d-1)/time.Microsecond)), latencyBuckets)
	}
	l.counts[i].Add(1)
	l.sum.Add(int64(d))
}

// since observes the time since start.
func (l *latency) since(start time.Time) { l.observe(time.Since(start)) }

// snapshot reads the distribution (each counter atomically; the whole not
// as one instant, which a monitoring scrape does not need).
func (l *latency) snapshot() Histogram {
	h := Histogram{Bounds: histogramBounds, Counts: make([]uint64, latencyBuckets+1), Sum: time.Duration(l.sum.Load())}
	for i := range h.Counts {
		h.Counts[i] = l.counts[i].Load()
		h.Count += h.Counts[i]
	}
	return h
}
