package nudbipfs

import (
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/nudbgo/nudb/rotate"
)

func openSet(t testing.TB, dir string, opts *rotate.Options) *rotate.Set {
	t.Helper()
	s, err := rotate.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func funcName(f any) string {
	name := runtime.FuncForPC(reflect.ValueOf(f).Pointer()).Name()
	return name[strings.LastIndexByte(name, '.')+1:]
}
