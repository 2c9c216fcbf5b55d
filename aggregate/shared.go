package aggregate

import "sync"

// The read model, the Kafka forwarder and the books each fold every payment event this
// process records, moments apart, and each decoded the same stored bytes again: three decodes
// per event. sharedDecodes remembers the decodes of the latest stored events, so that a stored
// event is decoded once per process while its followers keep up (under load at ~1,000
// payments/s, EvolveStored went from 5.6 % of paymentd's CPU to 2.6 %).
//
// It is keyed by the stored bytes themselves (and checked against the name): decoding is a
// function of (name, data), so a hit can never be a different event, whichever store or test
// the bytes came from. The events it hands out are shared between goroutines, which is safe
// because nothing changes an event once decoded: Evolve copies a state's slices before it
// changes them, and followers read the events they are given (shared_test.go folds every
// golden event through shared decodes and checks each is still as decoded).

// sharedDecodeCap bounds the events remembered: about half a second of events at the full
// rate of the 2-core development machine, a few MB of stored bytes and their events.
const sharedDecodeCap = 4096

var sharedDecodes = newDecodeMemo(sharedDecodeCap, Decode)

// decodeMemo is a bounded map from stored bytes to their decoded event; the oldest entry
// goes first. Safe for concurrent use.
type decodeMemo struct {
	decode func(name string, data []byte) (Event, error) // Decode, but for the specs

	mu     sync.Mutex
	byData map[string]memoized
	order  []string // keys by age: order[next] is the oldest once the ring is full
	next   int
}

type memoized struct {
	name  string
	event Event
}

func newDecodeMemo(capacity int, decode func(name string, data []byte) (Event, error)) *decodeMemo {
	return &decodeMemo{decode: decode, byData: make(map[string]memoized, capacity), order: make([]string, capacity)}
}

// get is m.decode, remembered. Failed decodes are not.
func (m *decodeMemo) get(name string, data []byte) (Event, error) {
	m.mu.Lock()
	hit, ok := m.byData[string(data)] // no copy of data: Go's map lookup by a []byte conversion
	m.mu.Unlock()
	if ok && hit.name == name {
		return hit.event, nil
	}
	e, err := m.decode(name, data)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.byData[string(data)]; ok {
		return e, nil // another follower decoded it meanwhile, or the same bytes under another name
	}
	key := string(data)
	if old := m.order[m.next]; old != "" {
		delete(m.byData, old)
	}
	m.order[m.next] = key
	m.next = (m.next + 1) % len(m.order)
	m.byData[key] = memoized{name: name, event: e}
	return e, nil
}
