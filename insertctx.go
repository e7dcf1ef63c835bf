package nudb

import (
	"context"
	"fmt"
	"time"
)

// InsertContext is Insert that stops waiting once ctx is done and returns
// ctx.Err(). The item is copied first, so cancellation never leaves the
// writer reading the caller's slices; a cancelled insert may still be
// written and become durable (and a later Insert of the key then returns
// ErrKeyExists), or not: its outcome is unknown, as with any write whose
// acknowledgement was not waited for. A context that can never be
// cancelled costs nothing extra (it is Insert).
func (s *Store) InsertContext(ctx context.Context, key, value []byte) error {
	if ctx == nil {
		return fmt.Errorf("%w: nil context", ErrInvalidArgument)
	}
	if ctx.Done() == nil || s.w == nil {
		return s.Insert(key, value)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	h, c, err := s.enterItem(key, value)
	if err != nil {
		return err
	}
	defer s.leaveInsert(c, time.Now())
	if s.opts.Sync == SyncWriteBehind {
		return s.insertBehind(key, value, h) // it copies, and waits only past WriteBehindBytes
	}
	w := s.w
	// Not pooled: after a cancellation the writer still holds the op.
	op := &insertOp{}
	op.w.done = make(chan struct{}, 1)
	op.hold(key, value, h)
	if err := s.pending.admit(&op.req, s.indexed); err != nil {
		return err
	}
	if err := w.enqueue(&op.req); err != nil {
		s.pending.drop([]*request{&op.req})
		return err
	}
	// The writer goroutine writes it (never this caller, whose wait must
	// stay interruptible).
	w.wakeUp()
	select {
	case <-op.w.done:
		return op.w.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// InsertBatchContext is InsertBatch that stops waiting once ctx is done
// and returns ctx.Err(). The items are copied first, so the batch's slices
// are the caller's again at once; the cancelled batch goes on being
// written, in whole or in part, and its outcome is unknown (a later Insert
// of one of its keys may then return ErrKeyExists). A context that can
// never be cancelled costs nothing extra (it is InsertBatch).
func (s *Store) InsertBatchContext(ctx context.Context, b *Batch) (skipped int, err error) {
	if ctx == nil {
		return 0, fmt.Errorf("%w: nil context", ErrInvalidArgument)
	}
	if ctx.Done() == nil || b == nil || s.w == nil {
		return s.InsertBatch(b)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n := 0
	for i := range b.keys {
		n += len(b.keys[i]) + len(b.values[i])
	}
	buf := make([]byte, 0, n)
	own := &Batch{keys: make([][]byte, len(b.keys)), values: make([][]byte, len(b.keys))}
	for i := range b.keys {
		buf = append(buf, b.keys[i]...)
		own.keys[i] = buf[len(buf)-len(b.keys[i]):]
		buf = append(buf, b.values[i]...)
		own.values[i] = buf[len(buf)-len(b.values[i]):]
	}
	type result struct {
		skipped int
		err     error
	}
	done := make(chan result, 1)
	go func() {
		n, err := s.InsertBatch(own)
		done <- result{n, err}
	}()
	select {
	case r := <-done:
		return r.skipped, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}
