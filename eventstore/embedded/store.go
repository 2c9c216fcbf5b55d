package embedded

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/paystream/paystream/eventstore"
)

var _ eventstore.Store = (*Store)(nil)

// maxAppendSize bounds the encoded size of one append (its record in the log), in both
// modes so that memory mode accepts exactly what a data directory does.
const maxAppendSize = 64 << 20

// Store is the embedded event store, in memory or backed by a data directory. It is safe
// for concurrent use. Open one with OpenMemory or Open; Close releases it.
type Store struct {
	mu      sync.RWMutex
	log     eventLog
	streams map[string]*stream
	types   map[string]string // interned event types: one string per type, not per event
	// durable is the last position that is acknowledged: readers and followers see
	// positions up to here only. Events after it are pending, waiting for the disk.
	durable eventstore.Position
	// changed is closed (then replaced) whenever durable advances, the store fails or it
	// closes, waking followers and appenders waiting for the disk without blocking anyone.
	changed chan struct{}
	closed  bool
	failed  error // a write to the data directory failed: appends fail with it from then on

	disk *disk // nil in memory mode
}

// stream is one stream's index into the log: 8 bytes per event.
type stream struct {
	name      string
	positions []eventstore.Position // positions[r] is the position of revision r
}

// eventLog holds every event in position order, in fixed-size chunks so that growing it
// never copies the events already there.
type eventLog struct {
	chunks [][]eventstore.RecordedEvent
	n      int
}

const chunkLen = 1024

func (l *eventLog) last() eventstore.Position { return eventstore.Position(l.n) }

func (l *eventLog) at(p eventstore.Position) *eventstore.RecordedEvent {
	i := int(p - 1)
	return &l.chunks[i/chunkLen][i%chunkLen]
}

func (l *eventLog) add(e eventstore.RecordedEvent) {
	if l.n%chunkLen == 0 {
		l.chunks = append(l.chunks, make([]eventstore.RecordedEvent, 0, chunkLen))
	}
	c := &l.chunks[len(l.chunks)-1]
	*c = append(*c, e)
	l.n++
}

// OpenMemory returns an empty store that keeps everything in memory.
func OpenMemory() *Store {
	return newStore()
}

func newStore() *Store {
	return &Store{
		streams: make(map[string]*stream),
		types:   make(map[string]string),
		changed: make(chan struct{}),
	}
}

// ReadStream returns the acknowledged events of the stream in revision order, as copies
// the caller may keep and modify. An unknown stream gives no events and no error. It fails
// with ErrClosed after Close.
func (s *Store) ReadStream(ctx context.Context, name string) ([]eventstore.RecordedEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, fmt.Errorf("read %s: %w", name, eventstore.ErrClosed)
	}
	var out []eventstore.RecordedEvent
	if st := s.streams[name]; st != nil {
		out = make([]eventstore.RecordedEvent, 0, len(st.positions))
		for _, p := range st.positions {
			if p > s.durable {
				break // pending events are always a stream's last ones
			}
			out = append(out, *s.log.at(p))
		}
	}
	s.mu.RUnlock()
	for i := range out {
		out[i] = clone(out[i])
	}
	return out, nil
}

// Append writes events to the stream after expected, atomically, and returns once they
// are acknowledged: in a data directory, once they are fsync'd. It fails with
// ErrInvalidAppend, ErrConcurrency (see the eventstore invariants for the retry rule),
// ErrClosed, the error that broke the data directory, or ctx's error. If ctx ends while
// the append waits for the disk, the append may still be committed: retry it with the same
// event ids to find out.
func (s *Store) Append(ctx context.Context, name string, expected eventstore.Revision, events []eventstore.Event) (eventstore.AppendResult, error) {
	if err := validate(name, expected, events); err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append %q: %w", name, err)
	}
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append %s: %w", name, err)
	}
	// Copy the caller's bytes before taking the lock: it keeps the critical section short.
	recorded := make([]eventstore.RecordedEvent, len(events))
	for i, e := range events {
		recorded[i] = eventstore.RecordedEvent{ID: e.ID, Type: e.Type}
		recorded[i].Data, recorded[i].Metadata = copyPair(e.Data, e.Metadata)
	}
	res, err := s.record(name, expected, recorded)
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append %s: %w", name, err)
	}
	if err := s.awaitDurable(ctx, res.Position); err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append %s: %w", name, err)
	}
	return res, nil
}

// validate applies the rules every store shares, then the embedded store's size limit.
func validate(name string, expected eventstore.Revision, events []eventstore.Event) error {
	if err := eventstore.ValidateAppend(name, expected, events); err != nil {
		return err
	}
	size := recordOverhead + len(name)
	for _, e := range events {
		size += eventOverhead + len(e.Type) + len(e.Data) + len(e.Metadata)
	}
	if size > maxAppendSize {
		return fmt.Errorf("%w: %d bytes, more than %d", eventstore.ErrInvalidAppend, size, maxAppendSize)
	}
	return nil
}

