package commands

import (
	"container/list"
	"sync"
)

// DefaultCachedPayments is how many payments' folded states a Service keeps unless
// Config.CachedPayments says otherwise. A payment's commands (confirm, its webhook, the
// ledger's and the wallet's completions) come within a second or two of its checkout, so
// 4,096 covers two seconds at the fastest rate measured (docs/performance.md). More costs
// the garbage collector: every cached state is a dozen small objects it marks on every
// cycle (20,000 doubled the mark of a data directory's heap).
const DefaultCachedPayments = 4096

// paymentCache keeps the folded payments of the streams used last, each at the revision it
// was folded at, so that the next command on one of them neither reads nor decodes the
// stream again. A cached payment may be behind the store (another instance appended); it
// is never trusted beyond that: the append that follows a decision on it expects its
// revision, and load folds only what the stream adds after it (see repository.go). It
// holds its own copies: what it hands out, and what it was given, can be changed by their
// holders without reaching it. At most max payments, the least recently used go first.
// Safe for concurrent use.
type paymentCache struct {
	max int
	mu  sync.Mutex
	lru *list.List               // of Payment, most recently used first
	at  map[string]*list.Element // by orderId
}

func newPaymentCache(max int) *paymentCache {
	return &paymentCache{max: max, lru: list.New(), at: map[string]*list.Element{}}
}

// get returns a copy of the payment as cached.
func (c *paymentCache) get(orderID string) (Payment, bool) {
	c.mu.Lock()
	e, ok := c.at[orderID]
	if !ok {
		c.mu.Unlock()
		return Payment{}, false
	}
	c.lru.MoveToFront(e)
	p := e.Value.(Payment)
	c.mu.Unlock()
	p.State = p.State.Clone() // the cached one is never changed in place: copying it unlocked is safe
	return p, true
}

// put keeps a copy of p, unless the cache holds the payment at a later revision already.
func (c *paymentCache) put(p Payment) {
	if c.max <= 0 || !p.Exists() {
		return
	}
	p.State = p.State.Clone()
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.at[p.OrderID]; ok {
		if e.Value.(Payment).Revision <= p.Revision {
			e.Value = p
		}
		c.lru.MoveToFront(e)
		return
	}
	c.at[p.OrderID] = c.lru.PushFront(p)
	for c.lru.Len() > c.max {
		delete(c.at, c.lru.Remove(c.lru.Back()).(Payment).OrderID)
	}
}

// drop forgets the payment: whatever happened to its stream is to be read again.
func (c *paymentCache) drop(orderID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.at[orderID]; ok {
		c.lru.Remove(e)
		delete(c.at, orderID)
	}
}
