package main

import "fmt"

func cmdBench(c *cli, args []string) int {
	fmt.Fprintln(c.stderr, "nudbtool: bench is not built yet")
	return exitUsage
}
