package pebble

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"sync"

	"github.com/cockroachdb/pebble"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/localkv"
	"github.com/paystream/paystream/wallet"
)

var _ wallet.Store = (*Store)(nil)

// Key prefixes (see the package documentation).
const (
	prefixMessage = 'm'
	prefixBalance = 'b'
)

var keyApplied = []byte{'n'}

func key(prefix byte, rest string) []byte { return append([]byte{prefix}, rest...) }

// Store is the wallets in a Pebble database. Safe for concurrent use.
type Store struct {
	db       *pebble.DB
	messages *localkv.Filter // every message id applied

	mu       sync.Mutex // held by Apply from its check to its commit
	applied  uint64
	balances map[string]decimal.Decimal
}

// Open opens the wallets in dir (localkv.Open: created if absent, bounded memory). Close
// it. Errors name dir.
func Open(dir string) (*Store, error) {
	db, err := localkv.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("wallet: %w", err)
	}
	s := &Store{db: db, messages: localkv.NewFilter(), balances: map[string]decimal.Decimal{}}
	if err := s.load(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("wallet: open %s: %w", dir, err)
	}
	return s, nil
}

// load reads the balances, the message ids applied into the filter, and their count.
func (s *Store) load() error {
	err := localkv.Scan(s.db, prefixBalance, func(k, v []byte) error {
		amount, err := decimal.NewFromString(string(v))
		if err != nil {
			return fmt.Errorf("balance of %s: %w", k, err)
		}
		s.balances[string(k)] = amount
		return nil
	})
	if err == nil {
		err = localkv.Scan(s.db, prefixMessage, func(k, _ []byte) error { s.messages.Add(string(k)); return nil })
	}
	if err != nil {
		return err
	}
	raw, closer, err := s.db.Get(keyApplied)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	defer closer.Close()
	s.applied = binary.BigEndian.Uint64(raw)
	return nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Apply implements wallet.Store.
func (s *Store) Apply(_ context.Context, messageID string, credits []wallet.Credit) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.messages.MayContain(messageID) { // else new, which is what Apply mostly sees: no read
		_, closer, err := s.db.Get(key(prefixMessage, messageID))
		switch {
		case err == nil:
			return false, closer.Close()
		case !errors.Is(err, pebble.ErrNotFound):
			return false, fmt.Errorf("apply %s: %w", messageID, err)
		}
	}
	b := s.db.NewBatch()
	defer b.Close()
	moved := map[string]decimal.Decimal{}
	for _, c := range credits {
		bal, ok := moved[c.SellerID]
		if !ok {
			bal = s.balances[c.SellerID]
		}
		moved[c.SellerID] = bal.Add(c.Amount)
	}
	err := b.Set(key(prefixMessage, messageID), nil, nil)
	for seller, bal := range moved {
		err = errors.Join(err, b.Set(key(prefixBalance, seller), []byte(bal.String()), nil))
	}
	err = errors.Join(err, b.Set(keyApplied, binary.BigEndian.AppendUint64(nil, s.applied+1), nil))
	if err == nil {
		err = b.Commit(pebble.NoSync)
	}
	if err != nil {
		return false, fmt.Errorf("apply %s: %w", messageID, err)
	}
	s.applied++
	s.messages.Add(messageID)
	maps.Copy(s.balances, moved)
	return true, nil
}

// Balances implements wallet.Store.
func (s *Store) Balances(context.Context) ([]wallet.Balance, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]wallet.Balance, 0, len(s.balances))
	for seller, amount := range s.balances {
		out = append(out, wallet.Balance{SellerID: seller, Amount: amount})
	}
	return out, nil
}

// Applied implements wallet.Store.
func (s *Store) Applied(context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int(s.applied), nil
}
