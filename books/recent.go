package books

import "github.com/paystream/paystream/aggregate"

// recent holds the states of the payments written to most recently, at most max of them:
// putting one more drops the one written to least recently. Not safe for concurrent use.
type recent struct {
	max      int
	byStream map[string]*slot
	// ring is the sentinel of a circular list, most recent first: ring.next is the most
	// recently put, ring.prev the one to drop next.
	ring slot
}

type slot struct {
	stream     string
	state      aggregate.State
	prev, next *slot
}

func newRecent(max int) *recent {
	r := &recent{max: max, byStream: make(map[string]*slot, max)}
	r.ring.prev, r.ring.next = &r.ring, &r.ring
	return r
}

// get returns stream's state, if held.
func (r *recent) get(stream string) (aggregate.State, bool) {
	s, ok := r.byStream[stream]
	if !ok {
		return aggregate.State{}, false
	}
	return s.state, true
}

// put holds state as stream's, the most recent; when full, it reuses the slot of the least
// recent stream, which it drops.
func (r *recent) put(stream string, state aggregate.State) {
	s, ok := r.byStream[stream]
	switch {
	case ok:
		s.unlink()
	case len(r.byStream) >= r.max:
		s = r.ring.prev
		s.unlink()
		delete(r.byStream, s.stream)
		s.stream = stream
		r.byStream[stream] = s
	default:
		s = &slot{stream: stream}
		r.byStream[stream] = s
	}
	s.state = state
	s.prev, s.next = &r.ring, r.ring.next
	r.ring.next.prev = s
	r.ring.next = s
}

func (s *slot) unlink() { s.prev.next, s.next.prev = s.next, s.prev }
