package commands

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"strconv"

	"github.com/go-json-experiment/json/v1"

	"github.com/google/uuid"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/audit"
	"github.com/paystream/paystream/eventstore"
)

// The write side has one mechanism: update loads a payment, lets a decision (a closure over
// the command) say which events follow, and appends them at the exact revision it loaded;
// when another writer got there first it loads again and decides again, a bounded number of
// times. Every command goes through it (updateOnce is its single round, for claims that
// must not be retried). Reading a stream and folding it is load's job alone; the payments
// folded last are cached (cache.go), and never trusted beyond the revision they were folded
// at.

// maxContentionRetries bounds reload-and-decide rounds on concurrent appends.
const maxContentionRetries = 8

// decision says which events a command adds to the payment as loaded: none is a successful
// no-op; an error refuses the command.
type decision func(p Payment) ([]aggregate.Event, error)

// updated is the payment after an update, and the id of the first event it appended (the
// causation of whatever follows; empty when nothing was appended).
type updated struct {
	Payment
	cause string
}

// Load folds the payment's stream. Unknown orderId → aggregate.ErrNotFound.
func (s *Service) Load(ctx context.Context, orderID string) (Payment, error) {
	p, err := s.load(ctx, orderID)
	if err == nil && !p.Exists() {
		err = fmt.Errorf("load %s: %w", orderID, aggregate.ErrNotFound)
	}
	return p, err
}

// load folds the payment's stream; a stream that does not exist yet is the zero Payment at
// eventstore.NoStream (a checkout creates it). It always reads the stream, so it is never
// behind the store as read; it decodes only the events after the cached payment's revision
// when the stream still holds the event the cache was folded at (its hash), and caches what
// it folded.
func (s *Service) load(ctx context.Context, orderID string) (Payment, error) {
	recorded, err := s.cfg.Store.ReadStream(ctx, aggregate.StreamName(orderID))
	if err != nil {
		return Payment{}, fmt.Errorf("load %s: %w", orderID, err)
	}
	p, ok := s.cached.get(orderID)
	if !ok || int(p.Revision) >= len(recorded) || p.head == "" || audit.LinksOf(recorded[p.Revision].Metadata).Hash != p.head {
		p = Payment{Revision: eventstore.NoStream}
	}
	for _, r := range recorded[p.Revision+1:] {
		if p.State, _, err = aggregate.EvolveStored(p.State, r.Type, r.Data); err != nil {
			return Payment{}, fmt.Errorf("load %s at revision %d: %w", orderID, r.Revision, err)
		}
	}
	if n := len(recorded); n > 0 && recorded[n-1].Revision != p.Revision {
		p.Revision, p.Position = recorded[n-1].Revision, recorded[n-1].Position
		p.head = audit.LinksOf(recorded[n-1].Metadata).Hash
		s.cached.put(p)
	}
	return p, nil
}

// Events returns the payment's recorded events in order. Unknown orderId →
// aggregate.ErrNotFound.
func (s *Service) Events(ctx context.Context, orderID string) ([]eventstore.RecordedEvent, error) {
	recorded, err := s.cfg.Store.ReadStream(ctx, aggregate.StreamName(orderID))
	if err != nil {
		return nil, fmt.Errorf("history %s: %w", orderID, err)
	}
	if len(recorded) == 0 {
		return nil, fmt.Errorf("history %s: %w", orderID, aggregate.ErrNotFound)
	}
	return recorded, nil
}

// update applies decide to the payment and appends what it decides, reloading and deciding
// again when the stream moved meanwhile. known, when it holds the payment, spares the first
// load. Errors: decide's (wrapped with the orderId), ErrContention after
// maxContentionRetries rounds, or the store's.
func (s *Service) update(ctx context.Context, orderID string, known *Payment, meta Meta, causation string, decide decision) (u updated, err error) {
	err = retryConflicts(orderID, func() error {
		u, err = s.updateOnce(ctx, orderID, known, meta, causation, decide)
		known = nil // if someone else moved first: look again
		return err
	})
	return u, err
}

// retryConflicts runs attempt again while it fails with eventstore.ErrConcurrency (another
// writer moved the stream first), at most maxContentionRetries times: the one
// retry-on-conflict loop of the write side. what names the stream for the error.
func retryConflicts(what string, attempt func() error) error {
	for range maxContentionRetries {
		if err := attempt(); !errors.Is(err, eventstore.ErrConcurrency) {
			return err
		}
	}
	return fmt.Errorf("%s: %w", what, ErrContention)
}

