// Package benchkit is nudb's benchmark harness: the workloads, the
// machine's own limits measured through the same I/O path, and the report
// (a markdown table with the ratios that matter, and JSON). It is shared by
// `nudbtool bench`, which runs it for nudb alone, and by the bench module
// (../bench), which adds the peer stores; peers never enter the library's
// dependencies.
//
// Workloads (32-byte random keys, 128-byte random values):
//
//	load        bulk load N items, durability off, one writer, batched the idiomatic way per store;
//	            the inserts and the final sync and close are timed apart (the ratios count both)
//	durable-1   one writer, each insert acknowledged per the mode before the next, for a fixed time
//	durable-16  16 goroutines, the same (group commit shows here)
//	fetch-cold  random fetches after a clean reopen with the store's files dropped from the page cache
//	fetch-1/-2  random fetches of present keys, 1 and 2 goroutines, after every store's files
//	            were read into the page cache once (the same warm-up for every store)
//	miss        random fetches of absent keys
//	open-clean  open after a clean close
//	open-crash  open after the loading process was killed with SIGKILL (items that survived,
//	            against the items the store's API had acknowledged)
//	rebuild     full index rebuild of the loaded store, where the store has one
//
// Every fetch cell runs for a fixed time (at least a second), every durable
// cell for -duration. Drivers run each store as its own experts would and
// say so (Describer: the settings changed from the store's defaults, and
// what an acknowledged write survives per mode); a workload a store cannot
// serve is a row marked n/a with the reason (Limited). The order of the
// stores rotates between runs.
//
// Speeds are reported as ratios against baselines measured in the same run,
// because the machine is shared and noisy.
package benchkit
