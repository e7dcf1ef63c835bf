package nudb

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// killValue is the value the writer child inserts for item i.
func killValue(i int) []byte {
	n := (i * 7919) % 6000
	v := make([]byte, n)
	for j := range v {
		v[j] = byte(i ^ j)
	}
	return v
}

// runKillChild is the writer process: it inserts items from NUDB_START on
// and prints the index of each acknowledged insert, until it is killed.
func runKillChild() {
	mode, _ := strconv.Atoi(os.Getenv("NUDB_MODE"))
	start, _ := strconv.Atoi(os.Getenv("NUDB_START"))
	s, err := Open(os.Getenv("NUDB_DATA"), os.Getenv("NUDB_KEY"), &Options{Sync: SyncMode(mode), SyncInterval: 2e6})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(3)
	}
	for i := start; ; i++ {
		if err := s.Insert(testKey(i), killValue(i)); err != nil {
			fmt.Fprintln(os.Stderr, "child insert:", err)
			os.Exit(4)
		}
		os.Stdout.WriteString(strconv.Itoa(i) + "\n")
	}
}

func TestKillWriter(t *testing.T) {
	if os.Getenv("NUDB_KILL_CHILD") != "" {
		runKillChild()
		return
	}
	cycles := 8
	if testing.Short() {
		cycles = 3
	}
	targets := map[string]func(t *testing.T) string{
		"file":   func(t *testing.T) string { return filepath.Join(t.TempDir(), "data") },
		"device": func(t *testing.T) string { return loopDevice(t, 128<<20) },
	}
	for _, target := range []string{"file", "device"} {
		for _, mode := range []SyncMode{SyncAlways, SyncInterval, SyncNever} {
			t.Run(target+"/"+mode.String(), func(t *testing.T) {
				data := targets[target](t)
				key := filepath.Join(t.TempDir(), "key")
				if err := Create(data, key, &Options{Overwrite: true}); err != nil {
					t.Fatal(err)
				}
				rng := rand.New(rand.NewPCG(uint64(mode), 7))
				var acked []int
				for c := 0; c < cycles; c++ {
					killAfter := 1 + rng.IntN(300)
					acked = append(acked, killChildAfter(t, data, key, mode, c*1_000_000, killAfter)...)
					s, err := Open(data, key, nil)
					if err != nil {
						t.Fatalf("cycle %d: open after kill -9: %v", c, err)
					}
					for _, i := range acked {
						v, err := s.Fetch(testKey(i))
						if err != nil || !bytes.Equal(v, killValue(i)) {
							s.Close()
							t.Fatalf("cycle %d: acknowledged item %d lost after kill -9: %v (recovery %+v)", c, i, err, s.Stats().Recovery)
						}
					}
					rec := s.Stats().Recovery
					if err := s.Close(); err != nil {
						t.Fatal(err)
					}
					if rep, err := Verify(data, key, nil); err != nil || !rep.OK() {
						t.Fatalf("cycle %d: verify: %v %+v", c, err, rep.Problems)
					}
					t.Logf("cycle %d: killed after %d acks; %d acknowledged items all present; recovery verified %d records, dropped %d, rebuilt %v",
						c, killAfter, len(acked), rec.RecordsVerified, rec.RecordsDropped, rec.Rebuilt)
				}
			})
		}
	}
}

// killChildAfter runs a writer child, SIGKILLs it once it has acknowledged
// n inserts, and returns every insert it acknowledged before it died.
func killChildAfter(t *testing.T, data, key string, mode SyncMode, start, n int) []int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillWriter$")
	cmd.Env = append(os.Environ(), "NUDB_KILL_CHILD=1", "NUDB_DATA="+data, "NUDB_KEY="+key,
		"NUDB_MODE="+strconv.Itoa(int(mode)), "NUDB_START="+strconv.Itoa(start))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []int
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() {
		i, err := strconv.Atoi(sc.Text())
		if err != nil {
			continue // a line cut by the kill
		}
		acked = append(acked, i)
		if len(acked) == n && !killed {
			cmd.Process.Signal(syscall.SIGKILL)
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("writer child exited by itself: %v: %s", err, stderr.String())
	}
	waitUnlocked(t, data)
	return acked
}

// waitUnlocked blocks until no process holds the store's lock. A killed
// process's io_uring is torn down asynchronously, and its in-flight requests
// keep the data file (and so its lock) referenced for a moment after the
// process is gone; a blocking flock waits for exactly that.
func waitUnlocked(t *testing.T, path string) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	start := time.Now()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 10*time.Millisecond {
		t.Logf("the killed writer's lock lingered %v", d)
	}
}
