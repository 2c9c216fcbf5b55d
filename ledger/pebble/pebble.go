package pebble

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"

	"github.com/go-json-experiment/json/v1"

	"github.com/cockroachdb/pebble"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/ledger"
	"github.com/paystream/paystream/localkv"
)

var _ ledger.Store = (*Store)(nil)

// Key prefixes (see the package documentation).
const (
	prefixID          = 'i'
	prefixTransaction = 's'
	prefixReversed    = 'r'
	prefixTaken       = 'k'
	prefixBalance     = 'b'
)

func key(prefix byte, rest string) []byte { return append([]byte{prefix}, rest...) }

func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefixTransaction}, seq)
}

// Store is the ledger in a Pebble database. Safe for concurrent use.
type Store struct {
	db  *pebble.DB
	ids *localkv.Filter // every transaction id posted

	mu       sync.Mutex // held by Post from its checks to its commit
	posted   uint64     // transactions posted: the seq of the last
	balances map[string]ledger.Balance
}

// Open opens the ledger in dir (localkv.Open: created if absent, bounded memory). Close it.
// Errors name dir.
func Open(dir string) (*Store, error) {
	db, err := localkv.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	s := &Store{db: db, ids: localkv.NewFilter(), balances: map[string]ledger.Balance{}}
	if err := s.load(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("ledger: open %s: %w", dir, err)
	}
	return s, nil
}

// load reads the balances, the ids posted (into the filter) and the last seq.
func (s *Store) load() error {
	err := localkv.Scan(s.db, prefixBalance, func(k, v []byte) error {
		b, err := decodeBalance(string(k), v)
		s.balances[b.Account] = b
		return err
	})
	if err == nil {
		err = localkv.Scan(s.db, prefixID, func(k, _ []byte) error { s.ids.Add(string(k)); return nil })
	}
	if err != nil {
		return err
	}
	it, err := s.db.NewIter(prefixed(prefixTransaction))
	if err != nil {
		return err
	}
	if it.Last() {
		s.posted = binary.BigEndian.Uint64(it.Key()[1:])
	}
	return it.Close()
}

