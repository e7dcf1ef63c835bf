package nudb

import (
	"sync"
	"sync/atomic"

	"github.com/nudbgo/nudb/keyfile"
)

// pendingSet holds the requests on their way into the log, chained by key
// hash, so that of racing inserts of one key exactly one is admitted: a
// request is admitted only if no pending request and no index entry has
// its key, and both checks happen under one hold of its shard's lock.
//
// The set is sharded by key hash: a key lives in one shard, so the rule
// holds per shard, and inserters of different keys (and the writer
// dropping settled requests) no longer queue on one lock. With one lock,
// 16 SyncWriteBehind inserters spent most of their time waiting for it,
// since the duplicate check's index lookup (a cache miss) runs under it.
type pendingSet struct {
	shards [pendingShards]pendingShard
}

// pendingShards is the number of shards (a power of two).
const pendingShards = 64

type pendingShard struct {
	mu sync.Mutex
	m  map[uint64]*request
	// n counts the requests in m. A fetch under SyncWriteBehind reads it
	// without the lock: a request admitted before the fetch began is
	// counted until it is dropped, which happens only after it is indexed,
	// so a zero means the index has everything acknowledged in the shard.
	n atomic.Int64
	// Shards sit on cache lines of their own, so that locking one does not
	// take the line of another from the other core.
	_ [64]byte
}

func newPendingSet() *pendingSet {
	p := &pendingSet{}
	for i := range p.shards {
		p.shards[i].m = make(map[uint64]*request)
	}
	return p
}

// shard is the shard of key hash h. The bits are above those that pick a
// bucket and below the tag's.
func (p *pendingSet) shard(h uint64) *pendingShard {
	return &p.shards[h>>32&(pendingShards-1)]
}

// prefetchRun is how many requests admitRun prefetches for at a time:
// the index's own prefetch distance.
const prefetchRun = keyfile.PrefetchAhead

// existsFunc reports whether the index already holds r's key.
type existsFunc func(r *request) (bool, error)

// admit registers r unless its key is pending or indexed (ErrKeyExists).
func (p *pendingSet) admit(r *request, exists existsFunc) error {
	s := p.shard(r.hash)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.admitLocked(r, exists)
}

// admitRun admits the requests of rs, appending those admitted to dst. A
// key already stored or pending is counted in skipped, not admitted.
// Before admitting each run of prefetchRun requests it calls prefetch
// with the next run, so the index lines their duplicate checks read are on
// their way while the run before is checked.
func (p *pendingSet) admitRun(rs []request, exists existsFunc, prefetch func([]request), dst []*request) (_ []*request, skipped int, err error) {
	prefetch(rs[:min(prefetchRun, len(rs))])
	for i := range rs {
		if i%prefetchRun == 0 && i+prefetchRun < len(rs) {
			prefetch(rs[i+prefetchRun : min(i+2*prefetchRun, len(rs))])
		}
		switch err := p.admit(&rs[i], exists); err {
		case nil:
			dst = append(dst, &rs[i])
		case ErrKeyExists:
			skipped++
		default:
			return dst, skipped, err
		}
	}
	return dst, skipped, nil
}

func (s *pendingShard) admitLocked(r *request, exists existsFunc) error {
	for q := s.m[r.hash]; q != nil; q = q.nextSame {
		if string(q.key) == string(r.key) {
			return ErrKeyExists
		}
	}
	ok, err := exists(r)
	if err != nil {
		return err
	}
	if ok {
		return ErrKeyExists
	}
	r.nextSame = s.m[r.hash]
	s.m[r.hash] = r
	s.n.Add(1)
	return nil
}

// find calls fn with the value of the pending request that has key, under
// the lock (the request's bytes stay put until it is dropped), and reports
// whether there was one.
func (p *pendingSet) find(h uint64, key []byte, fn func(value []byte)) bool {
	s := p.shard(h)
	if s.n.Load() == 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for q := s.m[h]; q != nil; q = q.nextSame {
		if string(q.key) == string(key) {
			fn(q.value)
			return true
		}
	}
	return false
}

// drop removes requests (after indexing, or on failure), holding each
// shard's lock across a run of requests in that shard.
func (p *pendingSet) drop(reqs []*request) {
	var held *pendingShard
	for _, r := range reqs {
		if s := p.shard(r.hash); s != held {
			if held != nil {
				held.mu.Unlock()
			}
			held = s
			held.mu.Lock()
		}
		held.remove(r)
	}
	if held != nil {
		held.mu.Unlock()
	}
}

// remove unlinks r from its chain; the caller holds the lock.
func (s *pendingShard) remove(r *request) {
	if head := s.m[r.hash]; head == r {
		if r.nextSame == nil {
			delete(s.m, r.hash)
		} else {
			s.m[r.hash] = r.nextSame
		}
	} else {
		for q := head; q != nil; q = q.nextSame {
			if q.nextSame == r {
				q.nextSame = r.nextSame
				break
			}
		}
	}
	r.nextSame = nil
	s.n.Add(-1)
}
