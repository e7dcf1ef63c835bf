package main

import (
	"flag"
	"os"

	"github.com/nudbgo/nudb/benchkit"
)

func main() {
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	drivers := []benchkit.Driver{
		benchkit.Nudb{},
		pogrebDriver{}, bboltDriver{}, badgerDriver{}, pebbleDriver{}, gonudbDriver{},
	}
	plots := func(fs *flag.FlagSet) func(*benchkit.Report) error {
		dir := fs.String("plot", "", "write PNG bar charts to this directory")
		return func(r *benchkit.Report) error {
			if *dir == "" {
				return nil
			}
			return writePlots(r, *dir)
		}
	}
	os.Exit(benchkit.Main(os.Args[1:], []string{exe}, drivers, os.Stdout, os.Stderr, plots))
}
