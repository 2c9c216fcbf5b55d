package pebble

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	kv "github.com/cockroachdb/pebble"

	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/localkv"
	"github.com/paystream/paystream/projections"
)

var _ projections.Store = (*Store)(nil)

// ErrIncompatible: the directory holds a database this version cannot read (another
// layout, not a read model, or a checkpoint that does not decode). Its owner removes it and
// rebuilds from position 0.
var ErrIncompatible = errors.New("read model directory holds an incompatible database")

// ErrClosed: the store was closed.
var ErrClosed = errors.New("read model closed")

// format is the value of the format key: the layout doc.go describes, version 1.
const format = "paystream.readmodel.v1"

// checkEvery is how many index entries a scan reads between looks at its context.
const checkEvery = 256

// Store is the read model in a Pebble database. Safe for concurrent use: commits are
// serialised, reads run beside them on Pebble snapshots.
type Store struct {
	db *kv.DB

	// life guards db against Close: every operation holds it shared, Close exclusively.
	life   sync.RWMutex
	closed bool

	// write serialises Commit (load the rows, apply, write), so that the rows it loads are
	// the stored ones.
	write sync.Mutex

	// mu guards the cached checkpoint and its channel, closed and replaced at every commit
	// that moves it (WaitFor).
	mu         sync.Mutex
	checkpoint Mark
	changed    chan struct{}
}

// Open opens (creating it if absent) the read model in dir with localkv's bounded memory. It
// fails with ErrIncompatible when dir holds a database of another layout, and with the
// error naming dir when it cannot open it. Close it.
func Open(dir string) (*Store, error) {
	db, err := localkv.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("open read model: %w", err)
	}
	s := &Store{db: db, changed: make(chan struct{})}
	if err := s.init(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open read model %s: %w", dir, err)
	}
	return s, nil
}

// init checks the format of an existing database, or writes it into an empty one, and
// reads the checkpoint.
func (s *Store) init() error {
	v, err := get(s.db, formatKey)
	switch {
	case err != nil:
		return err
	case v == nil:
		empty, err := s.empty()
		if err != nil {
			return err
		}
		if !empty {
			return fmt.Errorf("%w: no format key", ErrIncompatible)
		}
		if err := s.db.Set(formatKey, []byte(format), kv.NoSync); err != nil {
			return err
		}
	case string(v) != format:
		return fmt.Errorf("%w: format %q, this version reads %q", ErrIncompatible, v, format)
	}
	v, err = get(s.db, checkpointKey)
	if err != nil || v == nil {
		return err
	}
	if s.checkpoint, err = decodeMark(v); err != nil {
		return fmt.Errorf("%w: %w", ErrIncompatible, err) // derived data: rebuilding it is the cure
	}
	return nil
}

func (s *Store) empty() (bool, error) {
	it, err := s.db.NewIter(nil)
	if err != nil {
		return false, err
	}
	empty := !it.First()
	return empty, errors.Join(it.Error(), it.Close())
}

// Close closes the database; operations after it fail with ErrClosed. Closing again does
// nothing.
func (s *Store) Close() error {
	s.life.Lock()
	defer s.life.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.db.Close()
}

// open takes the shared hold on the database; release it with s.life.RUnlock.
func (s *Store) open(op string) error {
	s.life.RLock()
	if s.closed {
		s.life.RUnlock()
		return fmt.Errorf("%s: %w", op, ErrClosed)
	}
	return nil
}

