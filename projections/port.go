package projections

import (
	"context"
	"time"

	"github.com/paystream/paystream/eventstore"
)

// ReadModel is the query side of the read models, as the conformance suite in readmodeltest
// pins it for every adapter. Consumers declare the subset they use.
type ReadModel interface {
	// Payment returns a payment with its orders; ErrNotFound when there is none.
	Payment(ctx context.Context, orderID string) (Payment, error)
	// History returns a payment's order status changes in position order.
	History(ctx context.Context, orderID string) ([]History, error)
	// List returns a page of payments matching f in (CreatedAt, OrderID) order; a cursor it
	// did not hand out fails with ErrBadCursor.
	List(ctx context.Context, f Filter) (Page, error)
	// OpenForRecovery returns the orderIds of payments open for recovery
	// (aggregate.State.Open(executingBefore): the payment, or its open refund, is UNKNOWN or
	// EXECUTING since before executingBefore, and not escalated), oldest UpdatedAt first, at
	// most limit of them.
	OpenForRecovery(ctx context.Context, executingBefore time.Time, limit int) ([]string, error)
	// DepositsDue returns, a page at a time, the orderIds of payments waiting for a deposit
	// due by dueBy (Payment.DepositDue: aggregate.State.DepositOverdue(dueBy), plus rows
	// without an account), earliest due date first, then by orderId (DueCursor), at most
	// limit (NormLimit) of them. cursor "" starts; next is "" on the last page; a cursor it
	// did not hand out fails with ErrBadCursor.
	DepositsDue(ctx context.Context, dueBy time.Time, limit int, cursor string) (ids []string, next string, err error)
	// WaitFor returns nil once the read model has applied position p, or ctx's error.
	WaitFor(ctx context.Context, p eventstore.Position) error
	// DeadLetters lists the recorded poison events.
	DeadLetters(ctx context.Context) ([]DeadLetter, error)
}

// Store is a read model adapter: queries plus the projector's writes.
type Store interface {
	ReadModel
	Target
}
