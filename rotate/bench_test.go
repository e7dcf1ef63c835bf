package rotate

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nudbgo/nudb"
)

// BenchmarkInsertsDuringRotation measures what a rotation costs foreground
// inserts: 4 goroutines insert 1 KiB items (SyncAlways, nudb's defaults)
// into a set holding 64 MiB, first alone for as long as the rotation will
// take (the baseline, measured in the same run), then beside a rotation
// that copies everything forward (Generations 1, keep all). Reported:
// inserts/s alone and during, their ratio, and the copy rate. Settings
// changed from the defaults: Generations 1 (so the rotation copies), and
// CopyShare as named by the sub-benchmark.
func BenchmarkInsertsDuringRotation(b *testing.B) {
	for _, share := range []float64{0.25, 0.5, 1} {
		b.Run(fmt.Sprintf("CopyShare=%g", share), func(b *testing.B) {
			for range b.N {
				alone, during, rep := measureRotation(b, share)
				b.ReportMetric(alone, "inserts/s-alone")
				b.ReportMetric(during, "inserts/s-rotating")
				b.ReportMetric(during/alone, "ratio")
				b.ReportMetric(float64(rep.CopiedBytes)/rep.Duration.Seconds()/(1<<20), "copy-MiB/s")
			}
		})
	}
}

func measureRotation(b *testing.B, share float64) (alone, during float64, rep Report) {
	b.StopTimer()
	s := openSet(b, b.TempDir(), &Options{Generations: 1, CopyShare: share})
	defer s.Close()
	value := make([]byte, 1024)
	var batch nudb.Batch
	for i := range 64 << 10 {
		batch.Put(testKey("pre", i), value)
		if batch.Len() == 4096 {
			if _, err := s.InsertBatch(&batch); err != nil {
				b.Fatal(err)
			}
			batch.Reset()
		}
	}
	var next atomic.Int64
	insertFor := func(stop <-chan struct{}) float64 {
		var wg sync.WaitGroup
		var n atomic.Int64
		start := time.Now()
		for range 4 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					k := testKey("fg", int(next.Add(1)))
					if err := s.Insert(k, value); err != nil && !errors.Is(err, nudb.ErrKeyExists) {
						b.Error(err)
						return
					}
					n.Add(1)
				}
			})
		}
		wg.Wait()
		return float64(n.Load()) / time.Since(start).Seconds()
	}
	b.StartTimer()
	// During: inserts beside the rotation until it ends.
	stop := make(chan struct{})
	var rateDuring float64
	var wg sync.WaitGroup
	wg.Go(func() { rateDuring = insertFor(stop) })
	rep, err := s.Rotate(context.Background(), nil)
	close(stop)
	wg.Wait()
	if err != nil {
		b.Fatal(err)
	}
	// Alone: as long again, no rotation.
	stop = make(chan struct{})
	timer := time.AfterFunc(rep.Duration, func() { close(stop) })
	defer timer.Stop()
	alone = insertFor(stop)
	return alone, rateDuring, rep
}
