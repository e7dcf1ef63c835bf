package nudb

import (
	"context"
	"errors"
	"fmt"
	"iter"

	"github.com/nudbgo/nudb/datafile"
	"github.com/nudbgo/nudb/internal/ioengine"
)

// Item is one key and value of the store, as an iterator yields it. Both
// slices are valid only until the iteration step returns: copy what you
// keep.
type Item struct {
	Key, Value []byte
}

// Visit calls fn for every item written when Visit starts, in log order.
// key and value are valid only during the call. An error from fn stops the
// walk and is returned. Records lost to media damage are stepped over: every
// item that survives is visited, and Visit then returns ErrCorrupt saying
// what was skipped (Verify reports the same damage). fn may call the
// store's methods; during Close they return ErrClosed.
func (s *Store) Visit(fn func(key, value []byte) error) error {
	return s.VisitContext(context.Background(), fn)
}

// VisitContext is Visit that stops with ctx.Err() once ctx is done
// (checked before each record).
func (s *Store) VisitContext(ctx context.Context, fn func(key, value []byte) error) error {
	if fn == nil || ctx == nil {
		return fmt.Errorf("%w: Visit needs a context and a function", ErrInvalidArgument)
	}
	c, ok := s.gate.enter(0, &s.closed)
	if !ok {
		return ErrClosed
	}
	defer s.gate.exit(c, &s.closed)
	end := int64(s.kf.Watermarks().Written)
	return visitLog(ctx, s.df, s.geom, end, func(r *datafile.Record) error {
		return datafile.EachItem(r.Payload, r.Items, r.PayloadOffset(), s.geom.KeySize, func(_ int64, k, v []byte) error {
			return fn(k, v)
		})
	})
}

// errStopIteration ends a walk when the loop over an iterator breaks.
var errStopIteration = errors.New("iteration stopped")

// All returns an iterator over every item written when each iteration
// starts, in log order: for key, value := range s.All(). Key and value are
// valid only during the loop body. Breaking out of the loop releases
// everything the walk holds. The iterator may be ranged over more than
// once; each pass walks the log anew.
//
// All cannot report an error: it stops where the walk fails (a closed
// store, an I/O error) and steps over media damage like Visit. Use Items to
// see the error.
func (s *Store) All() iter.Seq2[[]byte, []byte] {
	return func(yield func(key, value []byte) bool) {
		for it, err := range s.Items(context.Background()) {
			if err != nil || !yield(it.Key, it.Value) {
				return
			}
		}
	}
}

// Items is All that reports errors the way the iter package's guidance
// advises for fallible sequences: every item comes with a nil error, and a
// failure comes as one last pair with the zero Item and the error (the
// ErrCorrupt that Visit returns after stepping over damage; ctx.Err() once
// ctx is done; ErrClosed). Breaking out of the loop releases everything.
//
//	for it, err := range s.Items(ctx) {
//		if err != nil {
//			return err
//		}
//		use(it.Key, it.Value)
//	}
func (s *Store) Items(ctx context.Context) iter.Seq2[Item, error] {
	return func(yield func(Item, error) bool) {
		err := s.VisitContext(ctx, func(k, v []byte) error {
			if !yield(Item{Key: k, Value: v}, nil) {
				return errStopIteration
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStopIteration) {
			yield(Item{}, err)
		}
	}
}

// visitLog calls fn for every valid record below end, in log order,
// stepping over damaged records; it reports what it stepped over.
func visitLog(ctx context.Context, df *ioengine.File, g datafile.Geometry, end int64, fn func(r *datafile.Record) error) error {
	size := int(datafile.RoundUp(int64(2*datafile.MaxRecordSize(g.KeySize, g.BlockSize)), g.BlockSize))
	a, err := ioengine.NewArena(size)
	if err != nil {
		return err
	}
	defer a.Free()
	w := datafile.NewWalker(g, df, end, a.Bytes()[:size], g.LogStart(), datafile.Header{}, false)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		r, err := w.Next()
		if errors.Is(err, datafile.ErrEndOfLog) {
			break
		}
		if err != nil {
			return err
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
	switch {
	case len(w.Gaps) > 0:
		return fmt.Errorf("%w: %d damaged stretches of the log skipped, the first at %d", ErrCorrupt, len(w.Gaps), w.Gaps[0].At)
	case w.Pos() < end:
		return fmt.Errorf("%w: log breaks at %d before %d: %v", ErrCorrupt, w.Pos(), end, w.Reason())
	}
	return nil
}
