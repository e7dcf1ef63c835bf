package benchkit

// Driver opens one kind of store.
type Driver interface {
	// Name is the store's name in the report: nudb, pogreb, bbolt, ...
	Name() string
	// Variants lists the configurations to run, e.g. nudb's I/O engines.
	Variants() []Variant
	// Modes lists the durability modes the durable workloads run in
	// ("always", "interval", "never"; a peer: the closest it has).
	Modes() []string
	// Open opens a store at path in a durability mode ("always",
	// "interval" or "never"), creating it empty first when fresh. path is a
	// directory of its own, or for a device target the device (the driver
	// keeps its other files in dir).
	Open(v Variant, path, dir string, mode string, fresh bool) (DB, error)
}

// Variant is one configuration of a driver.
type Variant struct {
	Engine string // "io_uring", "pwrite", or "" for peers
	Target string // "file" or "device"
	// Full runs every workload; otherwise only load, durable and fetch-1.
	Full bool
}

// DB is an open store.
type DB interface {
	// Load inserts items [0, n) with durability off, batched idiomatically,
	// calling progress after each batch with the count so far.
	Load(n int, item func(i int) (key, value []byte), progress func(done int)) error
	// Put inserts one item, durable per the mode it was opened with.
	Put(key, value []byte) error
	// Get fetches a key; found says whether it is there.
	Get(key []byte) (found bool, err error)
	// Count returns the number of items.
	Count() (int, error)
	Close() error
}

// Rebuilder is a Driver that can rebuild its index from its data.
type Rebuilder interface {
	// Rebuild rebuilds the closed store at path and returns the bytes read.
	Rebuild(path, dir string) (bytesRead int64, err error)
}

// Unlocker is a Driver whose store may stay locked for a moment after its
// process was killed; WaitUnlocked blocks until it is free.
type Unlocker interface {
	WaitUnlocked(path, dir string) error
}
