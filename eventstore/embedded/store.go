package embedded

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
	"unsafe"

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
	streams map[string]*stream
	byID    []*stream         // streams by id, in the order they were created
	types   map[string]string // interned event types: one string per type, not per event
	// The $all order, indexed by position-1: each event's stream and the log offset of the
	// frame holding it (for acknowledged events only).
	streamOf list[uint32]
	frames   list[int64]
	// cache holds events by position-1: the most recent ones, within cacheLimit bytes, and
	// in a data directory always the pending ones.
	cache      list[eventstore.RecordedEvent]
	cacheBytes int
	cacheLimit int
	file       io.ReaderAt // the log, where events not cached are read: the data directory's, or mem
	// mem is memory mode's log (nil in a data directory), appended to under mu.
	mem     *memLog
	encoded []byte // the frame being added to mem, reused
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

// stream is one stream's index into the $all order: 8 bytes per event.
type stream struct {
	name      string
	id        uint32
	positions []eventstore.Position // positions[r] is the position of revision r
}

// cacheLimit bounds the bytes of acknowledged events kept as structs in memory: a
// few seconds of appends at full speed, so that followers and commands, which mostly read
// what was just written, rarely read the log.
const cacheLimit = 64 << 20

// cost is what a cached event is counted as: its bytes and its struct.
func cost(e *eventstore.RecordedEvent) int {
	return int(unsafe.Sizeof(*e)) + len(e.Data) + len(e.Metadata)
}

// OpenMemory returns an empty store that keeps everything in memory: each append as the
// frame a data directory would write, in a log of bytes, and the most recent events in
// the cache as a data directory does.
func OpenMemory() *Store {
	s := newStore()
	s.mem = &memLog{}
	s.file = s.mem
	return s
}

func newStore() *Store {
	return &Store{
		streams:    make(map[string]*stream),
		types:      make(map[string]string),
		changed:    make(chan struct{}),
		cacheLimit: cacheLimit,
	}
}

// last is the position of the last event, pending or not. Callers hold s.mu.
func (s *Store) last() eventstore.Position { return eventstore.Position(s.streamOf.n) }

// ReadStream returns the acknowledged events of the stream in revision order, as copies
// the caller may keep and modify. An unknown stream gives no events and no error. It fails
// with ErrClosed after Close, or with an error wrapping ErrCorrupt if an event read from
// the log fails its checksum.
func (s *Store) ReadStream(ctx context.Context, name string) ([]eventstore.RecordedEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, fmt.Errorf("read %s: %w", name, eventstore.ErrClosed)
	}
	var refs []ref
	if st := s.streams[name]; st != nil {
		refs = make([]ref, 0, len(st.positions))
		for _, p := range st.positions {
			if p > s.durable {
				break // pending events are always a stream's last ones
			}
			refs = append(refs, s.ref(p))
		}
	}
	s.mu.RUnlock()
	out, err := s.resolve(refs, nil)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
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
		res, ok, err := s.retried(st, expected, events)
		if err != nil || ok {
			return res, err
		}
		return eventstore.AppendResult{}, fmt.Errorf("expected revision %d, stream is at %d: %w", expected, current, eventstore.ErrConcurrency)
	}
	if st == nil {
		st = s.newStream(strings.Clone(name))
	}
	first := s.last() + 1
	now := time.Now().UTC()
	for i := range events {
		e := &events[i]
		e.Stream = st.name
		e.Revision = expected + 1 + eventstore.Revision(i)
		e.Position = first + eventstore.Position(i)
		e.Type = s.intern(e.Type)
		e.RecordedAt = now
		s.cacheBytes += cost(e)
		s.cache.add(*e)
		s.streamOf.add(st.id)
		st.positions = append(st.positions, e.Position)
	}
	last := s.last()
	if s.disk == nil {
		s.encoded = appendRecord(s.encoded[:0], s.mem.size, events)
		frame := s.mem.append(s.encoded)
		if cap(s.encoded) > maxKeptBuffer {
			s.encoded = nil
		}
		for range events {
			s.frames.add(frame)
		}
		s.advance(last)
	} else {
		s.disk.enqueue(first, len(events))
	}
	return eventstore.AppendResult{Revision: expected + eventstore.Revision(len(events)), Position: last}, nil
}

