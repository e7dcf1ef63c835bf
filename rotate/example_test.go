package rotate_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log"
	"os"

	"github.com/nudbgo/nudb/rotate"
)

// A set of generations: insert, delete, and rotate with a live set; the
// dead item and the deleted one are dropped, the live one is copied
// forward.
func Example() {
	dir, err := os.MkdirTemp("", "rotate-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	set, err := rotate.Open(dir, &rotate.Options{Generations: 1})
	if err != nil {
		log.Fatal(err)
	}
	defer set.Close()

	key := func(s string) []byte { k := sha256.Sum256([]byte(s)); return k[:] }
	for _, name := range []string{"live", "dead", "deleted"} {
		if err := set.Insert(key(name), []byte(name+" value")); err != nil {
			log.Fatal(err)
		}
	}
	if err := set.Delete(key("deleted")); err != nil {
		log.Fatal(err)
	}
	live := string(key("live"))
	rep, err := set.Rotate(context.Background(), func(k []byte) bool { return string(k) == live })
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("retired %v: copied %d, dropped %d, deleted %d\n", rep.Retired, rep.Copied, rep.Dropped, rep.Deleted)
	for _, name := range []string{"live", "dead", "deleted"} {
		ok, _ := set.Exists(key(name))
		fmt.Println(name, ok)
	}
	// Output:
	// retired [1]: copied 1, dropped 1, deleted 1
	// live true
	// dead false
	// deleted false
}
