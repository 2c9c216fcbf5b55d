package esdb

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/paystream/paystream/eventstore"
)

// handlerError marks an error returned by the Follow handler, which ends the Follow.
type handlerError struct{ err error }

func (e handlerError) Error() string { return e.err.Error() }
func (e handlerError) Unwrap() error { return e.err }

// cursor is where one Follow stands, in full $all positions (commit, prepare).
type cursor struct {
	// delivered is the position of the last event handed to the handler (or the Follow's
	// starting point). Only events decide it: an event at or below it is a repeat.
	delivered esdb.Position
	// resume is where a resubscription starts: delivered, or a later checkpoint that
	// passed plausible.
	resume esdb.Position
}

func less(a, b esdb.Position) bool {
	return a.Commit < b.Commit || (a.Commit == b.Commit && a.Prepare < b.Prepare)
}

// plausible reports whether a checkpoint may be resumed from. Checkpoints never decide
// what was delivered, only where to resubscribe, so a wrong one that slips through costs
// at most a rescan; the known wrong ones are refused: (-1,-1) read as MaxUint64 (KDB-710)
// and (end of log, 0) (KDB-744). Without explicit transactions (which gRPC clients cannot
// make) every log position has commit == prepare, so anything else is not a record's.
func plausible(p, delivered esdb.Position) bool {
	return p.Commit != math.MaxUint64 && p.Prepare == p.Commit && less(delivered, p)
}

// Follow delivers, in position order, every event after position after whose stream name
// starts with prefix ("" = every non-system stream), stored ones first and then live
// ones, until ctx ends (it returns ctx.Err()) or handle fails (it returns that error,
// wrapped). When the subscription drops it resubscribes from the last delivered position
// (or the last plausible checkpoint), with backoff, for as long as ctx lasts; no event is
// delivered twice or skipped. It returns eventstore.ErrClosed once the Store is closed, and
// ErrAccessDenied at once if the user may not read $all.
func (s *Store) Follow(ctx context.Context, after eventstore.Position, prefix string, handle eventstore.Handler) error {
	start := esdb.Position{Commit: uint64(after), Prepare: uint64(after)}
	cur := cursor{delivered: start, resume: start}
	backoff := s.opts.minBackoff
	for {
		delivered, err := s.followOnce(ctx, &cur, prefix, handle)
		var herr handlerError
		if errors.As(err, &herr) {
			return fmt.Errorf("follow %q: handler: %w", prefix, herr.err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, eventstore.ErrClosed) {
			return fmt.Errorf("follow %q: %w", prefix, err)
		}
		if isAccessDenied(err) {
			return fmt.Errorf("follow %q: %w: the user may not read $all: %w", prefix, ErrAccessDenied, err)
		}
		if delivered {
			backoff = s.opts.minBackoff
		}
		s.opts.logger.Info("eventstoredb subscription dropped; resubscribing",
			"prefix", prefix, "position", cur.resume.Commit, "retry_in", backoff, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, s.opts.maxBackoff)
	}
}

// followOnce runs one subscription from cur.resume until it drops, advancing cur past
// every event it delivers and every plausible checkpoint it gets. It reports whether
// anything arrived (so that a flapping subscription backs off and a healthy one does not).
func (s *Store) followOnce(ctx context.Context, cur *cursor, prefix string, handle eventstore.Handler) (bool, error) {
	opts := esdb.SubscribeToAllOptions{From: esdb.Start{}}
	if cur.resume != (esdb.Position{}) {
		opts.From = cur.resume
	}
	if prefix == "" {
		opts.Filter = &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Regex: "^[^$]"}
	} else {
		opts.Filter = &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{prefix}}
	}
	// Close ends the subscription too.
	ctx, cancel := context.WithCancel(requireLeader(ctx))
	defer cancel()
	defer context.AfterFunc(s.closing, cancel)()
	cn, err := s.acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("subscribe to $all: %w", err)
	}
	var sub *esdb.Subscription
	// SubscribeToAll may block inside the client, so it runs under call, which releases a
	// hold of its own when it returns; the acquired one lasts as long as the subscription.
	s.hold(cn)
	err = s.call(ctx, cn, func() error {
		var err error
		sub, err = cn.client.SubscribeToAll(ctx, opts)
		return err
	})
	if err != nil {
		s.release(cn, nil)
		return false, fmt.Errorf("subscribe to $all: %w", err)
	}
	delivered := false
	for {
		msg := sub.Recv()
		switch {
		case msg.SubscriptionDropped != nil:
			_ = sub.Close()
			s.release(cn, msg.SubscriptionDropped.Error)
			if s.closing.Err() != nil {
				return delivered, eventstore.ErrClosed
			}
			return delivered, fmt.Errorf("subscription dropped: %w", msg.SubscriptionDropped.Error)
		case msg.CheckPointReached != nil:
			if p := *msg.CheckPointReached; s.trustCheckpoints && plausible(p, cur.resume) {
				cur.resume = p
			}
		case msg.EventAppeared != nil:
			e := msg.EventAppeared.OriginalEvent()
			if e == nil {
				continue
			}
			if !less(cur.delivered, e.Position) || strings.HasPrefix(e.EventType, "$") || !strings.HasPrefix(e.StreamID, prefix) {
				continue // already delivered, or a system event (stream metadata, tombstone)
			}
			delivered = true
			if err := handle(ctx, recorded(e)); err != nil {
				_ = sub.Close()
				s.release(cn, nil)
				return delivered, handlerError{err}
			}
			cur.delivered = e.Position
			if less(cur.resume, e.Position) {
				cur.resume = e.Position
			}
		}
	}
}