// retried reports whether events were all written, with the same ids, right after
// expected: then the append is a retry of one that succeeded, and gets its result.
func (s *Store) retried(st *stream, expected eventstore.Revision, events []eventstore.RecordedEvent) (eventstore.AppendResult, bool, error) {
	if st == nil {
		return eventstore.AppendResult{}, false, nil
	}
	last := expected + eventstore.Revision(len(events))
	if last >= eventstore.Revision(len(st.positions)) {
		return eventstore.AppendResult{}, false, nil
	}
	refs := make([]ref, len(events))
	for i := range events {
		refs[i] = s.ref(st.positions[expected+1+eventstore.Revision(i)])
	}
	// Reading the log under s.mu holds up appends, but only a conflicting append whose
	// events may already be written gets here, and those are mostly recent, so cached.
	written, err := s.resolve(refs, nil)
	if err != nil {
		return eventstore.AppendResult{}, false, err
	}
	for i, e := range events {
		if written[i].ID != e.ID {
			return eventstore.AppendResult{}, false, nil
		}
	}
	return eventstore.AppendResult{Revision: last, Position: st.positions[last]}, true, nil
}

// newStream adds a stream to the index. Callers hold s.mu.
func (s *Store) newStream(name string) *stream {
	st := &stream{name: name, id: uint32(len(s.byID))}
	s.streams[name] = st
	s.byID = append(s.byID, st)
	return st
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
	s.trim()
	s.wake()
}

// trim drops the oldest cached events while the cache is over its limit. Pending events
// stay: the writer takes them from the cache. Callers hold s.mu.
func (s *Store) trim() {
	for s.cacheBytes > s.cacheLimit && s.cache.start < int(s.durable) {
		s.cacheBytes -= cost(s.cache.at(s.cache.start))
		s.cache.dropFirst()
	}
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
// acknowledged. Events come from the cache or the log, read without holding up
// appenders, so a slow follower delays no appender and misses nothing. It returns
// ctx.Err() when ctx ends, the handler's error wrapped, ErrClosed when the store closes,
// or an error wrapping ErrCorrupt if an event read from the log fails its checksum.
func (s *Store) Follow(ctx context.Context, after eventstore.Position, prefix string, handle eventstore.Handler) error {
	next := after + 1
	var (
		refs  = make([]ref, 0, followBatch)
		batch = make([]eventstore.RecordedEvent, 0, followBatch)
	)
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
		refs = refs[:0]
		for scanned := 0; next <= end && scanned < followScan && len(refs) < followBatch; scanned++ {
			if prefix == "" || strings.HasPrefix(s.byID[*s.streamOf.at(int(next - 1))].name, prefix) {
				refs = append(refs, s.ref(next))
			}
			next++
		}
		s.mu.RUnlock()

		var err error
		if batch, err = s.resolve(refs, batch[:0]); err != nil {
			return fmt.Errorf("follow %q: %w", prefix, err)
		}
		for _, e := range batch {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := handle(ctx, e); err != nil {
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

// ref is an acknowledged event as found under s.mu: the cached event, or its stream and
// position and the offset of its frame in the log, to be read once s.mu is released.
type ref struct {
	event eventstore.RecordedEvent
	frame int64 // -1: event is the cached event
}

// ref finds the event at p, which is cached or acknowledged. Callers hold s.mu.
func (s *Store) ref(p eventstore.Position) ref {
	i := int(p - 1)
	if s.cache.has(i) {
		return ref{event: *s.cache.at(i), frame: -1}
	}
	return ref{event: eventstore.RecordedEvent{Stream: s.byID[*s.streamOf.at(i)].name, Position: p}, frame: *s.frames.at(i)}
}

// resolve appends refs' events to out, reading from the log those
// that are not cached. Called without s.mu, except to check a retried append: the log's
// acknowledged frames never change, and reading them must not hold up appenders. It fails
// with ErrClosed if the store closed meanwhile, or ErrCorrupt for a damaged frame.
func (s *Store) resolve(refs []ref, out []eventstore.RecordedEvent) ([]eventstore.RecordedEvent, error) {
	var (
		buf, body []byte
		bodyAt    int64 = -1 // the frame body holds; consecutive events often share one
	)
	for _, r := range refs {
		if r.frame < 0 {
			out = append(out, r.event) // shared bytes: readers never write into them
			continue
		}
		if r.frame != bodyAt {
			var err error
			if body, buf, err = readFrame(s.file, r.frame, buf); err != nil {
				if errors.Is(err, os.ErrClosed) {
					err = eventstore.ErrClosed
				}
				return nil, fmt.Errorf("event at position %d: %w", r.event.Position, err)
			}
			bodyAt = r.frame
		}
		e, err := eventIn(body, r.event.Stream, r.event.Position)
		if err != nil {
			return nil, fmt.Errorf("%w: frame at offset %d: %v", eventstore.ErrCorrupt, r.frame, err)
		}
		out = append(out, e)
	}
	return out, nil
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
