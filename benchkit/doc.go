// Package benchkit is nudb's benchmark harness: the workloads, the
// machine's own limits measured through the same I/O path, and the report
// (a markdown table with the ratios that matter, and JSON). It is shared by
// `nudbtool bench`, which runs it for nudb alone, and by the bench module
// (../bench), which adds the peer stores; peers never enter the library's
// dependencies.
//
// Workloads (32-byte random keys, 128-byte random values):
//
//	load        bulk load N items, durability off, one writer, batched the idiomatic way per store
//	durable-1   one writer, each insert durable before the next, for a fixed time
//	durable-16  16 goroutines, each insert durable, for a fixed time (group commit shows here)
//	fetch-1/-2  N random fetches of present keys after close and reopen, 1 and 2 goroutines
//	miss        N random fetches of absent keys
//	open-clean  open after a clean close
//	open-crash  open after the loading process was killed with SIGKILL (items that survived)
//	rebuild     full key-file rebuild of the loaded store (nudb)
//
// Speeds are reported as ratios against baselines measured in the same run,
// because the machine is shared and noisy.
package benchkit
