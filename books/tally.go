package books

import (
	"context"
	"fmt"
	"sync"

	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/eventstore"
)

// EventStore is what Tally needs of the event store: to follow the payment streams, and to
// read one back when the state of its payment is no longer at hand.
type EventStore interface {
	Follow(ctx context.Context, after eventstore.Position, prefix string, handle eventstore.Handler) error
	ReadStream(ctx context.Context, stream string) ([]eventstore.RecordedEvent, error)
}

// DefaultRecent is how many payments' states a Tally keeps by default: those written to
// most recently, which are the ones the next events mostly belong to. A payment's
// completion follows its approval by well under a second (a few hundred payments at full
// speed), so only refunds, corrections and a downstream catching up after a stall miss; a
// miss costs a read and a fold of one stream (tens of µs). About 4.4 MB in all (a state
// and its slot are about 2 KB).
const DefaultRecent = 2048

// Tally follows every payment stream, from the start of the store, and keeps the figures
// Totals reports as running sums: each event adds what its payment contributes after it
// less what it contributed before. The state before comes from the few payments written to
// most recently (WithRecent) or, for any other, from folding its stream again up to the
// event, so its memory is bounded by that number of states plus one sum per seller,
// however many payments there are. Safe for concurrent use; one Run at a time.
type Tally struct {
	max int

	mu          sync.Mutex
	recent      *recent
	approved    map[string]*figure
	refunded    map[string]*figure
	withdrawn   map[string]*figure
	unallocated decimal.Decimal
	position    uint64
	refolds     int
	before      []share // scratch, reused by every event
	after       []share
}

// figure is a running sum and how many contributions make it up: a seller appears in
// Totals while some payment contributes to it (as it did when Totals folded every payment).
type figure struct {
	sum decimal.Decimal
	n   int
}

// TallyOption configures a Tally.
type TallyOption func(*Tally)

// WithRecent sets how many payments' states the Tally keeps (at least 1; default
// DefaultRecent). Fewer costs a read and fold of the stream for each event of a payment
// not among them.
func WithRecent(n int) TallyOption { return func(t *Tally) { t.max = max(n, 1) } }

// NewTally returns an empty Tally.
func NewTally(opts ...TallyOption) *Tally {
	t := &Tally{max: DefaultRecent, approved: map[string]*figure{}, refunded: map[string]*figure{},
		withdrawn: map[string]*figure{}}
	for _, o := range opts {
		o(t)
	}
	t.recent = newRecent(t.max)
	return t
}

// Run follows the payment streams from where it has read up to (the start, the first time)
// until ctx ends (returns ctx's error), an event does not decode or a stream cannot be read
// back; run it again to go on.
func (t *Tally) Run(ctx context.Context, store EventStore) error {
	return store.Follow(ctx, eventstore.Position(t.Position()), aggregate.StreamPrefix, func(ctx context.Context, e eventstore.RecordedEvent) error {
		t.mu.Lock()
		before, ok := t.recent.get(e.Stream)
		t.mu.Unlock()
		if !ok && e.Revision > 0 {
			// Read and decode outside the lock: Totals need not wait for the store.
			var err error
			if before, err = refold(ctx, store, e.Stream, e.Revision); err != nil {
				return err
			}
		}
		after, _, err := aggregate.EvolveStored(before, e.Type, e.Data)
		if err != nil {
			return fmt.Errorf("books: decode %s@%d: %w", e.Stream, e.Revision, err)
		}
		t.mu.Lock()
		defer t.mu.Unlock()
		if !ok && e.Revision > 0 {
			t.refolds++
		}
		t.before, t.after = shares(before, t.before[:0]), shares(after, t.after[:0])
		if !sameShares(t.before, t.after) {
			for _, s := range t.before {
				t.add(s, -1)
			}
			for _, s := range t.after {
				t.add(s, 1)
			}
		}
		t.recent.put(e.Stream, after)
		t.position = uint64(e.Position)
		return nil
	})
}

