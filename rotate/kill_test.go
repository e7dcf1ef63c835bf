package rotate

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/nudbgo/nudb"
)

// The steps of a rotation a kill test ends the writer at (Set.crashPoint),
// besides random moments.
var crashSteps = []string{"created", "installed", "copied", "synced", "retired", "removing", "removed"}

// rotationChild is the writer process of TestKillDuringRotation: it
// inserts, deletes and re-inserts from one goroutine, printing "B op key"
// before each operation and "A op key" once it returned, while another
// goroutine rotates without pause, and it SIGKILLs itself at the n-th
// time a rotation reaches the named step, or after n acknowledged inserts.
func rotationChild(t *testing.T) {
	dir := os.Getenv("ROTATE_CHILD_DIR")
	cycle := os.Getenv("ROTATE_CYCLE")
	kind, arg, _ := strings.Cut(os.Getenv("ROTATE_CRASH"), ":")
	step, nText, _ := strings.Cut(arg, ":")
	n, _ := strconv.Atoi(nText)
	if kind == "ops" {
		n, _ = strconv.Atoi(arg)
	}
	die := func() { syscall.Kill(os.Getpid(), syscall.SIGKILL); select {} }
	s, err := Open(dir, &Options{CopyBatchBytes: 64 << 10, CopyShare: 0.5})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(3)
	}
	hits := 0
	s.hook = func(at string) {
		if kind == "step" && at == step {
			if hits++; hits == n {
				die()
			}
		}
	}
	go func() {
		for {
			if _, err := s.Rotate(context.Background(), live); err != nil {
				fmt.Fprintln(os.Stderr, "rotate:", err)
				os.Exit(3)
			}
		}
	}()
	do := func(op string, key []byte, fn func() error) {
		fmt.Printf("B %s %x\n", op, key)
		if err := fn(); err != nil && !errors.Is(err, nudb.ErrKeyExists) {
			fmt.Fprintln(os.Stderr, op, err)
			os.Exit(3)
		}
		fmt.Printf("A %s %x\n", op, key)
	}
	var deleted [][]byte
	for i := 1; ; i++ {
		k := testKey("k"+cycle, i)
		do("I", k, func() error { return s.Insert(k, testValue(k)) })
		if i%5 == 0 {
			d := testKey("k"+cycle, i-3)
			do("D", d, func() error { return s.Delete(d) })
			deleted = append(deleted, d)
		}
		if i%11 == 0 && len(deleted) > 0 {
			r := deleted[0]
			deleted = deleted[1:]
			do("I", r, func() error { return s.Insert(r, testValue(r)) })
		}
		if (kind == "ops" && i == n) || i == 20_000 {
			die()
		}
	}
}

// TestKillDuringRotation SIGKILLs a writer that rotates without pause, at
// each step of a rotation in turn and at random moments, at least 24
// times over one set; after each kill the set is opened as a user would
// and every acknowledged live item must be there with its value, every
// acknowledged deletion must hold, the manifest must name only files that
// exist and leave none unnamed, and every generation must verify.
func TestKillDuringRotation(t *testing.T) {
	if os.Getenv("ROTATE_CHILD_DIR") != "" {
		rotationChild(t)
		return
	}
	cycles := 24
	if testing.Short() {
		cycles = 8
	}
	dir := filepath.Join(t.TempDir(), "set")
	model := map[string]byte{} // key -> 'I' (must be there if live) or 'D' (must be gone)
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), 1))
	for c := range cycles {
		crash := fmt.Sprintf("ops:%d", 200+rng.IntN(1500))
		if i := c % (len(crashSteps) + 1); i < len(crashSteps) {
			crash = fmt.Sprintf("step:%s:%d", crashSteps[i], 1+rng.IntN(3))
		}
		acked, doubt := runRotationChild(t, dir, c, crash)
		for _, a := range acked {
			model[a.key] = a.op
		}
		if doubt != "" {
			delete(model, doubt) // its last operation may or may not have happened
		}
		s, err := Open(dir, nil)
		if err != nil {
			t.Fatalf("cycle %d (%s): open after the kill: %v", c, crash, err)
		}
		checked := 0
		for k, op := range model {
			key := []byte(k)
			switch {
			case op == 'D':
				mustMiss(t, s, key)
			case live(key):
				mustFetch(t, s, key)
				checked++
			}
		}
		gens := s.Generations()
		checkFiles(t, dir, gens)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		for _, g := range gens {
			rep, err := nudb.Verify(g.DataPath, g.KeyPath, nil)
			if err != nil || !rep.OK() {
				t.Fatalf("cycle %d: verify generation %d: %v %+v", c, g.ID, err, rep.Problems)
			}
		}
		t.Logf("cycle %d (%s): %d acknowledged this run, %d live items checked, generations %v",
			c, crash, len(acked), checked, idsOfGens(gens))
	}
}

type ackedOp struct {
	op  byte
	key string
}

// runRotationChild runs one writer until it kills itself and returns the
// operations it acknowledged, in order, and the key of the one it had
// begun and not acknowledged.
func runRotationChild(t *testing.T, dir string, cycle int, crash string) (acked []ackedOp, doubt string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillDuringRotation$")
	cmd.Env = append(os.Environ(), "ROTATE_CHILD_DIR="+dir, "ROTATE_CYCLE="+strconv.Itoa(cycle), "ROTATE_CRASH="+crash)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			continue // a line cut by the kill
		}
		key, err := hex.DecodeString(f[2])
		if err != nil || len(key) != 32 {
			continue
		}
		switch f[0] {
		case "B":
			doubt = string(key)
		case "A":
			acked = append(acked, ackedOp{op: f[1][0], key: string(key)})
			doubt = ""
		}
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("cycle %d (%s): writer ended with %v, not SIGKILL: %s", cycle, crash, err, stderr.String())
	}
	return acked, doubt
}

// checkFiles: the manifest names the open generations, their files exist,
// and no generation file is left that it does not name.
func checkFiles(t *testing.T, dir string, gens []Generation) {
	t.Helper()
	named, err := ReadGenerations(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(idsOfGens(named), idsOfGens(gens)) {
		t.Fatalf("manifest names %v, the set opened %v", idsOfGens(named), idsOfGens(gens))
	}
	for _, g := range named {
		for _, p := range []string{g.DataPath, g.KeyPath} {
			if _, err := os.Stat(p); err != nil {
				t.Fatalf("the manifest names %s: %v", p, err)
			}
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if id, ok := parseGenName(e.Name()); ok && !slices.Contains(idsOfGens(named), id) {
			t.Fatalf("%s is left and no manifest names it", e.Name())
		}
	}
}

func idsOfGens(gens []Generation) []uint64 {
	ids := make([]uint64, len(gens))
	for i, g := range gens {
		ids[i] = g.ID
	}
	return ids
}
