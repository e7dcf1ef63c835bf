// Package killchild runs a writer in a child process and kills it with
// SIGKILL mid-flight, the way the kill -9 tests, the demo and the benchmark
// crash a store: the child prints one line per acknowledged insert, and
// what it printed before it died is what a crash must not lose.
package killchild

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// Run starts cmd, reads its standard output line by line, and sends it
// SIGKILL once it has printed n lines that are whole numbers. It returns
// those numbers, in order, as acknowledged before the kill (a line cut by
// the kill is not one). A child that exits by itself is an error.
func Run(cmd *exec.Cmd, n int) ([]int, error) {
	return RunUntil(cmd, func(acked []int) bool { return len(acked) >= n })
}

// RunUntil is Run with the moment of the kill chosen by kill, which sees
// the numbers printed so far after each one.
func RunUntil(cmd *exec.Cmd, kill func(acked []int) bool) ([]int, error) {
	var stderr bytes.Buffer
	if cmd.Stderr == nil {
		cmd.Stderr = &stderr
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var acked []int
	killed := false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		i, err := strconv.Atoi(sc.Text())
		if err != nil {
			continue
		}
		acked = append(acked, i)
		if !killed && kill(acked) {
			cmd.Process.Signal(syscall.SIGKILL)
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		return acked, fmt.Errorf("killchild: the child exited by itself (%v): %s", err, stderr.String())
	}
	return acked, nil
}

// WaitUnlocked blocks until no process holds a lock on path, and says how
// long that took. A killed writer's io_uring is torn down asynchronously
// and keeps its file, and so its lock, for some milliseconds after the
// process is gone. nudb's Open waits for that itself (Options.LockTimeout);
// the benchmark waits here first so that its open time is recovery alone.
func WaitUnlocked(path string) (time.Duration, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	start := time.Now()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}
