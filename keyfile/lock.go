package keyfile

import (
	"sync"
	"unsafe"
)

// lockShards is how many read locks the table is split into.
const lockShards = 16

// shardedRWMutex is a reader/writer lock whose readers spread over several
// cache lines: a lookup read-locks the shard its hash picks, so two cores
// fetching at once do not bounce one lock word between them. The writer
// locks every shard (in order), which excludes every reader.
type shardedRWMutex struct {
	shards [lockShards]struct {
		sync.RWMutex
		_ [64 - unsafe.Sizeof(sync.RWMutex{})]byte // one cache line each
	}
}

func (m *shardedRWMutex) Lock() {
	for i := range m.shards {
		m.shards[i].Lock()
	}
}

func (m *shardedRWMutex) Unlock() {
	for i := range m.shards {
		m.shards[i].Unlock()
	}
}

// RLock read-locks shard 0: enough to exclude the writer.
func (m *shardedRWMutex) RLock()   { m.shards[0].RLock() }
func (m *shardedRWMutex) RUnlock() { m.shards[0].RUnlock() }

// rlockFor read-locks the shard for hash h and returns it for the unlock.
func (m *shardedRWMutex) rlockFor(h uint64) *sync.RWMutex {
	s := &m.shards[h%lockShards].RWMutex
	s.RLock()
	return s
}
