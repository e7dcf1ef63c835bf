package nudb

import (
	"testing"
	"time"
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
	h := l.snapshot()
	if h.Count != 7 || h.Sum != time.Hour+time.Millisecond+7*time.Microsecond+1 {
		t.Fatalf("count %d sum %v", h.Count, h.Sum)
	}
}
