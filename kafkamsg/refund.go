package kafkamsg

import (
	"fmt"
	"time"

	"github.com/go-json-experiment/json/v1"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Refund schemas. A refund travels on the approvals topic (TopicApproved), keyed by
// orderId like its payment's approval: one partition carries a payment's approval, its
// refunds and their allocations in the order they happened, so no subscriber ever sees a
// refund before the approval it takes money back from. Subscribers tell the messages
// apart by their schema (the "schema" field and header).
const (
	// SchemaRefunded is one approved refund (Refunded).
	SchemaRefunded = "payment.refunded.v1"
	// SchemaRefundAllocated says which orders an unallocated refund came from (Refunded,
	// with Orders).
	SchemaRefundAllocated = "payment.refund-allocated.v1"
	// SchemaRefundBooked is a subscriber's completion of a refund (RefundBooked), on its
	// completion topic.
	SchemaRefundBooked = "payment.refund-booked.v1"
)

// Refunded is payment.refunded.v1 — one refund the PSP made, requested through paystream
// or made at the PSP (External) — or payment.refund-allocated.v1, an operator's allocation
// of an unallocated one (Schema tells which). Orders says which orders the money comes back
// from; a payment.refunded.v1 without Orders is unallocated (a cancel made at the PSP
// whose split is unknown) until its payment.refund-allocated.v1.
type Refunded struct {
	Schema         string          `json:"schema"`
	OrderID        string          `json:"orderId"`
	RefundID       string          `json:"refundId"`
	TransactionKey string          `json:"transactionKey,omitempty"`
	Amount         decimal.Decimal `json:"amount"`
	Orders         []RefundedOrder `json:"orders,omitempty"`
	External       bool            `json:"external,omitempty"`
	CanceledAt     time.Time       `json:"canceledAt"`
	// ApprovalID is the message id of the payment's approval: the booking the refund takes
	// money back from.
	ApprovalID string `json:"approvalMessageId"`
	// SourceEventID is the id of the event reported (RefundApproved, ExternalRefundRecorded,
	// RefundManuallyResolved or RefundAllocated): the message id subscribers deduplicate by.
	SourceEventID  string `json:"sourceEventId"`
	SourcePosition uint64 `json:"sourcePosition"`
}

// RefundedOrder is what comes back from one PaymentOrder.
type RefundedOrder struct {
	Seq      int             `json:"seq"`
	SellerID string          `json:"sellerId"`
	Amount   decimal.Decimal `json:"amount"`
}

// MessageID is the id subscribers deduplicate by.
func (r Refunded) MessageID() string { return r.SourceEventID }

// Allocated reports whether the message says which orders the money comes from.
func (r Refunded) Allocated() bool { return len(r.Orders) > 0 }

// Validate checks the rules every refund message keeps; errors wrap ErrMalformed.
func (r Refunded) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: %s: %w", r.Schema, fmt.Sprintf(format, args...), ErrMalformed)
	}
	switch {
	case r.Schema != SchemaRefunded && r.Schema != SchemaRefundAllocated:
		return bad("schema %q", r.Schema)
	case r.OrderID == "" || r.RefundID == "":
		return bad("orderId and refundId are required")
	case r.SourceEventID == "" || r.ApprovalID == "":
		return bad("sourceEventId and approvalMessageId are required")
	case !r.Amount.IsPositive():
		return bad("amount %s is not positive", r.Amount)
	case r.Schema == SchemaRefundAllocated && len(r.Orders) == 0:
		return bad("an allocation needs orders")
	}
	if len(r.Orders) == 0 {
		return nil
	}
	sum := decimal.Zero
	for i, o := range r.Orders {
		if o.Seq < 1 || o.SellerID == "" || !o.Amount.IsPositive() {
			return bad("orders[%d] needs seq ≥ 1, sellerId and a positive amount", i)
		}
		sum = sum.Add(o.Amount)
	}
	if !sum.Equal(r.Amount) {
		return bad("orders sum to %s, amount is %s", sum, r.Amount)
	}
	return nil
}

// Marshal encodes the message as JSON.
func (r Refunded) Marshal() ([]byte, error) { return encode(r.Schema, r) }

// DecodeRefunded decodes and validates a payment.refunded.v1 or payment.refund-allocated.v1.
// Errors wrap ErrMalformed.
func DecodeRefunded(data []byte) (Refunded, error) {
	return decodeValid[Refunded](SchemaRefunded, data)
}

// RefundBooked is payment.refund-booked.v1: subscriber By ("ledger" or "wallet") booked the
// refund against the sellers (for an unallocated refund, once its allocation came).
type RefundBooked struct {
	Schema    string `json:"schema"`
	MessageID string `json:"messageId"`
	OrderID   string `json:"orderId"`
	RefundID  string `json:"refundId"`
	By        string `json:"by"`
	// SourceMessageID is the message id of the refund or allocation this completes.
	SourceMessageID string `json:"sourceMessageId"`
}

// NewRefundBooked is the completion subscriber by sends for r. Its message id is
// deterministic, so a re-sent completion carries the same id.
func NewRefundBooked(by string, r Refunded) RefundBooked {
	return RefundBooked{Schema: SchemaRefundBooked, OrderID: r.OrderID, RefundID: r.RefundID, By: by,
		SourceMessageID: r.MessageID(),
		MessageID:       uuid.NewSHA1(completionNamespace, []byte(SchemaRefundBooked+"/"+by+"/"+r.MessageID())).String()}
}

// Marshal encodes the completion as JSON.
func (b RefundBooked) Marshal() ([]byte, error) { return encode(SchemaRefundBooked, b) }

// Validate reports what makes the completion malformed; errors wrap ErrMalformed.
func (b RefundBooked) Validate() error {
	return validBooked(SchemaRefundBooked, b.Schema, b.MessageID, b.OrderID, "refundId", b.RefundID, b.By)
}

// DecodeRefundBooked decodes and validates a refund completion. Errors wrap ErrMalformed.
func DecodeRefundBooked(data []byte) (RefundBooked, error) {
	return decodeValid[RefundBooked](SchemaRefundBooked, data)
}

// validBooked is the rule of a subscriber's completion of one refund or withdrawal: its
// schema, its ids, and a subscriber that books ("ledger" or "wallet").
func validBooked(want, schema, messageID, orderID, idName, id, by string) error {
	switch {
	case schema != want:
		return fmt.Errorf("%s: schema %q: %w", want, schema, ErrMalformed)
	case messageID == "" || orderID == "" || id == "":
		return fmt.Errorf("%s: messageId, orderId and %s are required: %w", want, idName, ErrMalformed)
	case by != "ledger" && by != "wallet":
		return fmt.Errorf("%s: by %q is not ledger or wallet: %w", want, by, ErrMalformed)
	}
	return nil
}

// RecordSchema is the schema a record names: its schema header, which every paystream
// producer sets, or else the one its value names (SchemaOf). Consumers dispatch on it
// without decoding the value twice; each decoder checks the value's own schema field, so a
// record whose header and value disagree is refused as malformed.
func RecordSchema(r *kgo.Record) string {
	for _, h := range r.Headers {
		if h.Key == HeaderSchema {
			return string(h.Value)
		}
	}
	return SchemaOf(r.Value)
}

// SchemaOf is the schema a JSON message names ("" when it names none or is not JSON):
// how a consumer of a topic carrying several schemas tells them apart.
func SchemaOf(data []byte) string {
	var m struct {
		Schema string `json:"schema"`
	}
	_ = json.Unmarshal(data, &m)
	return m.Schema
}
