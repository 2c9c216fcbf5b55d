package memory

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/projections"
)

var _ projections.Store = (*Store)(nil)

// Store holds the read models in memory. Safe for concurrent use.
type Store struct {
	mu         sync.RWMutex
	payments   map[string]*projections.Payment
	history    map[string][]projections.History
	dead       map[eventstore.Position]projections.DeadLetter
	checkpoint eventstore.Position
	changed    chan struct{} // closed and replaced at every commit
}

// New returns an empty read model at checkpoint 0.
func New() *Store {
	return &Store{payments: map[string]*projections.Payment{}, history: map[string][]projections.History{},
		dead: map[eventstore.Position]projections.DeadLetter{}, changed: make(chan struct{})}
}

// Checkpoint returns the position of the last applied event.
func (s *Store) Checkpoint(ctx context.Context) (eventstore.Position, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.checkpoint, nil
}

// Commit applies events atomically; see projections.Target.
func (s *Store) Commit(ctx context.Context, from eventstore.Position, events []eventstore.RecordedEvent) (projections.Batch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.checkpoint != from {
		return projections.Batch{}, fmt.Errorf("commit after %d (stored %d): %w", from, s.checkpoint, projections.ErrCheckpointMoved)
	}
	rows := map[string]*projections.Payment{}
	for _, id := range projections.OrderIDs(events) {
		if p, ok := s.payments[id]; ok {
			rows[id] = p
		}
	}
	b := projections.ApplyBatch(rows, from, events)
	for _, p := range b.Changed {
		s.payments[p.OrderID] = p
	}
	for _, h := range b.History {
		s.history[h.OrderID] = append(s.history[h.OrderID], h)
	}
	if b.Checkpoint != s.checkpoint {
		s.checkpoint = b.Checkpoint
		close(s.changed)
		s.changed = make(chan struct{})
	}
	return b, nil
}

// DeadLetter records a poison event.
func (s *Store) DeadLetter(ctx context.Context, d projections.DeadLetter) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dead[d.Position] = d
	return nil
}

// DeadLetters lists the poison events by position.
func (s *Store) DeadLetters(ctx context.Context) ([]projections.DeadLetter, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]projections.DeadLetter, 0, len(s.dead))
	for _, d := range s.dead {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b projections.DeadLetter) int { return cmpPos(a.Position, b.Position) })
	return out, nil
}

// Payment returns a copy of one payment; projections.ErrNotFound when absent.
func (s *Store) Payment(ctx context.Context, orderID string) (projections.Payment, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, ok := s.payments[orderID]
	if !ok {
		return projections.Payment{}, fmt.Errorf("payment %s: %w", orderID, projections.ErrNotFound)
	}
	return clone(p), nil
}

// History returns a payment's status changes.
func (s *Store) History(ctx context.Context, orderID string) ([]projections.History, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.history[orderID]), nil
}

// List returns one page; see projections.ReadModel.
func (s *Store) List(ctx context.Context, f projections.Filter) (projections.Page, error) {
	after, err := f.After()
	if err != nil {
		return projections.Page{}, fmt.Errorf("list: %w", err)
	}
	limit := projections.NormLimit(f.Limit)
	s.mu.RLock()
	var match []*projections.Payment
	for _, p := range s.payments {
		if f.Matches(*p) && (after == nil || after.After(*p)) {
			match = append(match, p)
		}
	}
	slices.SortFunc(match, func(a, b *projections.Payment) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.OrderID, b.OrderID)
	})
	var page projections.Page
	for i, p := range match {
		if i == limit {
			page.NextCursor = projections.EncodeCursor(page.Items[limit-1])
			break
		}
		page.Items = append(page.Items, clone(p))
	}
	s.mu.RUnlock()
	return page, nil
}

// OpenForRecovery returns the payments open for recovery (aggregate.State.Open), oldest
// first.
func (s *Store) OpenForRecovery(ctx context.Context, executingBefore time.Time, limit int) ([]string, error) {
	s.mu.RLock()
	var due []*projections.Payment
	for _, p := range s.payments {
		if projections.StateOf(*p).Open(executingBefore) { // the aggregate's rule, not a copy
			due = append(due, p)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(due, func(a, b *projections.Payment) int {
		if c := a.UpdatedAt.Compare(b.UpdatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.OrderID, b.OrderID)
	})
	ids := make([]string, 0, min(limit, len(due)))
	for _, p := range due {
		if len(ids) >= limit {
			break
		}
		ids = append(ids, p.OrderID)
	}
	return ids, nil
}

// DepositsDue returns a page of the payments waiting for a deposit due by dueBy
// (projections.Payment.DepositDue), earliest due date first; see projections.ReadModel.
func (s *Store) DepositsDue(ctx context.Context, dueBy time.Time, limit int, cursor string) ([]string, string, error) {
	var after *projections.DueCursor
	if cursor != "" {
		c, err := projections.DecodeDueCursor(cursor)
		if err != nil {
			return nil, "", fmt.Errorf("deposits due: %w", err)
		}
		after = &c
	}
	limit = projections.NormLimit(limit)
	s.mu.RLock()
	var due []projections.DueCursor
	for _, p := range s.payments {
		if p.DepositDue(dueBy) && (after == nil || after.Before(*p)) {
			due = append(due, projections.DueCursorOf(*p))
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(due, func(a, b projections.DueCursor) int {
		if c := a.DueDate.Compare(b.DueDate); c != 0 {
			return c
		}
		return strings.Compare(a.OrderID, b.OrderID)
	})
	ids, next := projections.DuePage(due, limit)
	return ids, next, nil
}

// WaitFor returns once position p is applied, or ctx's error.
func (s *Store) WaitFor(ctx context.Context, p eventstore.Position) error {
	for {
		s.mu.RLock()
		cp, changed := s.checkpoint, s.changed
		s.mu.RUnlock()
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

func clone(p *projections.Payment) projections.Payment {
	c := *p
	c.Orders = slices.Clone(p.Orders)
	c.Refunds = slices.Clone(p.Refunds)
	if p.VirtualAccount != nil {
		va := *p.VirtualAccount
		c.VirtualAccount = &va
	}
	for i := range c.Refunds {
		c.Refunds[i].Orders = slices.Clone(c.Refunds[i].Orders)
	}
	return c
}

func cmpPos(a, b eventstore.Position) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
