package books_test

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/eventstore"
)

// at is the clock of every generated event.
var at = time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)

// payments writes payment streams the way paymentd does, interleaved: a payment's checkout,
// execution and approval; lag payments later its ledger, wallet and completion events; and
// for every refundEvery-th payment, refundLag payments later, a refund of part of its
// first order and the ledger's and wallet's RefundBooked.
type payments struct {
	store                eventstore.Store
	lag, refundLag       int
	refundEvery          int
	revision             map[string]eventstore.Revision
	pendingDone, refunds []string
	last                 eventstore.Position // of the last event appended
}

func newPayments(store eventstore.Store, lag, refundLag, refundEvery int) *payments {
	return &payments{store: store, lag: lag, refundLag: refundLag, refundEvery: refundEvery, revision: map[string]eventstore.Revision{}}
}

// orderID is the i-th payment's order id.
func orderID(i int) string { return fmt.Sprintf("order-%07d", i) }

// add appends events to orderID's stream after what it appended to it before.
func (p *payments) add(ctx context.Context, orderID string, events ...aggregate.Event) error {
	rev, ok := p.revision[orderID]
	if !ok {
		rev = eventstore.NoStream
	}
	stream := aggregate.StreamName(orderID)
	out := make([]eventstore.Event, len(events))
	for i, e := range events {
		name, data, err := aggregate.Encode(e)
		if err != nil {
			return err
		}
		out[i] = eventstore.Event{ID: uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "%s/%d", stream, int(rev)+1+i)), Type: name,
			Data: data, Metadata: []byte(`{"schemaVersion":1}`)}
	}
	res, err := p.store.Append(ctx, stream, rev, out)
	if err != nil {
		return fmt.Errorf("append %s: %w", stream, err)
	}
	p.revision[orderID], p.last = res.Revision, res.Position
	return nil
}

// write appends n payments' events, and then the late ones still pending.
func (p *payments) write(ctx context.Context, n int) error {
	for i := range n {
		id := orderID(i)
		seller := fmt.Sprintf("s%d", i%7)
		if err := p.add(ctx, id,
			aggregate.CheckoutCreated{OrderID: id, OrderName: "Go book and 2 more", BuyerID: "buyer-1", TotalAmount: decimal.NewFromInt(43000),
				Orders: []aggregate.OrderLine{
					{ProductID: "book-kia", SellerID: seller, Quantity: 1, UnitPrice: decimal.NewFromInt(35000), Amount: decimal.NewFromInt(35000)},
					{ProductID: "mug-gopher", SellerID: "s9", Quantity: 2, UnitPrice: decimal.NewFromInt(4000), Amount: decimal.NewFromInt(8000)}},
				RequestHash: "sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0", At: at},
			aggregate.ExecutionStarted{PaymentKey: "tgen_" + id, Amount: decimal.NewFromInt(43000), PspIdempotencyKey: "psp-" + id, At: at},
			aggregate.PspApproved{PaymentKey: "tgen_" + id, TotalAmount: decimal.NewFromInt(43000), Method: "카드", ApprovedAt: at,
				Rule: "toss.v1/approved", At: at},
		); err != nil {
			return err
		}
		p.pendingDone = append(p.pendingDone, id)
		if i%p.refundEvery == 0 {
			p.refunds = append(p.refunds, id)
		}
		if err := p.flush(ctx, p.lag, p.refundLag); err != nil {
			return err
		}
	}
	return p.flush(ctx, 0, 0)
}

// flush writes the late events of all but the last keepDone and keepRefunds payments.
func (p *payments) flush(ctx context.Context, keepDone, keepRefunds int) error {
	for len(p.pendingDone) > keepDone {
		id := p.pendingDone[0]
		p.pendingDone = p.pendingDone[1:]
		if err := p.add(ctx, id, aggregate.LedgerUpdated{Orders: []int{1, 2}, MessageID: "l-" + id, At: at},
			aggregate.WalletUpdated{Orders: []int{1, 2}, MessageID: "w-" + id, At: at}, aggregate.PaymentCompleted{At: at}); err != nil {
			return err
		}
	}
	for len(p.refunds) > keepRefunds {
		id := p.refunds[0]
		p.refunds = p.refunds[1:]
		if err := p.add(ctx, id,
			aggregate.RefundRequested{RefundID: id + "-1", Amount: decimal.NewFromInt(5000), Orders: []aggregate.RefundSplit{{Seq: 1, Amount: decimal.NewFromInt(5000)}},
				Reason: "changed mind", PspIdempotencyKey: "psp-r-" + id, At: at},
			aggregate.RefundApproved{RefundID: id + "-1", TransactionKey: "tk-" + id, CanceledAt: at, Rule: "toss.v1/canceled", At: at},
			aggregate.RefundBooked{RefundID: id + "-1", By: "ledger", MessageID: "lr-" + id, At: at},
			aggregate.RefundBooked{RefundID: id + "-1", By: "wallet", MessageID: "wr-" + id, At: at},
		); err != nil {
			return err
		}
	}
	return nil
}
