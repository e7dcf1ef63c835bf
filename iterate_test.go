package nudb

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
)

// All and Items yield every item in log order, may be ranged over again,
// release the store on an early break (Close would wait for them
// otherwise), and Items reports what All cannot: a cancelled context, a
// closed store.
func TestIterators(t *testing.T) {
	ts := newStore(t, &Options{Sync: SyncNever})
	const n = 500
	for i := 0; i < n; i++ {
		if err := ts.Insert(testKey(i), testValue(i)); err != nil {
			t.Fatal(err)
		}
	}
	for pass := 0; pass < 2; pass++ {
		i := 0
		for k, v := range ts.All() {
			if !bytes.Equal(k, testKey(i)) || !bytes.Equal(v, testValue(i)) {
				t.Fatalf("pass %d: item %d out of log order or wrong", pass, i)
			}
			i++
		}
		if i != n {
			t.Fatalf("pass %d: %d items, want %d", pass, i, n)
		}
	}
	seen := 0
	for it, err := range ts.Items(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(it.Key, testKey(seen)) {
			t.Fatalf("Items: item %d out of order", seen)
		}
		if seen++; seen == 10 {
			break
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var last error
	count := 0
	for _, err := range ts.Items(ctx) {
		if err != nil {
			last = err
			break
		}
		if count++; count == 5 {
			cancel()
		}
	}
	if !errors.Is(last, context.Canceled) || count >= n {
		t.Fatalf("after cancel: %d items then %v, want context.Canceled well before the end", count, last)
	}

	// Inserts while a walk runs: the walk sees at least what was written
	// when it began, in order, and the store stays whole.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := n; i < n+300; i++ {
			if err := ts.Insert(testKey(i), testValue(i)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	i := 0
	for k := range ts.All() {
		if !bytes.Equal(k, testKey(i)) {
			t.Fatalf("during inserts: item %d out of order", i)
		}
		i++
	}
	wg.Wait()
	if i < n {
		t.Fatalf("during inserts: %d items, want at least %d", i, n)
	}

	for range ts.All() {
		break // an early break must not keep the store's gate
	}
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	var closedErr error
	for _, err := range ts.Items(context.Background()) {
		closedErr = err
	}
	if !errors.Is(closedErr, ErrClosed) {
		t.Fatalf("Items on a closed store: %v, want ErrClosed", closedErr)
	}
	for range ts.All() {
		t.Fatal("All yielded from a closed store")
	}
}
