package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"nudbtool": func() {
			c := &cli{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, stderrTTY: isTerminal(os.Stderr)}
			os.Exit(c.main(os.Args[1:]))
		},
	})
}

// TestScripts runs the command end to end through the built binary: every
// file in testdata/script is a session with its expected output and exit
// codes.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// crash DATA KEY N: run a writer process, SIGKILL it after N
			// acknowledged inserts, leaving an unclean store behind.
			"crash": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 3 {
					ts.Fatalf("usage: crash DATA KEY N")
				}
				n, _ := strconv.Atoi(args[2])
				exe := ""
				for _, dir := range filepath.SplitList(ts.Getenv("PATH")) {
					if p := filepath.Join(dir, "nudbtool"); fileExists(p) {
						exe = p
						break
					}
				}
				acked, err := runDemoWriter(exe, ts.MkAbs(args[0]), ts.MkAbs(args[1]), 0, n)
				ts.Check(err)
				fmt.Fprintf(ts.Stdout(), "writer acknowledged %d inserts before SIGKILL\n", len(acked))
			},
			// garble FILE OFFSET LEN: overwrite bytes with a pattern.
			"garble": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 3 {
					ts.Fatalf("usage: garble FILE OFFSET LEN")
				}
				off, _ := strconv.ParseInt(args[1], 10, 64)
				n, _ := strconv.Atoi(args[2])
				f, err := os.OpenFile(ts.MkAbs(args[0]), os.O_WRONLY, 0)
				ts.Check(err)
				b := make([]byte, n)
				for i := range b {
					b[i] = byte(i*7 + 13)
				}
				_, err = f.WriteAt(b, off)
				ts.Check(err)
				ts.Check(f.Close())
			},
		},
	})
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
