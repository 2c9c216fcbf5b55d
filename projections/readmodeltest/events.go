package readmodeltest

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/eventstore"
)

// Log builds recorded payment events with increasing positions and per-stream revisions, as
// a store would record them. Not safe for concurrent use.
type Log struct {
	pos  eventstore.Position
	revs map[string]eventstore.Revision
	// Base is the time of the first event; each event is a second after the previous one.
	Base time.Time
	tick time.Duration
}

// NewLog starts a log at position 0.
func NewLog() *Log {
	return &Log{revs: map[string]eventstore.Revision{}, Base: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)}
}

// Position is the position of the last event built.
func (l *Log) Position() eventstore.Position { return l.pos }

// Now is the time the next event will carry.
func (l *Log) Now() time.Time { return l.Base.Add(l.tick) }

// Event records e in orderId's stream.
func (l *Log) Event(orderID string, e aggregate.Event) eventstore.RecordedEvent {
	name, data, err := aggregate.Encode(e)
	if err != nil {
		panic(err)
	}
	return l.Raw(orderID, name, data)
}

// Raw records an event with any type and data (for poison events).
func (l *Log) Raw(orderID, typ string, data []byte) eventstore.RecordedEvent {
	stream := "payment-" + orderID
	rev, ok := l.revs[stream]
	if !ok {
		rev = -1
	}
	rev++
	l.revs[stream] = rev
	l.pos += eventstore.Position(1 + l.pos%3) // gaps: other streams' events in between
	l.tick += time.Second
	meta, _ := json.Marshal(map[string]any{"actor": "spec", "schemaVersion": 1})
	return eventstore.RecordedEvent{Stream: stream, Revision: rev, Position: l.pos, Type: typ, Data: data, Metadata: meta,
		ID: uuid.NewSHA1(uuid.NameSpaceURL, []byte(fmt.Sprintf("%s/%d", stream, rev))), RecordedAt: l.Now()}
}

// Checkout records CheckoutCreated with one order per seller (amount 1000·i KRW).
func (l *Log) Checkout(orderID, buyer string, sellers ...string) eventstore.RecordedEvent {
	var lines []aggregate.OrderLine
	total := decimal.Zero
	for i, s := range sellers {
		price := decimal.NewFromInt(int64(1000 * (i + 1)))
		lines = append(lines, aggregate.OrderLine{ProductID: "p-" + s, SellerID: s, Quantity: 2, UnitPrice: price,
			Amount: price.Mul(decimal.NewFromInt(2))})
		total = total.Add(price.Mul(decimal.NewFromInt(2)))
	}
	return l.Event(orderID, aggregate.CheckoutCreated{OrderID: orderID, OrderName: "order " + orderID, BuyerID: buyer,
		Orders: lines, TotalAmount: total, At: l.Now()})
}

// Started records ExecutionStarted.
func (l *Log) Started(orderID string, amount int64) eventstore.RecordedEvent {
	return l.Event(orderID, aggregate.ExecutionStarted{PaymentKey: "pk_" + orderID, Amount: decimal.NewFromInt(amount),
		PspIdempotencyKey: "confirm-" + orderID, At: l.Now()})
}

// Approved records PspApproved with evidence.
func (l *Log) Approved(orderID string, amount int64) eventstore.RecordedEvent {
	return l.Event(orderID, aggregate.PspApproved{PaymentKey: "pk_" + orderID, TotalAmount: decimal.NewFromInt(amount),
		Method: "카드", ApprovedAt: l.Now(), Rule: "toss.v1/done", Evidence: json.RawMessage(`{"status": "DONE", "orderId": "` + orderID + `"}`),
		At: l.Now()})
}

// Failed records PspFailed.
func (l *Log) Failed(orderID string) eventstore.RecordedEvent {
	return l.Event(orderID, aggregate.PspFailed{Code: "REJECT_CARD_PAYMENT", Message: "한도초과", HTTPStatus: 403,
		Rule: "toss.v1/card-rejected", Evidence: json.RawMessage(`{"code":"REJECT_CARD_PAYMENT"}`), At: l.Now()})
}

// Unknown records PspOutcomeUnknown.
func (l *Log) Unknown(orderID string) eventstore.RecordedEvent {
	return l.Event(orderID, aggregate.PspOutcomeUnknown{Code: "PROVIDER_ERROR", Message: "timeout", HTTPStatus: 500,
		Rule: "toss.v1/provider-error", At: l.Now()})
}
