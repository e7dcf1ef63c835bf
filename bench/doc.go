// Command bench compares nudb with the stores its users would pick instead
// (pogreb, bbolt, badger, pebble, gonudb) and with the machine's own
// limits, all in one run, through benchkit (the harness nudbtool bench
// runs for nudb alone). It is its own module so that the peers never enter
// nudb's dependencies.
//
//	go run . -quick -json results.json -plot plots
package main
