package ledger

import (
	"context"
	"fmt"
	"maps"
	"sync"

	"github.com/shopspring/decimal"
)

// MemoryStore is a Store in memory. Safe for concurrent use.
type MemoryStore struct {
	mu       sync.Mutex
	txs      []Transaction
	byID     map[string]int
	reversed map[string]bool
	taken    map[string]map[int]decimal.Decimal // booking → order seq → taken back
	balances map[string]*Balance
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{byID: map[string]int{}, reversed: map[string]bool{}, taken: map[string]map[int]decimal.Decimal{},
		balances: map[string]*Balance{}}
}

// Post implements Store.
func (m *MemoryStore) Post(_ context.Context, t Transaction) (bool, error) {
	if !t.Balanced() {
		return false, fmt.Errorf("post %s: %w", t.ID, ErrUnbalanced)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.byID[t.ID]; ok {
		return false, nil
	}
	var taken map[int]decimal.Decimal // t.Of's after t
	if t.Of != "" {
		i, ok := m.byID[t.Of]
		if !ok {
			return false, fmt.Errorf("post %s: part of %s: %w", t.ID, t.Of, ErrNotFound)
		}
		booked := m.txs[i].SellerAmounts(Credit)
		taken = maps.Clone(m.taken[t.Of])
		if taken == nil {
			taken = map[int]decimal.Decimal{}
		}
		for seq, amount := range t.SellerAmounts(Debit) {
			if taken[seq] = taken[seq].Add(amount); taken[seq].GreaterThan(booked[seq]) {
				return false, fmt.Errorf("post %s: order %d of %s: %s taken back of %s: %w", t.ID, seq, t.Of, taken[seq], booked[seq], ErrOverReversed)
			}
		}
	}
	if t.Reverses != "" {
		if _, ok := m.byID[t.Reverses]; !ok {
			return false, fmt.Errorf("post %s: reverses %s: %w", t.ID, t.Reverses, ErrNotFound)
		}
		if m.reversed[t.Reverses] {
			return false, fmt.Errorf("post %s: %w", t.ID, ErrAlreadyReversed)
		}
		m.reversed[t.Reverses] = true
	}
	if t.Of != "" {
		m.taken[t.Of] = taken
	}
	t.Entries = append([]Entry(nil), t.Entries...)
	m.byID[t.ID] = len(m.txs)
	m.txs = append(m.txs, t)
	for _, e := range t.Entries {
		b := m.balances[e.Account]
		if b == nil {
			b = &Balance{Account: e.Account, Debits: decimal.Zero, Credits: decimal.Zero}
			m.balances[e.Account] = b
		}
		if e.Side == Debit {
			b.Debits = b.Debits.Add(e.Amount)
		} else {
			b.Credits = b.Credits.Add(e.Amount)
		}
	}
	return true, nil
}

// TakenBack implements Store.
func (m *MemoryStore) TakenBack(_ context.Context, booking string) (map[int]decimal.Decimal, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := maps.Clone(m.taken[booking])
	if out == nil {
		out = map[int]decimal.Decimal{}
	}
	return out, nil
}

// Transaction implements Store.
func (m *MemoryStore) Transaction(_ context.Context, id string) (Transaction, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i, ok := m.byID[id]
	if !ok {
		return Transaction{}, fmt.Errorf("transaction %s: %w", id, ErrNotFound)
	}
	return m.txs[i], nil
}

// Transactions implements Store.
func (m *MemoryStore) Transactions(context.Context) ([]Transaction, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Transaction(nil), m.txs...), nil
}

// Balances implements Store.
func (m *MemoryStore) Balances(context.Context) ([]Balance, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Balance, 0, len(m.balances))
	for _, b := range m.balances {
		out = append(out, *b)
	}
	return out, nil
}
