// Command nudbtool creates, inspects, loads, verifies and rebuilds nudb
// stores, and runs nudb's demo and benchmarks.
//
// Exit status, like grep and diff: 0 success; 1 a negative answer (verify
// found problems, get found no such key); 2 a usage error, a bad argument,
// or a file that cannot be opened.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

const (
	exitOK       = 0
	exitNegative = 1
	exitUsage    = 2
)

// command is one verb.
type command struct {
	name, args, help string
	run              func(c *cli, args []string) int
}

// cli carries the standard streams, so tests and the demo can run verbs
// in-process.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	stderrTTY      bool // show progress bars
}

var commands []command

func init() {
	commands = []command{
		{"create", "[-key-size N] [-block-size N] [-overwrite] DATA KEY", "create an empty store", cmdCreate},
		{"info", storeOrSetArgs, "show header, watermarks, items, sizes (or a rotation set's generations); read-only", cmdInfo},
		{"put", "[-file F] DATA KEY HEXKEY", "store the value from stdin or F under HEXKEY", cmdPut},
		{"get", "DATA KEY HEXKEY", "write the value of HEXKEY to stdout", cmdGet},
		{"import", "DATA KEY PATH...", "store files (directories walked) under the SHA-256 of their content", cmdImport},
		{"export", "DATA KEY DIR", "write every item to DIR/<hex key>", cmdExport},
		{"verify", storeOrSetArgs, "check every record, item and index entry (of every generation of a rotation set); read-only", cmdVerify},
		{"rebuild", "DATA KEY", "write a new key file from the data file", cmdRebuild},
		{"rotate", "[-generations N] SET_DIR", "rotate a set: deleted items leave, space comes back", cmdRotate},
		{"bench", "[-quick] [-json FILE] [...]", "run nudb's benchmarks (peers: cd bench && go run .)", cmdBench},
		{"demo", "[-items N] [-keep]", "create, load, kill a writer, recover and verify a store in a temporary directory", cmdDemo},
	}
}

func (c *cli) usage() {
	fmt.Fprintln(c.stderr, "usage: nudbtool COMMAND [flags] ARGS")
	fmt.Fprintln(c.stderr)
	for _, cmd := range commands {
		fmt.Fprintf(c.stderr, "  %-8s %s\n           %s\n", cmd.name, cmd.args, cmd.help)
	}
	fmt.Fprintln(c.stderr, "\nExit status: 0 success, 1 negative answer (verify found problems, get found no key), 2 usage or I/O error.")
}

func main() {
	c := &cli{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, stderrTTY: isTerminal(os.Stderr)}
	os.Exit(c.main(os.Args[1:]))
}

func (c *cli) main(args []string) int {
	if len(args) == 0 {
		c.usage()
		return exitUsage
	}
	if args[0] == demoWriterVerb {
		return demoWriter(c, args[1:])
	}
	for _, cmd := range commands {
		if cmd.name == args[0] {
			out := &checkedWriter{w: c.stdout}
			c.stdout = out
			code := cmd.run(c, args[1:])
			if out.err != nil {
				return c.fail(exitUsage, fmt.Errorf("writing the output: %w", out.err))
			}
			return code
		}
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		c.usage()
		return exitOK
	}
	fmt.Fprintf(c.stderr, "nudbtool: unknown command %q\n", args[0])
	c.usage()
	return exitUsage
}

// flags returns a flag set for a verb that reports errors on c.stderr.
func (c *cli) flags(name, args string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "usage: nudbtool %s %s\n", name, args)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags and checks the positional argument count (max < 0:
// no upper bound). It returns false after printing why.
func (c *cli) parse(fs *flag.FlagSet, args []string, min, max int) bool {
	if err := fs.Parse(args); err != nil {
		return false
	}
	if n := fs.NArg(); n < min || (max >= 0 && n > max) {
		fs.Usage()
		return false
	}
	return true
}

// checkedWriter remembers the first error of the writes through it, so a
// full disk or a closed pipe under stdout is an error exit, not a silent 0.
type checkedWriter struct {
	w   io.Writer
	err error
}

func (c *checkedWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.err = err
	return n, err
}

// fail prints err as one sentence and returns the exit code for it.
func (c *cli) fail(code int, err error) int {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "nudb: ")
	fmt.Fprintf(c.stderr, "nudbtool: %s\n", msg)
	return code
}

var errNegative = errors.New("negative answer")
