package storetest

import (
	"context"
	"errors"

	"github.com/paystream/paystream/eventstore"
)

// ErrCaughtUp ends an UpTo follow at its last event.
var ErrCaughtUp = errors.New("caught up")

// UpTo is a store whose Follow ends with ErrCaughtUp once it has handled the event at
// position Last (at once when it starts there), for specs of followers that otherwise
// follow until their context ends.
type UpTo struct {
	eventstore.Store
	Last eventstore.Position
}

// Follow is the store's Follow, ended at Last.
func (u UpTo) Follow(ctx context.Context, after eventstore.Position, prefix string, handle eventstore.Handler) error {
	if after >= u.Last {
		return ErrCaughtUp
	}
	return u.Store.Follow(ctx, after, prefix, func(ctx context.Context, e eventstore.RecordedEvent) error {
		if err := handle(ctx, e); err != nil {
			return err
		}
		if e.Position >= u.Last {
			return ErrCaughtUp
		}
		return nil
	})
}
