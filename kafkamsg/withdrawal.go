package kafkamsg

import (
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// Deposit-error schemas. A withdrawal travels on the approvals topic keyed by orderId, like
// the approval it takes back (and the refunds): one partition carries a payment's approval,
// its withdrawal and the next deposit's approval in the order they happened.
const (
	// SchemaDepositWithdrawn is one approval the PSP withdrew after a deposit error
	// (Withdrawn): subscribers take back everything it booked.
	SchemaDepositWithdrawn = "payment.deposit-withdrawn.v1"
	// SchemaWithdrawalBooked is a subscriber's completion of a withdrawal (WithdrawalBooked),
	// on its completion topic.
	SchemaWithdrawalBooked = "payment.withdrawal-booked.v1"
)

// Withdrawn is payment.deposit-withdrawn.v1: the PSP moved a deposited virtual-account
// payment back to waiting for its deposit, so the approval ApprovalID is withdrawn whole
// (Amount, split over Orders, what the approval booked per order).
type Withdrawn struct {
	Schema       string          `json:"schema"`
	OrderID      string          `json:"orderId"`
	WithdrawalID string          `json:"withdrawalId"`
	PaymentKey   string          `json:"paymentKey"`
	Amount       decimal.Decimal `json:"amount"`
	Orders       []RefundedOrder `json:"orders"`
	WithdrawnAt  time.Time       `json:"withdrawnAt"`
	// ApprovalID is the message id of the approval withdrawn: the booking taken back.
	ApprovalID string `json:"approvalMessageId"`
	// SourceEventID is the DepositWithdrawn event's id: the message id subscribers
	// deduplicate by.
	SourceEventID  string `json:"sourceEventId"`
	SourcePosition uint64 `json:"sourcePosition"`
}

// MessageID is the id subscribers deduplicate by.
func (w Withdrawn) MessageID() string { return w.SourceEventID }

// Validate checks the rules every withdrawal keeps; errors wrap ErrMalformed.
func (w Withdrawn) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: %s: %w", SchemaDepositWithdrawn, fmt.Sprintf(format, args...), ErrMalformed)
	}
	switch {
	case w.Schema != SchemaDepositWithdrawn:
		return bad("schema %q", w.Schema)
	case w.OrderID == "" || w.WithdrawalID == "":
		return bad("orderId and withdrawalId are required")
	case w.SourceEventID == "" || w.ApprovalID == "":
		return bad("sourceEventId and approvalMessageId are required")
	case len(w.Orders) == 0:
		return bad("no orders")
	}
	sum := decimal.Zero
	for i, o := range w.Orders {
		if o.Seq < 1 || o.SellerID == "" || !o.Amount.IsPositive() {
			return bad("orders[%d] needs seq ≥ 1, sellerId and a positive amount", i)
		}
		sum = sum.Add(o.Amount)
	}
	if !sum.Equal(w.Amount) {
		return bad("orders sum to %s, amount is %s", sum, w.Amount)
	}
	return nil
}

// Marshal encodes the message as JSON.
func (w Withdrawn) Marshal() ([]byte, error) { return encode(SchemaDepositWithdrawn, w) }

// DecodeWithdrawn decodes and validates a payment.deposit-withdrawn.v1. Errors wrap
// ErrMalformed.
func DecodeWithdrawn(data []byte) (Withdrawn, error) {
	return decodeValid[Withdrawn](SchemaDepositWithdrawn, data)
}

// WithdrawalBooked is payment.withdrawal-booked.v1: subscriber By ("ledger" or "wallet")
// took the withdrawn approval back.
type WithdrawalBooked struct {
	Schema       string `json:"schema"`
	MessageID    string `json:"messageId"`
	OrderID      string `json:"orderId"`
	WithdrawalID string `json:"withdrawalId"`
	By           string `json:"by"`
	// SourceMessageID is the message id of the withdrawal this completes.
	SourceMessageID string `json:"sourceMessageId"`
}

// NewWithdrawalBooked is the completion subscriber by sends for w. Its message id is
// deterministic, so a re-sent completion carries the same id.
func NewWithdrawalBooked(by string, w Withdrawn) WithdrawalBooked {
	return WithdrawalBooked{Schema: SchemaWithdrawalBooked, OrderID: w.OrderID, WithdrawalID: w.WithdrawalID, By: by,
		SourceMessageID: w.MessageID(),
		MessageID:       uuid.NewSHA1(completionNamespace, []byte(SchemaWithdrawalBooked+"/"+by+"/"+w.MessageID())).String()}
}

// Marshal encodes the completion as JSON.
func (b WithdrawalBooked) Marshal() ([]byte, error) { return encode(SchemaWithdrawalBooked, b) }

// Validate reports what makes the completion malformed; errors wrap ErrMalformed.
func (b WithdrawalBooked) Validate() error {
	return validBooked(SchemaWithdrawalBooked, b.Schema, b.MessageID, b.OrderID, "withdrawalId", b.WithdrawalID, b.By)
}

// DecodeWithdrawalBooked decodes and validates a withdrawal's completion. Errors wrap
// ErrMalformed.
func DecodeWithdrawalBooked(data []byte) (WithdrawalBooked, error) {
	return decodeValid[WithdrawalBooked](SchemaWithdrawalBooked, data)
}