// get returns a copy of key's value, nil when there is none.
func get(r kv.Reader, key []byte) ([]byte, error) {
	v, closer, err := r.Get(key)
	if errors.Is(err, kv.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return append([]byte{}, v...), nil
}

// row reads a payment row; ok is false when there is none.
func row(r kv.Reader, orderID string) (p projections.Payment, ok bool, err error) {
	v, closer, err := r.Get(paymentKey(orderID))
	if errors.Is(err, kv.ErrNotFound) {
		return projections.Payment{}, false, nil
	}
	if err != nil {
		return projections.Payment{}, false, err
	}
	defer closer.Close()
	p, err = decodePayment(v) // copies what it keeps
	return p, err == nil, err
}

// Checkpoint returns the position of the last applied event.
func (s *Store) Checkpoint(ctx context.Context) (eventstore.Position, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.checkpoint.Position, nil
}

// CheckpointMark returns the event the checkpoint stands at (zero before the first
// commit), so that its owner can check, at start, that its event store still holds that
// event at that position.
func (s *Store) CheckpointMark() Mark {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.checkpoint
}

// Commit applies events in one Pebble batch; see projections.Target. It reads each payment
// the events touch once, and writes each changed row once with its index keys, the
// history and the checkpoint.
func (s *Store) Commit(ctx context.Context, from eventstore.Position, events []eventstore.RecordedEvent) (projections.Batch, error) {
	if err := s.open("commit"); err != nil {
		return projections.Batch{}, err
	}
	defer s.life.RUnlock()
	s.write.Lock()
	defer s.write.Unlock()
	if cp := s.CheckpointMark().Position; cp != from {
		return projections.Batch{}, fmt.Errorf("commit after %d (stored %d): %w", from, cp, projections.ErrCheckpointMoved)
	}
	rows := map[string]*projections.Payment{}
	for _, e := range events {
		if e.Position <= from {
			continue // ApplyBatch skips it
		}
		id := projections.OrderIDOf(e.Stream)
		if _, seen := rows[id]; seen {
			continue
		}
		if e.Revision == 0 {
			// The stream starts after the checkpoint, so it has no row: no lookup (a miss
			// is the dearest one, it searches every level of the database).
			rows[id] = nil
			continue
		}
		p, ok, err := row(s.db, id)
		if err != nil {
			return projections.Batch{}, fmt.Errorf("commit: load %s: %w", id, err)
		}
		rows[id] = nil // none yet: ApplyBatch reads a nil entry as a missing one
		if ok {
			rows[id] = &p
		}
	}
	b := projections.ApplyBatch(rows, from, events)
	if b.Applied == 0 {
		return b, nil
	}
	wb := s.db.NewBatch()
	defer wb.Close()
	var buf []byte
	for i, p := range b.Changed {
		buf = encodePayment(buf[:0], p)
		if err := wb.Set(paymentKey(p.OrderID), buf, nil); err != nil {
			return projections.Batch{}, fmt.Errorf("commit: %w", err)
		}
		if err := moveIndexKeys(wb, b.Before[i], p); err != nil {
			return projections.Batch{}, fmt.Errorf("commit: %w", err)
		}
	}
	var key []byte
	for _, h := range b.History {
		key, buf = historyKey(key[:0], h), encodeHistory(buf[:0], h)
		if err := wb.Set(key, buf, nil); err != nil {
			return projections.Batch{}, fmt.Errorf("commit: %w", err)
		}
	}
	mark := Mark{Position: b.Checkpoint}
	for _, e := range events {
		if e.Position == b.Checkpoint {
			mark.Stream, mark.EventID = e.Stream, e.ID
			break
		}
	}
	if err := wb.Set(checkpointKey, encodeMark(mark), nil); err != nil {
		return projections.Batch{}, fmt.Errorf("commit: %w", err)
	}
	if err := wb.Commit(kv.NoSync); err != nil {
		return projections.Batch{}, fmt.Errorf("commit: %w", err)
	}
	s.mu.Lock()
	s.checkpoint = mark
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	return b, nil
}

// moveIndexKeys deletes the index keys the row had before that it no longer has, and writes
// those it now has that it did not (before nil: a new row).
func moveIndexKeys(wb *kv.Batch, before, after *projections.Payment) error {
	var old [][]byte
	if before != nil {
		old = indexKeys(before)
	}
	now := indexKeys(after)
	for _, k := range old {
		if !containsKey(now, k) {
			if err := wb.Delete(k, nil); err != nil {
				return err
			}
		}
	}
	for _, k := range now {
		if !containsKey(old, k) {
			if err := wb.Set(k, nil, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

func containsKey(keys [][]byte, k []byte) bool {
	for _, c := range keys {
		if bytes.Equal(c, k) {
			return true
		}
	}
	return false
}

// DeadLetter records a poison event; recording it again replaces it.
func (s *Store) DeadLetter(ctx context.Context, d projections.DeadLetter) error {
	if err := s.open("dead letter"); err != nil {
		return err
	}
	defer s.life.RUnlock()
	if err := s.db.Set(deadKey(d.Position), encodeDeadLetter(d), kv.NoSync); err != nil {
		return fmt.Errorf("dead letter %s@%d: %w", d.Stream, d.Revision, err)
	}
	return nil
}

// DeadLetters lists the poison events by position.
func (s *Store) DeadLetters(ctx context.Context) ([]projections.DeadLetter, error) {
	if err := s.open("dead letters"); err != nil {
		return nil, err
	}
	defer s.life.RUnlock()
	var out []projections.DeadLetter
	err := scan(ctx, s.db, []byte{prefixDead}, prefixEnd([]byte{prefixDead}), func(k, v []byte) (bool, error) {
		d, err := decodeDeadLetter(v)
		out = append(out, d)
		return true, err
	})
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	return out, nil
}

// Payment returns one payment; projections.ErrNotFound when absent.
func (s *Store) Payment(ctx context.Context, orderID string) (projections.Payment, error) {
	if err := s.open("payment"); err != nil {
		return projections.Payment{}, err
	}
	defer s.life.RUnlock()
	p, ok, err := row(s.db, orderID)
	switch {
	case err != nil:
		return projections.Payment{}, fmt.Errorf("payment %s: %w", orderID, err)
	case !ok:
		return projections.Payment{}, fmt.Errorf("payment %s: %w", orderID, projections.ErrNotFound)
	}
	return p, nil
}

// History returns a payment's status changes in position order.
func (s *Store) History(ctx context.Context, orderID string) ([]projections.History, error) {
	if err := s.open("history"); err != nil {
		return nil, err
	}
	defer s.life.RUnlock()
	prefix := historyPrefix(nil, orderID)
	var out []projections.History
	err := scan(ctx, s.db, prefix, prefixEnd(prefix), func(k, v []byte) (bool, error) {
		h, err := decodeHistory(orderID, k, v)
		out = append(out, h)
		return true, err
	})
	if err != nil {
		return nil, fmt.Errorf("history %s: %w", orderID, err)
	}
	return out, nil
}

// scan calls fn with every key in [lower, upper) in order and its value (both valid only
// during the call) until fn returns false or an error, or ctx ends.
func scan(ctx context.Context, r kv.Reader, lower, upper []byte, fn func(k, v []byte) (bool, error)) error {
	it, err := r.NewIter(&kv.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return err
	}
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		if n++; n%checkEvery == 0 {
			if err := ctx.Err(); err != nil {
				it.Close()
				return err
			}
		}
		more, err := fn(it.Key(), it.Value())
		if err != nil || !more {
			it.Close()
			return err
		}
	}
	return errors.Join(it.Error(), it.Close())
}

// List returns one page; see projections.ReadModel. It walks an index in (CreatedAt,
// OrderID) order from the cursor (or CreatedFrom) to CreatedTo and stops at the first
// limit+1 rows that match: the status index when the filter names a status, the created
// index otherwise. The other conditions (seller, buyer) are checked on each row read, so a
// filter that matches few rows reads more of them to fill a page.
func (s *Store) List(ctx context.Context, f projections.Filter) (projections.Page, error) {
	after, err := f.After()
	if err != nil {
		return projections.Page{}, fmt.Errorf("list: %w", err)
	}
	limit := projections.NormLimit(f.Limit)
	if err := s.open("list"); err != nil {
		return projections.Page{}, err
	}
	defer s.life.RUnlock()

	prefix, tag := byte(prefixCreated), ""
	if f.Status != "" {
		prefix, tag = prefixStatus, statusTag(f.Status)
	}
	whole := append([]byte{prefix}, tag...)
	lower, upper := whole, prefixEnd(whole)
	if !f.CreatedFrom.IsZero() {
		lower = timeKey(prefix, tag, f.CreatedFrom, "") // floored to the microsecond: Matches decides
	}
	if after != nil {
		if k := successor(timeKey(prefix, tag, after.CreatedAt, after.OrderID)); bytes.Compare(k, lower) > 0 {
			lower = k
		}
	}
	if !f.CreatedTo.IsZero() {
		upper = timeKey(prefix, tag, f.CreatedTo.Add(time.Microsecond), "") // past it: Matches decides
	}
	snap := s.db.NewSnapshot()
	defer snap.Close()
	var page projections.Page
	skip := 1 + len(tag) + timeLen
	err = scan(ctx, snap, lower, upper, func(k, _ []byte) (bool, error) {
		id := string(k[skip:])
		p, ok, err := row(snap, id)
		if err != nil {
			return false, fmt.Errorf("row %s: %w", id, err)
		}
		if ok && f.Matches(p) { // the seek past the cursor leaves only rows after it
			page.Items = append(page.Items, p)
		}
		return len(page.Items) <= limit, nil
	})
	if err != nil {
		return projections.Page{}, fmt.Errorf("list: %w", err)
	}
	if len(page.Items) > limit {
		page.Items = page.Items[:limit]
		page.NextCursor = projections.EncodeCursor(page.Items[limit-1])
	}
	return page, nil
}

// OpenForRecovery returns the payments open for recovery (aggregate.State.Open), oldest
// UpdatedAt first. It walks the open index, which holds only the payments that are open at
// some cutoff (mayBeOpen), and checks the aggregate's rule on each row at executingBefore:
// those EXECUTING since after it are read and passed over.
func (s *Store) OpenForRecovery(ctx context.Context, executingBefore time.Time, limit int) ([]string, error) {
	if err := s.open("due for recovery"); err != nil {
		return nil, err
	}
	defer s.life.RUnlock()
	snap := s.db.NewSnapshot()
	defer snap.Close()
	ids := []string{}
	if limit <= 0 {
		return ids, nil
	}
	whole := []byte{prefixOpen}
	err := scan(ctx, snap, whole, prefixEnd(whole), func(k, _ []byte) (bool, error) {
		id := string(k[1+timeLen:])
		p, ok, err := row(snap, id)
		if err != nil {
			return false, fmt.Errorf("row %s: %w", id, err)
		}
		if ok && projections.StateOf(p).Open(executingBefore) {
			ids = append(ids, id)
		}
		return len(ids) < limit, nil
	})
	if err != nil {
		return nil, fmt.Errorf("due for recovery: %w", err)
	}
	return ids, nil
}

// DepositsDue returns a page of the payments waiting for a deposit due by dueBy
// (projections.Payment.DepositDue); see projections.ReadModel. The waiting index holds
// exactly the waiting payments in DueCursor order, so the page is read from the index keys
// alone: from the cursor to the first due date after dueBy.
func (s *Store) DepositsDue(ctx context.Context, dueBy time.Time, limit int, cursor string) ([]string, string, error) {
	whole := []byte{prefixWaiting}
	lower := whole
	if cursor != "" {
		c, err := projections.DecodeDueCursor(cursor)
		if err != nil {
			return nil, "", fmt.Errorf("deposits due: %w", err)
		}
		lower = successor(timeKey(prefixWaiting, "", c.DueDate, c.OrderID))
	}
	// Due dates are whole microseconds: due ≤ dueBy is due < dueBy floored, plus a microsecond.
	upper := timeKey(prefixWaiting, "", dueBy.Add(time.Microsecond), "")
	if dueBy.Before(time.Time{}) {
		upper = prefixEnd(timeKey(prefixWaiting, "", time.Time{}, "")) // only rows without an account
	}
	limit = projections.NormLimit(limit)
	if err := s.open("deposits due"); err != nil {
		return nil, "", err
	}
	defer s.life.RUnlock()
	var keys []projections.DueCursor
	err := scan(ctx, s.db, lower, upper, func(k, _ []byte) (bool, error) {
		keys = append(keys, projections.DueCursor{DueDate: readTime(k[1:]), OrderID: string(k[1+timeLen:])})
		return len(keys) <= limit, nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("deposits due: %w", err)
	}
	ids, next := projections.DuePage(keys, limit)
	return ids, next, nil
}

// WaitFor returns once position p is applied, or ctx's error.
func (s *Store) WaitFor(ctx context.Context, p eventstore.Position) error {
	for {
		s.mu.Lock()
		cp, changed := s.checkpoint.Position, s.changed
		s.mu.Unlock()
		if cp >= p {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("wait for position %d (at %d): %w", p, cp, ctx.Err())
		}
	}
}