// prefixed bounds an iterator to the keys with prefix.
func prefixed(prefix byte) *pebble.IterOptions {
	return &pebble.IterOptions{LowerBound: []byte{prefix}, UpperBound: []byte{prefix + 1}}
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// get decodes the JSON value at k into v; found is false when there is none.
func (s *Store) get(k []byte, v any) (found bool, err error) {
	raw, closer, err := s.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer closer.Close()
	if v == nil {
		return true, nil
	}
	return true, json.Unmarshal(raw, v)
}

// seqOf is the seq transaction id was posted at, zero when it was not. It reads the
// database only when the filter says id may have been posted: a new id, which is what Post
// mostly sees, reads no file.
func (s *Store) seqOf(id string) (uint64, error) {
	if !s.ids.MayContain(id) {
		return 0, nil
	}
	raw, closer, err := s.db.Get(key(prefixID, id))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer closer.Close()
	return binary.BigEndian.Uint64(raw), nil
}

// transaction is transaction id; found is false when it was not posted.
func (s *Store) transaction(id string) (t ledger.Transaction, found bool, err error) {
	seq, err := s.seqOf(id)
	if err != nil || seq == 0 {
		return ledger.Transaction{}, false, err
	}
	if found, err = s.get(seqKey(seq), &t); err == nil && !found {
		err = fmt.Errorf("no transaction at %d: %w", seq, pebble.ErrNotFound)
	}
	return t, err == nil, err
}

// Post implements ledger.Store.
func (s *Store) Post(_ context.Context, t ledger.Transaction) (bool, error) {
	if !t.Balanced() {
		return false, fmt.Errorf("post %s: %w", t.ID, ledger.ErrUnbalanced)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq, err := s.seqOf(t.ID); err != nil || seq != 0 {
		return false, wrap("post "+t.ID, err)
	}
	b := s.db.NewBatch()
	defer b.Close()
	if t.Of != "" {
		booking, found, err := s.transaction(t.Of)
		if err != nil {
			return false, wrap("post "+t.ID, err)
		}
		if !found {
			return false, fmt.Errorf("post %s: part of %s: %w", t.ID, t.Of, ledger.ErrNotFound)
		}
		booked := booking.SellerAmounts(ledger.Credit)
		taken := map[int]decimal.Decimal{}
		if _, err := s.get(key(prefixTaken, t.Of), &taken); err != nil {
			return false, wrap("post "+t.ID, err)
		}
		for seq, amount := range t.SellerAmounts(ledger.Debit) {
			if taken[seq] = taken[seq].Add(amount); taken[seq].GreaterThan(booked[seq]) {
				return false, fmt.Errorf("post %s: order %d of %s: %s taken back of %s: %w", t.ID, seq, t.Of, taken[seq], booked[seq], ledger.ErrOverReversed)
			}
		}
		if err := set(b, key(prefixTaken, t.Of), taken); err != nil {
			return false, wrap("post "+t.ID, err)
		}
	}
	if t.Reverses != "" {
		if seq, err := s.seqOf(t.Reverses); err != nil || seq == 0 {
			return false, wrap("post "+t.ID+": reverses "+t.Reverses, cmpErr(err, ledger.ErrNotFound))
		}
		if found, err := s.get(key(prefixReversed, t.Reverses), nil); err != nil || found {
			return false, wrap("post "+t.ID, cmpErr(err, ledger.ErrAlreadyReversed))
		}
		if err := b.Set(key(prefixReversed, t.Reverses), nil, nil); err != nil {
			return false, wrap("post "+t.ID, err)
		}
	}
	seq := s.posted + 1
	err := errors.Join(set(b, seqKey(seq), t), b.Set(key(prefixID, t.ID), binary.BigEndian.AppendUint64(nil, seq), nil))
	moved := map[string]ledger.Balance{}
	for _, e := range t.Entries {
		bal, ok := moved[e.Account]
		if !ok {
			if bal, ok = s.balances[e.Account]; !ok {
				bal = ledger.Balance{Account: e.Account, Debits: decimal.Zero, Credits: decimal.Zero}
			}
		}
		if e.Side == ledger.Debit {
			bal.Debits = bal.Debits.Add(e.Amount)
		} else {
			bal.Credits = bal.Credits.Add(e.Amount)
		}
		moved[e.Account] = bal
	}
	for account, bal := range moved {
		err = errors.Join(err, b.Set(key(prefixBalance, account), encodeBalance(bal), nil))
	}
	if err == nil {
		err = b.Commit(pebble.NoSync)
	}
	if err != nil {
		return false, wrap("post "+t.ID, err)
	}
	s.posted = seq
	s.ids.Add(t.ID)
	maps.Copy(s.balances, moved)
	return true, nil
}

// set encodes v as JSON into the batch at k.
func set(b *pebble.Batch, k []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Set(k, raw, nil)
}

// encodeBalance is "debits credits": every Post writes the balances it moves, so they are
// encoded more cheaply than JSON.
func encodeBalance(b ledger.Balance) []byte {
	return []byte(b.Debits.String() + " " + b.Credits.String())
}

func decodeBalance(account string, raw []byte) (ledger.Balance, error) {
	debits, credits, _ := strings.Cut(string(raw), " ")
	d, err := decimal.NewFromString(debits)
	c, err2 := decimal.NewFromString(credits)
	if err := errors.Join(err, err2); err != nil {
		return ledger.Balance{}, fmt.Errorf("balance of %s: %w", account, err)
	}
	return ledger.Balance{Account: account, Debits: d, Credits: c}, nil
}

// cmpErr is err, or when there is none, otherwise.
func cmpErr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

// wrap is err (nil for none) with the operation.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", op, err)
}

// TakenBack implements ledger.Store.
func (s *Store) TakenBack(_ context.Context, booking string) (map[int]decimal.Decimal, error) {
	taken := map[int]decimal.Decimal{}
	if _, err := s.get(key(prefixTaken, booking), &taken); err != nil {
		return nil, fmt.Errorf("taken back of %s: %w", booking, err)
	}
	return taken, nil
}

// Transaction implements ledger.Store.
func (s *Store) Transaction(_ context.Context, id string) (ledger.Transaction, error) {
	t, found, err := s.transaction(id)
	switch {
	case err != nil:
		return ledger.Transaction{}, fmt.Errorf("transaction %s: %w", id, err)
	case !found:
		return ledger.Transaction{}, fmt.Errorf("transaction %s: %w", id, ledger.ErrNotFound)
	}
	return t, nil
}

// Transactions implements ledger.Store. It reads the whole ledger into memory: for the
// operators' occasional listing, not for every payment.
func (s *Store) Transactions(context.Context) ([]ledger.Transaction, error) {
	out := []ledger.Transaction{}
	err := localkv.Scan(s.db, prefixTransaction, func(_, v []byte) error {
		var t ledger.Transaction
		err := json.Unmarshal(v, &t)
		out = append(out, t)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("transactions: %w", err)
	}
	return out, nil
}

// Balances implements ledger.Store.
func (s *Store) Balances(context.Context) ([]ledger.Balance, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ledger.Balance, 0, len(s.balances))
	for _, b := range s.balances {
		out = append(out, b)
	}
	return out, nil
}
