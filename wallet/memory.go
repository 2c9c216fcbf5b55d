package wallet

import (
	"context"
	"sync"

	"github.com/shopspring/decimal"
)

// MemoryStore is a Store in memory. Safe for concurrent use.
type MemoryStore struct {
	mu       sync.Mutex
	applied  map[string]bool
	balances map[string]decimal.Decimal
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{applied: map[string]bool{}, balances: map[string]decimal.Decimal{}}
}

// Apply implements Store.
func (m *MemoryStore) Apply(_ context.Context, messageID string, credits []Credit) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.applied[messageID] {
		return false, nil
	}
	m.applied[messageID] = true
	for _, c := range credits {
		m.balances[c.SellerID] = m.balances[c.SellerID].Add(c.Amount)
	}
	return true, nil
}

// Balances implements Store.
func (m *MemoryStore) Balances(context.Context) ([]Balance, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Balance, 0, len(m.balances))
	for s, a := range m.balances {
		out = append(out, Balance{SellerID: s, Amount: a})
	}
	return out, nil
}

// Applied implements Store.
func (m *MemoryStore) Applied(context.Context) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.applied), nil
}
