package main

import (
	"os"

	"github.com/nudbgo/nudb/benchkit"
)

// cmdBench runs the benchmark harness for nudb alone; the peer stores are
// compared by the bench module (cd bench && go run .), which keeps their
// dependencies out of this one.
func cmdBench(c *cli, args []string) int {
	exe, err := os.Executable()
	if err != nil {
		return c.fail(exitUsage, err)
	}
	drivers := []benchkit.Driver{benchkit.Nudb{}}
	return benchkit.Main(args, []string{exe, "bench"}, drivers, c.stdout, c.stderr, nil)
}
