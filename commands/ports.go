package commands

import (
	"context"

	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/toss"
)

// EventStore is what the service needs of the event store.
type EventStore interface {
	ReadStream(ctx context.Context, stream string) ([]eventstore.RecordedEvent, error)
	Append(ctx context.Context, stream string, expected eventstore.Revision, events []eventstore.Event) (eventstore.AppendResult, error)
}

// PSP is what the service needs of Toss Payments.
type PSP interface {
	Confirm(ctx context.Context, req toss.ConfirmRequest, idempotencyKey string) (toss.Payment, error)
	PaymentByOrderID(ctx context.Context, orderID string) (toss.Payment, error)
}

// Product is a sellable item with its price.
type Product struct {
	ID       string          `json:"id"`
	Name     string          `json:"name"`
	SellerID string          `json:"sellerId"`
	Price    decimal.Decimal `json:"price"`
}

// Catalog prices checkouts. Product reports false for an unknown id.
type Catalog interface {
	Product(id string) (Product, bool)
}
