package commands

import (
	"context"
	"time"

	"github.com/go-json-experiment/json/v1"

	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/eventstore"
)

// EventStore is what the service needs of the event store.
type EventStore interface {
	ReadStream(ctx context.Context, stream string) ([]eventstore.RecordedEvent, error)
	Append(ctx context.Context, stream string, expected eventstore.Revision, events []eventstore.Event) (eventstore.AppendResult, error)
}

// PSP is the payment provider in paystream's terms. An adapter (toss.PSP for Toss Payments)
// classifies its provider's answers with its own versioned rule table and names the rule
// in every verdict, so that each recorded outcome says which rule decided it.
type PSP interface {
	// Confirm asks the provider to execute e once (e.IdempotencyKey makes a repeat of the
	// same request safe) and classifies the answer.
	Confirm(ctx context.Context, e Execution) PSPAnswer
	// Lookup reads the provider's record of the payment e executed, and judges it.
	Lookup(ctx context.Context, e Execution) PSPRecord
	// Cancel asks the provider to refund r once (r.IdempotencyKey makes a repeat of the same
	// request safe) and classifies the answer. SUCCESS only when the provider's record shows
	// a new cancel of r.Amount (one whose transaction key is not in r.KnownCancels); its
	// TransactionKey and CanceledAt are set in the verdict.
	Cancel(ctx context.Context, r RefundExecution) PSPAnswer
}

// RefundExecution is a refund as sent (or to be sent) to the PSP.
type RefundExecution struct {
	OrderID        string
	PaymentKey     string
	Amount         decimal.Decimal
	TaxFreeAmount  decimal.Decimal
	Reason         string
	Account        *aggregate.RefundAccount // virtual-account payments only
	IdempotencyKey string
	// KnownCancels are the transaction keys of the payment's cancels already recorded: a
	// cancel in the provider's record that is not among them is new.
	KnownCancels []string
}

// PSPCancel is one cancel in the provider's record of a payment.
type PSPCancel struct {
	TransactionKey string
	Amount         decimal.Decimal
	Reason         string
	CanceledAt     time.Time
	Status         string // the provider's word, e.g. DONE
}

// Execution is a payment as executed (or to be executed) at the PSP.
type Execution struct {
	OrderID        string
	PaymentKey     string
	Amount         decimal.Decimal
	IdempotencyKey string
}

// executionOf is the execution the payment's state records.
func executionOf(st aggregate.State) Execution {
	return Execution{OrderID: st.OrderID, PaymentKey: st.PaymentKey, Amount: st.ConfirmedAmount,
		IdempotencyKey: st.PspIdempotencyKey}
}

// PSPAnswer is a classified answer to a confirm.
type PSPAnswer struct {
	Verdict aggregate.Verdict
	// Retry: the outcome is unknown, and repeating the same idempotent request now may
	// settle it (a timeout, a 5xx, PROVIDER_ERROR).
	Retry bool
	// LookUp: the outcome is unknown, and only the provider's record can settle it (e.g.
	// ALREADY_PROCESSED_PAYMENT: processed, but by which request?). Never assume success.
	LookUp bool
}

// PSPRecord is the provider's record of a payment, judged against the execution.
type PSPRecord struct {
	// Decided: the record settles the outcome, as Verdict says — SUCCESS when captured as
	// executed; FAILURE when the payment was never captured (aborted, expired); UNKNOWN with
	// an operator alert when money moved otherwise (another amount, refunded at the PSP).
	Decided bool
	Verdict aggregate.Verdict
	// Status is the provider's word for the record (DONE, IN_PROGRESS, NOT_FOUND_PAYMENT…);
	// empty when the lookup failed.
	Status string
	// NotFound: the provider has no payment for the orderId (nothing was ever captured).
	NotFound bool
	// Err: the lookup failed; nothing is known.
	Err error
	// Evidence is the record as the provider sent it, redacted.
	Evidence json.RawMessage
	// Cancels are the record's completed cancels (refunds), oldest first; Balance is what is
	// left to cancel. Set whenever the record was read.
	Cancels []PSPCancel
	Balance decimal.Decimal
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