// refold is the state of stream before revision, folded from the store.
func refold(ctx context.Context, store EventStore, stream string, revision eventstore.Revision) (aggregate.State, error) {
	events, err := store.ReadStream(ctx, stream)
	if err != nil {
		return aggregate.State{}, fmt.Errorf("books: read %s: %w", stream, err)
	}
	var s aggregate.State
	for _, e := range events {
		if e.Revision >= revision {
			break
		}
		if s, _, err = aggregate.EvolveStored(s, e.Type, e.Data); err != nil {
			return aggregate.State{}, fmt.Errorf("books: decode %s@%d: %w", e.Stream, e.Revision, err)
		}
	}
	if len(events) < int(revision) || (revision > 0 && events[revision-1].Revision != revision-1) {
		return aggregate.State{}, fmt.Errorf("books: read %s: %d events, not the %d before revision %d", stream, len(events), revision, revision)
	}
	return s, nil
}

// Position is the store position Tally has read up to.
func (t *Tally) Position() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.position
}

// Totals implements Streams: per seller, the orders of every approval recorded (the
// payment's current one, and each the PSP withdrew since), the refunds the PSP made from
// them and the approvals withdrawn; refunds not allocated to orders, apart. The figures
// equal, in value and printed, those of folding every payment read so far.
func (t *Tally) Totals(context.Context) (Totals, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := Totals{Approved: sums(t.approved), Refunded: sums(t.refunded), Withdrawn: sums(t.withdrawn),
		Unallocated: t.unallocated, Position: t.position}
	return out, nil
}

func sums(figures map[string]*figure) map[string]decimal.Decimal {
	out := make(map[string]decimal.Decimal, len(figures))
	for seller, f := range figures {
		out[seller] = f.sum
	}
	return out
}

// What a share counts towards.
const (
	shareApproved = iota
	shareRefunded
	shareWithdrawn
	shareUnallocated
)

// share is one amount a payment contributes to Totals.
type share struct {
	kind   int
	seller string
	amount decimal.Decimal
}

// shares appends to out what payment s contributes to Totals: per withdrawn approval, its
// orders to approved and to withdrawn; once approved, its orders to approved, their
// refunds (if any) to refunded, and its successful refunds not allocated to orders to
// unallocated.
func shares(s aggregate.State, out []share) []share {
	for _, w := range s.Withdrawals {
		for _, sp := range w.Orders {
			seller := sellerOf(s.Orders, sp.Seq)
			out = append(out, share{shareApproved, seller, sp.Amount}, share{shareWithdrawn, seller, sp.Amount})
		}
	}
	if !s.Status.Approved() {
		return out
	}
	for _, o := range s.Orders {
		out = append(out, share{shareApproved, o.SellerID, o.Amount})
		if o.Refunded.IsPositive() {
			out = append(out, share{shareRefunded, o.SellerID, o.Refunded})
		}
	}
	for _, r := range s.Refunds {
		if r.Status == aggregate.StatusSuccess && r.Orders == nil {
			out = append(out, share{kind: shareUnallocated, amount: r.Amount})
		}
	}
	return out
}

// sellerOf is the seller of the order with seq ("" for none).
func sellerOf(orders []aggregate.Order, seq int) string {
	for _, o := range orders {
		if o.Seq == seq {
			return o.SellerID
		}
	}
	return ""
}

// sameShares reports whether a and b contribute the same: most events (execution, booking,
// completion) change nothing in Totals, and comparing is cheaper than decimal arithmetic.
func sameShares(a, b []share) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].kind != b[i].kind || a[i].seller != b[i].seller || !a[i].amount.Equal(b[i].amount) {
			return false
		}
	}
	return true
}

// add adds s (sign 1) or takes it away (sign -1); t.mu held.
func (t *Tally) add(s share, sign int) {
	if s.kind == shareUnallocated {
		if sign > 0 {
			t.unallocated = t.unallocated.Add(s.amount)
		} else {
			t.unallocated = t.unallocated.Sub(s.amount)
		}
		return
	}
	figures := t.approved
	switch s.kind {
	case shareRefunded:
		figures = t.refunded
	case shareWithdrawn:
		figures = t.withdrawn
	}
	f := figures[s.seller]
	if f == nil {
		f = &figure{}
		figures[s.seller] = f
	}
	if sign > 0 {
		f.sum, f.n = f.sum.Add(s.amount), f.n+1
	} else {
		f.sum, f.n = f.sum.Sub(s.amount), f.n-1
	}
	if f.n == 0 {
		delete(figures, s.seller)
	}
}
