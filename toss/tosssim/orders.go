package tosssim

import (
	"bytes"
	"hash/maphash"
	"sync"
)

// orderTable holds the orders and their paymentKeys. In memory (db nil) it holds every
// order for the simulator's lifetime. With a database (Open) it holds only the orders in
// use and up to hotCap recently used ones; the others are read back from disk when asked
// for, so Go memory does not grow with the payments.
//
// One *order stands for an orderId while anyone uses it: lock finds or loads it and pins
// it, unlock unpins it, and only an unpinned order is dropped from memory. So every
// request for an order takes the same o.mu, whether it found the order in memory or on
// disk, and money is still captured at most once per orderId.
type orderTable struct {
	db     *diskState            // nil: everything in memory
	hotCap int                   // per shard, with db: unpinned orders kept in memory
	keys   [orderShards]keyShard // in memory: paymentKey → order (with db: on disk)
	seed   maphash.Seed
	shards [orderShards]orderShard
}

// keyShard is the in-memory index of the payment keys hashing to it. A map per shard rather
// than a sync.Map: a sync.Map entry is two or three objects of its own, for the garbage
// collector to mark for every payment memory mode keeps.
type keyShard struct {
	mu sync.Mutex
	m  map[string]*order
}

// orderShards spreads the orders over locks, so that requests for different orders rarely
// wait for each other's lookups.
const orderShards = 64

// hotOrders is how many unpinned orders a simulator with a database keeps in memory: a
// confirm or lookup soon after the session finds its order without reading it from disk.
const hotOrders = 1024

type orderShard struct {
	mu  sync.Mutex
	hot map[string]*order
	// idle lists the unpinned orders of hot, most recently used first (with db only).
	idle orderList
}

// orderList is a doubly linked list of orders through their prev and next fields.
type orderList struct {
	head, tail *order
	n          int
}

func (l *orderList) pushFront(o *order) {
	o.prev, o.next = nil, l.head
	if l.head != nil {
		l.head.prev = o
	} else {
		l.tail = o
	}
	l.head = o
	l.n++
}

func (l *orderList) remove(o *order) {
	if o.prev != nil {
		o.prev.next = o.next
	} else {
		l.head = o.next
	}
	if o.next != nil {
		o.next.prev = o.prev
	} else {
		l.tail = o.prev
	}
	o.prev, o.next = nil, nil
	l.n--
}

func newOrderTable(db *diskState, hotCap int) *orderTable {
	t := &orderTable{db: db, hotCap: hotCap, seed: maphash.MakeSeed()}
	for i := range t.shards {
		t.shards[i].hot = map[string]*order{}
		t.keys[i].m = map[string]*order{}
	}
	return t
}

func (t *orderTable) keyShard(paymentKey string) *keyShard {
	return &t.keys[maphash.String(t.seed, paymentKey)%orderShards]
}

func (t *orderTable) shard(orderID string) *orderShard {
	return &t.shards[maphash.String(t.seed, orderID)%orderShards]
}

// lock returns orderID's order pinned and locked, creating it (with no session yet) when
// create is set; nil when it does not exist and create is not set. The caller ends with
// unlock.
func (t *orderTable) lock(orderID string, create bool) *order {
	o := t.pin(orderID, create)
	if o != nil {
		o.mu.Lock()
	}
	return o
}

// lockByKey is lock for the order whose session issued paymentKey. Callers re-check
// o.paymentKey, because a newer session may have replaced it since.
func (t *orderTable) lockByKey(paymentKey string) *order {
	if t.db == nil {
		ks := t.keyShard(paymentKey)
		ks.mu.Lock()
		o := ks.m[paymentKey]
		ks.mu.Unlock()
		if o == nil {
			return nil
		}
		o.mu.Lock()
		return o
	}
	orderID, ok := t.db.orderOfKey(paymentKey)
	if !ok {
		return nil
	}
	return t.lock(orderID, false)
}

// hold applies change to orderID's order, creating it, and keeps the order pinned without
// writing the change: it is written with the order's next change, or by release, which
// ends the hold. Request counters use it so that a confirm writes its order once.
func (t *orderTable) hold(orderID string, change func(*order)) *order {
	o := t.lock(orderID, true)
	change(o)
	return t.keep(o)
}

// holdByKey is hold for the order whose current session issued paymentKey; nil when none
// did.
func (t *orderTable) holdByKey(paymentKey string, change func(*order)) *order {
	o := t.lockByKey(paymentKey)
	if o == nil {
		return nil
	}
	if o.paymentKey != paymentKey {
		t.unlock(o)
		return nil
	}
	change(o)
	return t.keep(o)
}

// keep ends a hold's locked part: in memory like unlock; with a database the order stays
// pinned and its change unwritten until release.
func (t *orderTable) keep(o *order) *order {
	if t.db == nil {
		t.unlock(o)
		return o
	}
	o.mu.Unlock()
	return o
}

// release writes what a hold left unwritten, if nothing wrote it since, and unpins the
// order.
func (t *orderTable) release(o *order) {
	if t.db == nil {
		return
	}
	o.mu.Lock()
	t.unlock(o)
}

func (t *orderTable) pin(orderID string, create bool) *order {
	sh := t.shard(orderID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	o := sh.hot[orderID]
	if o == nil {
		if t.db != nil {
			// Loaded under the shard's lock: nobody else can load a second copy meanwhile.
			o = t.db.loadOrder(orderID)
		}
		if o == nil && !create {
			return nil
		}
		if o == nil {
			o = &order{id: orderID}
		}
		sh.hot[orderID] = o
	} else if t.db != nil && o.pins == 0 {
		sh.idle.remove(o)
	}
	if t.db != nil { // in memory nothing is dropped, so nothing needs pinning
		o.pins++
	}
	return o
}

// unlock writes what changed in o since it was last written (with a database), keeps the
// paymentKey index and the journal in step, then unlocks and unpins o. Every change to an
// order is made between lock and unlock, so a change is on disk before anyone else can see
// it, and an order dropped from memory has nothing unwritten.
func (t *orderTable) unlock(o *order) {
	if t.db == nil {
		if o.indexedKey != o.paymentKey {
			if o.indexedKey != "" {
				ks := t.keyShard(o.indexedKey)
				ks.mu.Lock()
				if ks.m[o.indexedKey] == o {
					delete(ks.m, o.indexedKey)
				}
				ks.mu.Unlock()
			}
			ks := t.keyShard(o.paymentKey)
			ks.mu.Lock()
			ks.m[o.paymentKey] = o
			ks.mu.Unlock()
			o.indexedKey = o.paymentKey
		}
		o.mu.Unlock()
		return
	}
	t.write(o)
	o.mu.Unlock()
	t.unpin(o)
}

// write puts o on disk if it changed, with a replaced paymentKey and its new transactions,
// in one batch. Call with o.mu held.
func (t *orderTable) write(o *order) {
	enc := encodeOrder(o.encoded[:0:0], o)
	if bytes.Equal(enc, o.encoded) && o.indexedKey == o.paymentKey && len(o.pending) == 0 {
		return
	}
	t.db.writeOrder(o, enc)
	o.encoded = enc
	o.indexedKey = o.paymentKey
	o.pending = o.pending[:0]
}

func (t *orderTable) unpin(o *order) {
	sh := t.shard(o.id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if o.pins--; o.pins > 0 {
		return
	}
	sh.idle.pushFront(o)
	for sh.idle.n > t.hotCap {
		old := sh.idle.tail
		sh.idle.remove(old)
		delete(sh.hot, old.id)
	}
}
