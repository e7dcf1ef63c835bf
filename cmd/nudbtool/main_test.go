package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/nudbgo/nudb"
	"github.com/nudbgo/nudb/rotate"
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
			// mkset DIR N: a rotation set of N items in three generations
			// (N/3 inserted before each of two rotations and after them).
			"mkset": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 2 {
					ts.Fatalf("usage: mkset DIR N")
				}
				n, _ := strconv.Atoi(args[1])
				set, err := rotate.Open(ts.MkAbs(args[0]), &rotate.Options{Generations: 3})
				ts.Check(err)
				for i := range n {
					key := sha256.Sum256([]byte(strconv.Itoa(i)))
					ts.Check(set.Insert(key[:], key[:]))
					if i == n/3 || i == 2*n/3 {
						_, err := set.Rotate(context.Background(), nil)
						ts.Check(err)
					}
				}
				ts.Check(set.Close())
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

// get, export and verify run beside a live writer (the store is locked by
// it): they open the store read-only, see what it wrote, and write nothing.
func TestGetAndExportBesideALiveWriter(t *testing.T) {
	dir := t.TempDir()
	data, key := filepath.Join(dir, "data"), filepath.Join(dir, "key")
	if err := nudb.Create(data, key, nil); err != nil {
		t.Fatal(err)
	}
	w, err := nudb.Open(data, key, &nudb.Options{Sync: nudb.SyncNever})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	k := make([]byte, 32)
	k[0] = 0xab
	if err := w.Insert(k, []byte("written by the live writer")); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	c := &cli{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut}
	if code := c.main([]string{"get", data, key, hex.EncodeToString(k)}); code != exitOK || out.String() != "written by the live writer" {
		t.Fatalf("get beside a writer: exit %d, %q, stderr %q", code, out.String(), errOut.String())
	}
	out.Reset()
	exp := filepath.Join(dir, "export")
	if code := c.main([]string{"export", data, key, exp}); code != exitOK {
		t.Fatalf("export beside a writer: exit %d, stderr %q", code, errOut.String())
	}
	if v, err := os.ReadFile(filepath.Join(exp, hex.EncodeToString(k))); err != nil || string(v) != "written by the live writer" {
		t.Fatalf("exported value: %q %v", v, err)
	}
	out.Reset()
	if code := c.main([]string{"verify", data, key}); code != exitOK || !strings.Contains(out.String(), "live writer: 1 items") {
		t.Fatalf("verify beside a writer: exit %d, %q, stderr %q", code, out.String(), errOut.String())
	}
	if code := c.main([]string{"put", data, key, hex.EncodeToString(k)}); code == exitOK {
		t.Fatal("put beside a live writer succeeded")
	}
}
