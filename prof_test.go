package nudb

import (
	"os"
	"runtime/pprof"
	"testing"
	"time"
)

func TestProfOpen(t *testing.T) {
	if os.Getenv("PROF") == "" {
		t.Skip()
	}
	ts := newStore(t, &Options{Sync: SyncNever})
	var b Batch
	for i := 0; i < 1000000; i++ {
		b.Put(testKey(i), make([]byte, 128))
		if b.Len() == 1000 {
			ts.InsertBatch(&b)
			b.Reset()
		}
	}
	ts.Close()
	ts.reopen(t)
	for i := 1000000; i < 1050000; i++ {
		b.Put(testKey(i), make([]byte, 128))
		if b.Len() == 1000 {
			ts.InsertBatch(&b)
			b.Reset()
		}
	}
	ts.shutdown(false)
	f, _ := os.Create("/tmp/open.prof")
	pprof.StartCPUProfile(f)
	start := time.Now()
	ts.reopen(t)
	d := time.Since(start)
	pprof.StopCPUProfile()
	t.Logf("open %v: %+v", d, ts.Stats().Recovery)
}
