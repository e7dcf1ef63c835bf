package nudb_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/nudbgo/nudb"
)

// A content-addressed blob store: the key is the SHA-256 of the value.
func Example() {
	dir, _ := os.MkdirTemp("", "nudb-example-")
	defer os.RemoveAll(dir)
	data, key := filepath.Join(dir, "blobs.dat"), filepath.Join(dir, "blobs.key")

	if err := nudb.Create(data, key, nil); err != nil {
		log.Fatal(err)
	}
	s, err := nudb.Open(data, key, nil) // SyncAlways: Insert returns when durable
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	blob := []byte("hello, nudb")
	sum := sha256.Sum256(blob)
	if err := s.Insert(sum[:], blob); err != nil {
		log.Fatal(err)
	}
	err = s.Insert(sum[:], blob)
	fmt.Println("second insert:", errors.Is(err, nudb.ErrKeyExists))

	v, err := s.Fetch(sum[:])
	fmt.Printf("fetched %q, %v\n", v, err)
	fmt.Println("items:", s.Stats().Items)
	// Output:
	// second insert: true
	// fetched "hello, nudb", <nil>
	// items: 1
}

// Bulk loading: SyncNever and InsertBatch pack many items per record; one
// Sync at the end makes them durable.
func ExampleStore_InsertBatch() {
	dir, _ := os.MkdirTemp("", "nudb-example-")
	defer os.RemoveAll(dir)
	data, key := filepath.Join(dir, "d"), filepath.Join(dir, "k")
	if err := nudb.Create(data, key, &nudb.Options{KeySize: 8}); err != nil {
		log.Fatal(err)
	}
	s, err := nudb.Open(data, key, &nudb.Options{Sync: nudb.SyncNever})
	if err != nil {
		log.Fatal(err)
	}
	var b nudb.Batch
	for i := 0; i < 1000; i++ {
		b.Put([]byte(fmt.Sprintf("key%05d", i)), []byte(fmt.Sprint("value ", i)))
	}
	b.Put([]byte("key00007"), []byte("repeated key: skipped"))
	skipped, err := s.InsertBatch(&b)
	if err != nil {
		log.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("skipped:", skipped, "items:", s.Stats().Items, "records:", s.Stats().Records < 10)
	s.Close()
	// Output: skipped: 1 items: 1000 records: true
}

// FetchFunc reads without allocating; the value is valid inside fn only.
func ExampleStore_FetchFunc() {
	dir, _ := os.MkdirTemp("", "nudb-example-")
	defer os.RemoveAll(dir)
	data, key := filepath.Join(dir, "d"), filepath.Join(dir, "k")
	nudb.Create(data, key, &nudb.Options{KeySize: 4})
	s, _ := nudb.Open(data, key, &nudb.Options{Sync: nudb.SyncNever})
	defer s.Close()
	s.Insert([]byte("abcd"), []byte("some value"))
	var n int
	err := s.FetchFunc([]byte("abcd"), func(v []byte) { n = len(v) })
	fmt.Println(n, err)
	err = s.FetchFunc([]byte("zzzz"), func(v []byte) {})
	fmt.Println(errors.Is(err, nudb.ErrNotFound))
	// Output:
	// 10 <nil>
	// true
}

// Verify checks a closed store without changing it.
func ExampleVerify() {
	dir, _ := os.MkdirTemp("", "nudb-example-")
	defer os.RemoveAll(dir)
	data, key := filepath.Join(dir, "d"), filepath.Join(dir, "k")
	nudb.Create(data, key, nil)
	s, _ := nudb.Open(data, key, nil)
	sum := sha256.Sum256([]byte("x"))
	s.Insert(sum[:], []byte("x"))
	s.Close()
	rep, err := nudb.Verify(data, key, nil)
	fmt.Println(rep.OK(), rep.Items, err)
	// Output: true 1 <nil>
}

// Iterating in log order with Go's range-over-func, and a reader that opens
// the same store read-only beside its writer.
func ExampleStore_All() {
	dir, _ := os.MkdirTemp("", "nudb-example-")
	defer os.RemoveAll(dir)
	data, key := filepath.Join(dir, "d"), filepath.Join(dir, "k")
	if err := nudb.Create(data, key, &nudb.Options{KeySize: 4}); err != nil {
		log.Fatal(err)
	}
	w, err := nudb.Open(data, key, &nudb.Options{Sync: nudb.SyncNever})
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	for _, k := range []string{"aaaa", "bbbb", "cccc"} {
		if err := w.Insert([]byte(k), []byte("value of "+k)); err != nil {
			log.Fatal(err)
		}
	}
	r, err := nudb.Open(data, key, &nudb.Options{ReadOnly: true}) // beside the writer
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	for k, v := range r.All() {
		fmt.Printf("%s: %s\n", k, v)
	}
	fmt.Println(errors.Is(r.Insert([]byte("dddd"), nil), nudb.ErrReadOnly))
	// Output:
	// aaaa: value of aaaa
	// bbbb: value of bbbb
	// cccc: value of cccc
	// true
}
