package nudb

import (
	"sync"
	"sync/atomic"
)

// pendingSet holds the requests on their way into the log, chained by key
// hash, so that of racing inserts of one key exactly one is admitted: a
// request is admitted only if no pending request and no index entry has
// its key, and both checks happen under one hold of mu.
type pendingSet struct {
	mu sync.Mutex
	m  map[uint64]*request
	// n counts the requests in m. A fetch under SyncWriteBehind reads it
	// without the lock: a request admitted before the fetch began is
	// counted until it is dropped, which happens only after it is indexed,
	// so a zero means the index has everything acknowledged.
	n atomic.Int64
}

func newPendingSet() *pendingSet { return &pendingSet{m: make(map[uint64]*request)} }

// existsFunc reports whether the index already holds r's key.
type existsFunc func(r *request) (bool, error)

// admit registers r unless its key is pending or indexed (ErrKeyExists).
func (p *pendingSet) admit(r *request, exists existsFunc) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.admitLocked(r, exists)
}

// admitRun admits the requests of rs in one hold of the lock (a batch
// takes it once per few dozen items), appending those admitted to dst. A
// key already stored or pending is counted in skipped, not admitted.
func (p *pendingSet) admitRun(rs []request, exists existsFunc, dst []*request) (_ []*request, skipped int, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range rs {
		switch err := p.admitLocked(&rs[i], exists); err {
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

func (p *pendingSet) admitLocked(r *request, exists existsFunc) error {
	for q := p.m[r.hash]; q != nil; q = q.nextSame {
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
	r.nextSame = p.m[r.hash]
	p.m[r.hash] = r
	p.n.Add(1)
	return nil
}

// find calls fn with the value of the pending request that has key, under
// the lock (the request's bytes stay put until it is dropped), and reports
// whether there was one.
func (p *pendingSet) find(h uint64, key []byte, fn func(value []byte)) bool {
	if p.n.Load() == 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for q := p.m[h]; q != nil; q = q.nextSame {
		if string(q.key) == string(key) {
			fn(q.value)
			return true
		}
	}
	return false
}

// drop removes requests (after indexing, or on failure).
func (p *pendingSet) drop(reqs []*request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range reqs {
		if head := p.m[r.hash]; head == r {
			if r.nextSame == nil {
				delete(p.m, r.hash)
			} else {
				p.m[r.hash] = r.nextSame
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
	}
	p.n.Add(-int64(len(reqs)))
}
