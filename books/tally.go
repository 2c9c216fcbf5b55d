package books

import (
	"context"
	"fmt"
	"sync"

	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/eventstore"
)

// Follower is what Tally needs of the event store.
type Follower interface {
	Follow(ctx context.Context, after eventstore.Position, prefix string, handle eventstore.Handler) error
}

// Tally folds every payment stream, from the start of the store, into the figures Totals
// reports. It keeps each payment's state in memory (what a payment's figures need is its
// whole state: orders, status, refunds). Safe for concurrent use; one Run at a time.
type Tally struct {
	mu       sync.Mutex
	states   map[string]aggregate.State
	position uint64
}

// NewTally returns an empty Tally.
func NewTally() *Tally { return &Tally{states: map[string]aggregate.State{}} }

// Run follows the payment streams from where it has read up to (the start, the first time)
// until ctx ends (returns ctx's error) or an event does not decode; run it again to go on.
func (t *Tally) Run(ctx context.Context, store Follower) error {
	return store.Follow(ctx, eventstore.Position(t.Position()), aggregate.StreamPrefix, func(_ context.Context, e eventstore.RecordedEvent) error {
		t.mu.Lock()
		defer t.mu.Unlock()
		st, _, err := aggregate.EvolveStored(t.states[e.Stream], e.Type, e.Data)
		if err != nil {
			return fmt.Errorf("books: decode %s@%d: %w", e.Stream, e.Revision, err)
		}
		t.states[e.Stream] = st
		t.position = uint64(e.Position)
		return nil
	})
}

// Position is the store position Tally has read up to.
func (t *Tally) Position() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.position
}

// Totals implements Streams: per seller, the orders of every approval recorded (the
// payment's current one, and each the PSP withdrew since), the refunds the PSP made from
// them and the approvals withdrawn; refunds not allocated to orders, apart.
func (t *Tally) Totals(context.Context) (Totals, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := Totals{Approved: map[string]decimal.Decimal{}, Refunded: map[string]decimal.Decimal{},
		Withdrawn: map[string]decimal.Decimal{}, Position: t.position}
	for _, s := range t.states {
		sellers := map[int]string{}
		for _, o := range s.Orders {
			sellers[o.Seq] = o.SellerID
		}
		for _, w := range s.Withdrawals {
			for _, sp := range w.Orders {
				out.Approved[sellers[sp.Seq]] = out.Approved[sellers[sp.Seq]].Add(sp.Amount)
				out.Withdrawn[sellers[sp.Seq]] = out.Withdrawn[sellers[sp.Seq]].Add(sp.Amount)
			}
		}
		if !s.Status.Approved() {
			continue
		}
		for _, o := range s.Orders {
			out.Approved[o.SellerID] = out.Approved[o.SellerID].Add(o.Amount)
			if o.Refunded.IsPositive() {
				out.Refunded[o.SellerID] = out.Refunded[o.SellerID].Add(o.Refunded)
			}
		}
		for _, r := range s.Refunds {
			if r.Status == aggregate.StatusSuccess && r.Orders == nil {
				out.Unallocated = out.Unallocated.Add(r.Amount)
			}
		}
	}
	return out, nil
}