// record checks the expected revision and adds the events to the index: visible at once
// in memory mode, pending until the writer has synced them in a data directory.
func (s *Store) record(name string, expected eventstore.Revision, events []eventstore.RecordedEvent) (eventstore.AppendResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return eventstore.AppendResult{}, eventstore.ErrClosed
	case s.failed != nil:
		return eventstore.AppendResult{}, s.failed
	}
	st := s.streams[name]
	current := eventstore.NoStream
	if st != nil {
		current = eventstore.Revision(len(st.positions) - 1)
	}
	if expected != current {
		if res, ok := s.retried(st, expected, events); ok {
			return res, nil
		}
		return eventstore.AppendResult{}, fmt.Errorf("expected revision %d, stream is at %d: %w", expected, current, eventstore.ErrConcurrency)
	}
	if st == nil {
		st = &stream{name: strings.Clone(name)}
		s.streams[st.name] = st
	}
	first := s.log.last() + 1
	now := time.Now().UTC()
	for i, e := range events {
		e.Stream = st.name
		e.Revision = expected + 1 + eventstore.Revision(i)
		e.Position = first + eventstore.Position(i)
		e.Type = s.intern(e.Type)
		e.RecordedAt = now
		s.log.add(e)
		st.positions = append(st.positions, e.Position)
	}
	last := s.log.last()
	if s.disk == nil {
		s.advance(last)
	} else {
		s.disk.enqueue(first, len(events))
	}
	return eventstore.AppendResult{Revision: expected + eventstore.Revision(len(events)), Position: last}, nil
}

// retried reports whether events were all written, with the same ids, right after
// expected: then the append is a retry of one that succeeded, and gets its result.
func (s *Store) retried(st *stream, expected eventstore.Revision, events []eventstore.RecordedEvent) (eventstore.AppendResult, bool) {
	if st == nil {
		return eventstore.AppendResult{}, false
	}
	last := expected + eventstore.Revision(len(events))
	if last >= eventstore.Revision(len(st.positions)) {
		return eventstore.AppendResult{}, false
	}
	for i, e := range events {
		if s.log.at(st.positions[expected+1+eventstore.Revision(i)]).ID != e.ID {
			return eventstore.AppendResult{}, false
		}
	}
	return eventstore.AppendResult{Revision: last, Position: st.positions[last]}, true
}

func (s *Store) intern(t string) string {
	if u, ok := s.types[t]; ok {
		return u
	}
	t = strings.Clone(t)
	s.types[t] = t
	return t
}

// advance acknowledges every event up to p and wakes whoever waits. Callers hold s.mu.
func (s *Store) advance(p eventstore.Position) {
	s.durable = p
	s.wake()
}

// wake tells waiters that something changed. Callers hold s.mu.
func (s *Store) wake() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// awaitDurable returns once position p is acknowledged, or why it never will be.
func (s *Store) awaitDurable(ctx context.Context, p eventstore.Position) error {
	for {
		s.mu.RLock()
		durable, failed, changed := s.durable, s.failed, s.changed
		s.mu.RUnlock()
		switch {
		case durable >= p:
			return nil
		case failed != nil:
			return failed
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("waiting for the disk, the append may still commit: %w", ctx.Err())
		}
	}
}

// followBatch and followScan bound the work done under one read lock while following.
const (
	followBatch = 256
	followScan  = 4096
)

// Follow delivers, in position order, every acknowledged event after position after
// whose stream starts with prefix: the stored ones, then live ones as they are
// acknowledged. Events come from the in-memory index, so a slow follower delays no
// appender and misses nothing. It returns ctx.Err() when ctx ends, the handler's error
// wrapped, or ErrClosed when the store closes.
func (s *Store) Follow(ctx context.Context, after eventstore.Position, prefix string, handle eventstore.Handler) error {
	next := after + 1
	batch := make([]eventstore.RecordedEvent, 0, followBatch)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		s.mu.RLock()
		if s.closed {
			s.mu.RUnlock()
			return fmt.Errorf("follow %q: %w", prefix, eventstore.ErrClosed)
		}
		end, changed := s.durable, s.changed
		batch = batch[:0]
		for scanned := 0; next <= end && scanned < followScan && len(batch) < followBatch; scanned++ {
			if e := s.log.at(next); strings.HasPrefix(e.Stream, prefix) {
				batch = append(batch, *e)
			}
			next++
		}
		s.mu.RUnlock()

		for _, e := range batch {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := handle(ctx, clone(e)); err != nil {
				return fmt.Errorf("follow %q: handle %s@%d at position %d: %w", prefix, e.Stream, e.Revision, e.Position, err)
			}
		}
		if next <= end {
			continue // still catching up
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close stops the store: in a data directory it waits until every append already
// accepted is synced, then closes the log and releases the directory's lock. Operations
// after Close fail with ErrClosed; closing again does nothing. It returns the error that
// broke the data directory, if one did.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()

	var err error
	if s.disk != nil {
		err = s.disk.close()
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed != nil {
		err = s.failed
	}
	// Not replaced: nothing changes any more, and followers must see closed.
	close(s.changed)
	return err
}

// clone gives the caller its own copy of an event's bytes.
func clone(e eventstore.RecordedEvent) eventstore.RecordedEvent {
	e.Data, e.Metadata = copyPair(e.Data, e.Metadata)
	return e
}

// copyPair copies two byte slices into one allocation; empty ones come back nil.
func copyPair(a, b []byte) ([]byte, []byte) {
	if len(a)+len(b) == 0 {
		return nil, nil
	}
	buf := make([]byte, len(a)+len(b))
	n := copy(buf, a)
	copy(buf[n:], b)
	return nilIfEmpty(buf[:n:n]), nilIfEmpty(buf[n:])
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
