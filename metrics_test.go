package nudb

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLatencyBuckets(t *testing.T) {
	var l latency
	for _, c := range []struct {
		d      time.Duration
		bucket int
	}{
		{0, 0}, {time.Microsecond, 0}, {time.Microsecond + 1, 1}, {2 * time.Microsecond, 1},
		{3 * time.Microsecond, 2}, {time.Millisecond, 10}, {time.Hour, latencyBuckets},
	} {
		before := l.snapshot().Counts[c.bucket]
		l.observe(c.d)
		h := l.snapshot()
		if h.Counts[c.bucket] != before+1 {
			t.Errorf("%v did not land in bucket %d (bound %v)", c.d, c.bucket, h.Bounds[min(c.bucket, latencyBuckets-1)])
		}
		if c.bucket < latencyBuckets && c.d > h.Bounds[c.bucket] {
			t.Errorf("%v is above its bucket's bound %v", c.d, h.Bounds[c.bucket])
		}
	}
	want := Histogram{Bounds: histogramBounds, Counts: make([]uint64, latencyBuckets+1), Count: 7,
		Sum: time.Hour + time.Millisecond + 7*time.Microsecond + 1}
	want.Counts[0], want.Counts[1], want.Counts[2], want.Counts[10], want.Counts[latencyBuckets] = 2, 2, 1, 1, 1
	if diff := cmp.Diff(want, l.snapshot()); diff != "" {
		t.Fatalf("histogram (-want +got):\n%s", diff)
	}
}