// updateOnce is one round of update: it fails with eventstore.ErrConcurrency when the
// stream moved after the payment was loaded. Without known it decides on the cached payment
// when there is one, unread: the append expects its revision, so a stream that moved on
// fails the append, and the cache forgets the payment whenever an append fails. A decision
// that appends nothing checks nothing, so it is made again on the stream as read.
func (s *Service) updateOnce(ctx context.Context, orderID string, known *Payment, meta Meta, causation string, decide decision) (updated, error) {
	var (
		p      Payment
		cached bool
		err    error
	)
	if known != nil {
		p = *known
	} else if p, cached = s.cached.get(orderID); !cached {
		if p, err = s.load(ctx, orderID); err != nil {
			return updated{}, err
		}
	}
	events, err := decide(p)
	if cached && (err != nil || len(events) == 0) {
		if p, err = s.load(ctx, orderID); err != nil {
			return updated{}, err
		}
		events, err = decide(p)
	}
	if err != nil {
		return updated{Payment: p}, fmt.Errorf("%s: %w", orderID, err)
	}
	if len(events) == 0 {
		return updated{Payment: p}, nil
	}
	stream := aggregate.StreamName(orderID)
	res, head, err := s.append(ctx, stream, p.Revision, p.head, events, meta, causation)
	if err != nil {
		s.cached.drop(orderID)
		return updated{Payment: p}, err
	}
	next := p.with(events, res)
	next.head = head
	s.cached.put(next)
	return updated{Payment: next, cause: eventID(stream, p.Revision+1, events[0].EventName(), meta.commandID).String()}, nil
}

// append encodes events with deterministic ids and metadata, each chained to the one
// before it (prev is the hash of the stream's event at expected), and appends them after
// expected. It returns the hash of the last event appended.
func (s *Service) append(ctx context.Context, stream string, expected eventstore.Revision, prev string, events []aggregate.Event,
	meta Meta, causation string) (eventstore.AppendResult, string, error) {
	out := make([]eventstore.Event, len(events))
	for i, e := range events {
		name, data, err := aggregate.Encode(e)
		if err != nil {
			return eventstore.AppendResult{}, "", err
		}
		if out[i], prev, err = storedEvent(stream, expected+eventstore.Revision(i)+1, prev, name, data, meta, causation); err != nil {
			return eventstore.AppendResult{}, "", err
		}
	}
	res, err := s.appendStored(ctx, stream, expected, out)
	return res, prev, err
}

// appendStored appends encoded events. When the store cannot tell whether the append landed
// (eventstore.ErrOutcomeUnknown) it reads the stream to find out — never assuming either way:
// its own events (by their deterministic ids, right after expected) mean it did; anything
// else is eventstore.ErrConcurrency, and the caller decides again from what is there.
func (s *Service) appendStored(ctx context.Context, stream string, expected eventstore.Revision, out []eventstore.Event) (eventstore.AppendResult, error) {
	res, err := s.cfg.Store.Append(ctx, stream, expected, out)
	if errors.Is(err, eventstore.ErrOutcomeUnknown) {
		res, err = s.landed(ctx, stream, expected, out, err)
	}
	if err != nil {
		return res, fmt.Errorf("append %s at %d: %w", stream, expected, err)
	}
	return res, nil
}

// landed reports whether out was written after expected, reading the stream.
func (s *Service) landed(ctx context.Context, stream string, expected eventstore.Revision, out []eventstore.Event, unknown error) (eventstore.AppendResult, error) {
	recorded, err := s.cfg.Store.ReadStream(ctx, stream)
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("%w; re-reading to find out: %w", unknown, err)
	}
	first := int(expected + 1)
	if len(recorded) < first+len(out) {
		return eventstore.AppendResult{}, fmt.Errorf("%w (it did not land)", eventstore.ErrConcurrency)
	}
	for i, e := range out {
		if recorded[first+i].ID != e.ID {
			return eventstore.AppendResult{}, fmt.Errorf("%w (another write landed)", eventstore.ErrConcurrency)
		}
	}
	last := recorded[first+len(out)-1]
	return eventstore.AppendResult{Revision: last.Revision, Position: last.Position}, nil
}

