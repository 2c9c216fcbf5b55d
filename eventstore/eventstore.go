// Package eventstore is the seam between paystream and whatever keeps its event streams.
//
// It defines the vocabulary every store adapter speaks (events to append, recorded events,
// stream revisions, global positions) and the errors adapters translate their own failures
// into. Adapters live in sub-packages: embedded (memory or a data directory) and, later,
// EventStoreDB. The conformance suite in storetest pins the behaviour all of them share.
//
// Invariants every adapter keeps:
//   - Revisions inside a stream are 0, 1, 2, … with no gaps; a stream's revision is the
//     revision of its last event, NoStream when it has none.
//   - Positions are global, strictly increasing in commit order, and greater than zero;
//     following from position p delivers every event whose position is greater than p, in
//     position order, exactly once per follow.
//   - An append is atomic: all of its events are recorded, or none.
//   - An append at the wrong expected revision fails with ErrConcurrency and writes nothing,
//     unless every event it carries was already written, with the same ids, right after the
//     expected revision: then it is a no-op that reports success (a retried append).
package eventstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Revision is the 0-based number of an event inside its stream. As an expected revision,
// NoStream means "the stream must not exist yet".
type Revision int64

// NoStream is the expected revision of a stream that has no events.
const NoStream Revision = -1

// Position is an event's place in the store's global order. Zero is before every event.
type Position uint64

// Event is an event to append. ID must not be nil and must be deterministic for the fact it records (for
// example a UUIDv5 of stream, revision and type) so that a retried append is recognised.
type Event struct {
	ID       uuid.UUID
	Type     string // versioned name, e.g. "payment.checkout-created.v1"
	Data     []byte // JSON
	Metadata []byte // JSON: correlation id, causation id, actor, schema version
}

// RecordedEvent is an event as the store recorded it. Its Data and Metadata may be shared
// with the store and with every other reader of the event (the embedded store hands out
// its cached bytes, so that the several followers of a busy process do not each copy
// them): read them, never write into them.
type RecordedEvent struct {
	Stream     string
	Revision   Revision
	Position   Position
	ID         uuid.UUID
	Type       string
	Data       []byte
	Metadata   []byte
	RecordedAt time.Time // UTC, set by the store
}

// AppendResult tells where an append left the stream. A no-op retry reports what the
// original append reported: the revision and position of the last event it carries, even
// if the stream has moved on since.
type AppendResult struct {
	Revision Revision // revision of the stream's last event after the append
	Position Position // position of the last event appended (or found, for a no-op retry)
}

// Handler receives followed events one at a time. Returning an error stops the follow and
// Follow returns that error wrapped.
type Handler func(ctx context.Context, e RecordedEvent) error

var (
	// ErrConcurrency: the stream was not at the expected revision.
	ErrConcurrency = errors.New("eventstore: wrong expected revision")
	// ErrCorrupt: stored data failed its integrity check somewhere other than a torn tail.
	ErrCorrupt = errors.New("eventstore: corrupt data")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("eventstore: closed")
	// ErrInvalidAppend: the append itself is malformed (see ValidateAppend), or carries more
	// data than the adapter accepts. Nothing was written.
	ErrInvalidAppend = errors.New("eventstore: invalid append")
	// ErrOutcomeUnknown: an append may or may not have been written. The store could not
	// tell: the request reached the server, but its answer did not come back (a commit or
	// replication timeout, a deadline or cancellation after sending, a connection lost
	// mid-call, a retry of the same event ids refused because the original is not yet
	// replicated). The caller must find out by reading the stream — the events are there
	// (same ids, right after the expected revision) or they are not — and never assume
	// either way: a retry of the same append with the same ids is safe (it is a no-op if
	// the original landed), but deciding again from a stale state is not. Adapters that
	// can, retry with the same ids themselves before giving up with this error.
	ErrOutcomeUnknown = errors.New("eventstore: append outcome unknown")
)

// ValidateAppend checks the rules every store applies to an append before it does
// anything, so that the same append is refused the same way by every adapter. It returns
// nil or an error wrapping ErrInvalidAppend that names the rule:
//   - the stream name is non-empty, does not start with "$" (EventStoreDB reserves those
//     for system streams, and Follow with an empty prefix never delivers them), and is valid
//     UTF-8 (EventStoreDB decodes names as UTF-8 and would store another name);
//   - the expected revision is NoStream or a revision (not below NoStream);
//   - there is at least one event, and every event has a type and a non-nil id (the id is
//     what makes a retried append recognisable; a nil id would collide with every other).
//
// Size limits are the adapter's own (see each adapter) and come on top.
func ValidateAppend(stream string, expected Revision, events []Event) error {
	switch {
	case stream == "":
		return fmt.Errorf("%w: empty stream name", ErrInvalidAppend)
	case strings.HasPrefix(stream, "$"):
		return fmt.Errorf("%w: %q is a system stream name", ErrInvalidAppend, stream)
	case !utf8.ValidString(stream):
		return fmt.Errorf("%w: stream name %q is not valid UTF-8", ErrInvalidAppend, stream)
	case expected < NoStream:
		return fmt.Errorf("%w: expected revision %d", ErrInvalidAppend, expected)
	case len(events) == 0:
		return fmt.Errorf("%w: no events", ErrInvalidAppend)
	}
	for i, e := range events {
		switch {
		case e.Type == "":
			return fmt.Errorf("%w: event %d has no type", ErrInvalidAppend, i)
		case e.ID == uuid.Nil:
			return fmt.Errorf("%w: event %d has a nil id", ErrInvalidAppend, i)
		}
	}
	return nil
}

// Store is the whole seam, as the conformance suite exercises it. Consumers declare the
// smaller interfaces they need.
type Store interface {
	// ReadStream returns every event of the stream in revision order; an unknown stream
	// gives an empty slice and no error.
	ReadStream(ctx context.Context, stream string) ([]RecordedEvent, error)
	// Append writes events after expected; see the package invariants.
	Append(ctx context.Context, stream string, expected Revision, events []Event) (AppendResult, error)
	// Follow delivers, in position order, every event with a position greater than after
	// whose stream name starts with prefix ("" = all), first the stored ones and then live
	// ones as they are appended, until ctx ends (returns ctx.Err()) or handle fails.
	Follow(ctx context.Context, after Position, prefix string, handle Handler) error
}
