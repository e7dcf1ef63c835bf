package nudb

import "sync"

// pendingSet holds the requests on their way into the log, chained by key
// hash, so that of racing inserts of one key exactly one is admitted: a
// request is admitted only if no pending request and no index entry has
// its key, and both checks happen under one hold of mu.
type pendingSet struct {
	mu sync.Mutex
	m  map[uint64]*request
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
	return nil
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
}