// storedEvent is an encoded event as the store takes it: its deterministic id, and the
// metadata every event carries (causation defaults to the correlation id), chained to its
// predecessor (prev, the hash of the event at revision-1; "" for none) by audit.Seal. It
// returns the event's own hash. This is the one place events are built: every payment
// event is chained here.
func storedEvent(stream string, revision eventstore.Revision, prev, name string, data []byte, meta Meta, causation string) (eventstore.Event, string, error) {
	if causation == "" {
		causation = meta.CorrelationID
	}
	md := EventMetadata{CorrelationID: meta.CorrelationID, CausationID: causation,
		CommandID: meta.commandID, Actor: meta.Actor, SchemaVersion: SchemaVersion, PrevHash: prev}
	var metadata []byte
	var held [512]byte
	if canonical, plain := md.canonical(held[:0]); plain {
		md.Hash = audit.SealCanonical(stream, revision, name, data, canonical)
		// The same members as canonical, and the hash: one allocation of the exact size.
		metadata = md.appendJSON(make([]byte, 0, len(canonical)+len(`,"hash":""`)+len(md.Hash)))
	} else { // rare: a string JSON escapes (an actor's name, say)
		unsealed, err := json.Marshal(md)
		if err != nil {
			return eventstore.Event{}, "", err
		}
		if md.Hash, err = audit.Seal(stream, revision, name, data, unsealed); err != nil {
			return eventstore.Event{}, "", err
		}
		if metadata, err = json.Marshal(md); err != nil {
			return eventstore.Event{}, "", err
		}
	}
	return eventstore.Event{ID: eventID(stream, revision, name, meta.commandID), Type: name, Data: data, Metadata: metadata}, md.Hash, nil
}

// canonical appends md's canonical encoding for audit.SealCanonical to b: its members but
// the hash, keys sorted, compact. It does so only when every string in md is plain:
// printable ASCII that JSON writes as it is, which is what paystream's request ids, command
// ids, actors and hashes are (appendJSON then writes what json.Marshal writes); plain is
// false otherwise, and md takes json.Marshal and audit.Seal.
func (md EventMetadata) canonical(b []byte) (_ []byte, plain bool) {
	for _, s := range [...]string{md.CorrelationID, md.CausationID, md.CommandID, md.Actor, md.PrevHash, md.Hash} {
		if !plainJSON(s) {
			return nil, false
		}
	}
	b = append(b, '{')
	b = appendMember(b, "actor", md.Actor)
	b = appendMember(b, "causationId", md.CausationID)
	b = appendMember(b, "commandId", md.CommandID)
	b = appendMember(b, "correlationId", md.CorrelationID)
	b = appendMember(b, "prevHash", md.PrevHash)
	return append(appendVersion(b, md.SchemaVersion), '}'), true
}

// appendJSON appends what json.Marshal writes for md, whose strings canonical found plain.
func (md EventMetadata) appendJSON(b []byte) []byte {
	b = append(b, '{')
	b = appendMember(b, "correlationId", md.CorrelationID)
	b = appendMember(b, "causationId", md.CausationID)
	b = appendMember(b, "commandId", md.CommandID)
	b = appendMember(b, "actor", md.Actor)
	b = appendVersion(b, md.SchemaVersion)
	b = appendMember(b, "prevHash", md.PrevHash)
	b = appendMember(b, "hash", md.Hash)
	return append(b, '}')
}

// appendMember appends a plain string member to an object being written from its opening
// brace on; an empty value is left out (omitempty).
func appendMember(b []byte, name, value string) []byte {
	if value == "" {
		return b
	}
	if b[len(b)-1] != '{' {
		b = append(b, ',')
	}
	return append(append(append(append(append(b, '"'), name...), `":"`...), value...), '"')
}

// appendVersion appends the schemaVersion member, which is always written.
func appendVersion(b []byte, version int) []byte {
	if b[len(b)-1] != '{' {
		b = append(b, ',')
	}
	return strconv.AppendInt(append(b, `"schemaVersion":`...), int64(version), 10)
}

// plainJSON: s is printable ASCII without a byte json.Marshal escapes (", \, <, > and &).
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// eventNamespace scopes paystream's deterministic event ids.
var eventNamespace = uuid.MustParse("6f1c9a52-3b0e-4d7a-9c41-8e2f5d0b7a13")

// eventID is the id of the event a command decided at this revision of the stream. The same
// decision always gets the same id, so the store recognises a retried append as a no-op; the
// command id keeps two concurrent commands that decide alike (two confirms of one payment)
// from both looking like that retry — one must fail with ErrConcurrency.
func eventID(stream string, revision eventstore.Revision, name, commandID string) uuid.UUID {
	// uuid.NewSHA1(eventNamespace, "stream@revision/name/commandID"), built on the stack:
	// every event of every command takes one.
	var held [256]byte
	b := append(held[:0], eventNamespace[:]...)
	b = strconv.AppendInt(append(append(b, stream...), '@'), int64(revision), 10)
	b = append(append(append(append(b, '/'), name...), '/'), commandID...)
	sum := sha1.Sum(b)
	var id uuid.UUID
	copy(id[:], sum[:])
	id[6] = id[6]&0x0f | 5<<4 // version 5: SHA-1 of a name in a namespace
	id[8] = id[8]&0x3f | 0x80 // the RFC 4122 variant
	return id
}
