package esdb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/paystream/paystream/eventstore"
)

// handlerError marks an error returned by the Follow handler, which ends the Follow.
type handlerError struct{ err error }

func (e handlerError) Error() string { return e.err.Error() }
func (e handlerError) Unwrap() error { return e.err }

// Follow delivers, in position order, every event after position after whose stream name
// starts with prefix ("" = every non-system stream), stored ones first and then live
// ones, until ctx ends (it returns ctx.Err()) or handle fails (it returns that error,
// wrapped). When the subscription drops it resubscribes from the last delivered position
// (or the last checkpoint), with backoff, for as long as ctx lasts; no event is delivered
// twice or skipped. It returns eventstore.ErrClosed once the Store is closed.
func (s *Store) Follow(ctx context.Context, after eventstore.Position, prefix string, handle eventstore.Handler) error {
	last := after
	backoff := s.opts.minBackoff
	for {
		delivered, err := s.followOnce(ctx, &last, prefix, handle)
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
		if delivered {
			backoff = s.opts.minBackoff
		}
		s.opts.logger.Info("eventstoredb subscription dropped; resubscribing",
			"prefix", prefix, "position", uint64(last), "retry_in", backoff, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, s.opts.maxBackoff)
	}
}

// followOnce runs one subscription from *last until it drops, advancing *last past every
// event it delivers and every checkpoint it gets. It reports whether anything arrived
// (so that a flapping subscription backs off and a healthy one does not).
func (s *Store) followOnce(ctx context.Context, last *eventstore.Position, prefix string, handle eventstore.Handler) (bool, error) {
	opts := esdb.SubscribeToAllOptions{From: esdb.Start{}}
	if *last > 0 {
		opts.From = esdb.Position{Commit: uint64(*last), Prepare: uint64(*last)}
	}
	if prefix == "" {
		opts.Filter = &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Regex: "^[^$]"}
	} else {
		opts.Filter = &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{prefix}}
	}
	// Close ends the subscription too.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.closing, cancel)()
	cn, err := s.acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("subscribe to $all: %w", err)
	}
	sub, err := cn.client.SubscribeToAll(ctx, opts)
	if err != nil {
		s.release(cn, err)
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
			if p := eventstore.Position(msg.CheckPointReached.Commit); p > *last {
				*last = p
			}
		case msg.EventAppeared != nil:
			e := msg.EventAppeared.OriginalEvent()
			if e == nil {
				continue
			}
			p := eventstore.Position(e.Position.Commit)
			if p <= *last || strings.HasPrefix(e.EventType, "$") || !strings.HasPrefix(e.StreamID, prefix) {
				continue // already delivered, or a system event (stream metadata, tombstone)
			}
			delivered = true
			if err := handle(ctx, recorded(e)); err != nil {
				_ = sub.Close()
				s.release(cn, nil)
				return delivered, handlerError{err}
			}
			*last = p
		}
	}
}
