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

// Describer is a Driver that says how it configures its store, for the
// report: every setting it changes from the store's defaults, and what an
// acknowledged write survives in each mode.
type Describer interface {
	// Settings lists the settings changed from the store's defaults
	// ("defaults" when none).
	Settings() string
	// Survives says what a write acknowledged in mode survives: a process
	// crash, a power loss, or neither.
	Survives(mode string) string
}

// Limited is a Driver that cannot run some workloads meaningfully.
type Limited interface {
	// NotApplicable returns why workload ("durable", "open-crash",
	// "rebuild") does not apply, or "" when it does.
	NotApplicable(workload string) string
}

// ByteCounter is a DB that reports the bytes it has written to its log.
type ByteCounter interface {
	BytesWritten() int64
}

// WriterHint is a DB that writes differently for one writer and for many
// (bbolt: Update for one, the shared commits of db.Batch for many); the
// durable workloads tell it how many goroutines will call Put.
type WriterHint interface {
	SetWriters(n int)
}
