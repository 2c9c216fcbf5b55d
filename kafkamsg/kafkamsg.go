package kafkamsg

import (
	"errors"
	"fmt"
	"time"

	"github.com/go-json-experiment/json/v1"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// Default topic names.
const (
	TopicApproved      = "payments.approved"
	TopicLedgerUpdated = "payments.ledger-updated"
	TopicWalletUpdated = "payments.wallet-updated"
	// TopicCompletionsDLQ parks completion messages paymentd cannot use.
	TopicCompletionsDLQ = "payments.completions.dlq"
	// TopicApprovedDLQ parks approval messages a subscriber cannot use.
	TopicApprovedDLQ = "payments.approved.dlq"
	// TopicCheckpoints holds the forwarder's checkpoint (compacted, keyed by forwarder name).
	TopicCheckpoints = "paystream.forwarder.checkpoints"
)

// Schema names, one per message shape and version.
const (
	SchemaApproved      = "payment.approved.v1"
	SchemaLedgerUpdated = "payment.ledger-updated.v1"
	SchemaWalletUpdated = "payment.wallet-updated.v1"
)

// Record header keys.
const (
	HeaderSchema        = "schema"
	HeaderEventType     = "event-type"
	HeaderEventID       = "event-id"
	HeaderCorrelationID = "correlation-id"
	HeaderError         = "error"        // on parked records: why
	HeaderSourceTopic   = "source-topic" // on parked records: where from
)

// ErrMalformed: a message that does not decode or breaks its schema's rules. Parking it is
// the only useful reaction: a retry cannot fix it.
var ErrMalformed = errors.New("malformed message")

// Approved is payment.approved.v1: one PSP approval of a payment with every order in it.
type Approved struct {
	Schema      string          `json:"schema"`
	OrderID     string          `json:"orderId"`
	PaymentKey  string          `json:"paymentKey"`
	ApprovedAt  time.Time       `json:"approvedAt"`
	TotalAmount decimal.Decimal `json:"totalAmount"`
	BuyerID     string          `json:"buyerId"`
	Orders      []ApprovedOrder `json:"orders"`
	// SourceEventID is the PspApproved event's id: the message id subscribers deduplicate by.
	SourceEventID string `json:"sourceEventId"`
	// SourcePosition is the event's global position in the event store.
	SourcePosition uint64 `json:"sourcePosition"`
}

// ApprovedOrder is one PaymentOrder of an approved payment.
type ApprovedOrder struct {
	Seq       int             `json:"seq"` // 1-based, as the payment service numbers orders
	SellerID  string          `json:"sellerId"`
	ProductID string          `json:"productId"`
	Amount    decimal.Decimal `json:"amount"`
}

// MessageID is the id subscribers deduplicate by.
func (a Approved) MessageID() string { return a.SourceEventID }

// Seqs lists the approval's order numbers.
func (a Approved) Seqs() []int {
	seqs := make([]int, len(a.Orders))
	for i, o := range a.Orders {
		seqs[i] = o.Seq
	}
	return seqs
}

// Validate checks the rules every approval keeps; errors wrap ErrMalformed.
func (a Approved) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: %s: %w", SchemaApproved, fmt.Sprintf(format, args...), ErrMalformed)
	}
	switch {
	case a.Schema != SchemaApproved:
		return bad("schema %q", a.Schema)
	case a.OrderID == "":
		return bad("orderId is empty")
	case a.SourceEventID == "":
		return bad("sourceEventId is empty")
	case len(a.Orders) == 0:
		return bad("no orders")
	}
	sum := decimal.Zero
	for i, o := range a.Orders {
		if o.Seq < 1 || o.SellerID == "" || !o.Amount.IsPositive() {
			return bad("orders[%d] needs seq ≥ 1, sellerId and a positive amount", i)
		}
		sum = sum.Add(o.Amount)
	}
	if !sum.Equal(a.TotalAmount) {
		return bad("orders sum to %s, totalAmount is %s", sum, a.TotalAmount)
	}
	return nil
}

// Marshal encodes the approval as JSON.
func (a Approved) Marshal() ([]byte, error) { return encode(SchemaApproved, a) }

// DecodeApproved decodes and validates an approval. Errors wrap ErrMalformed.
func DecodeApproved(data []byte) (Approved, error) {
	return decodeValid[Approved](SchemaApproved, data)
}

// Completion is payment.ledger-updated.v1 or payment.wallet-updated.v1 (Schema tells which):
// a subscriber booked these orders of a payment.
type Completion struct {
	Schema    string `json:"schema"`
	MessageID string `json:"messageId"`
	OrderID   string `json:"orderId"`
	Orders    []int  `json:"orders"`
	// ApprovalID is the message id of the approval this completes.
	ApprovalID string `json:"approvalMessageId,omitempty"`
}

// completionNamespace scopes completion message ids.
var completionNamespace = uuid.MustParse("2d7c0a4e-9f61-4b8e-a0c3-5e1f7b92d846")

// NewCompletion is the completion a subscriber publishing schema sends for an approval. Its
// message id is deterministic, so a re-sent completion carries the same id.
func NewCompletion(schema string, a Approved) Completion {
	return Completion{Schema: schema, OrderID: a.OrderID, Orders: a.Seqs(), ApprovalID: a.MessageID(),
		MessageID: uuid.NewSHA1(completionNamespace, []byte(schema+"/"+a.MessageID())).String()}
}

// Marshal encodes the completion as JSON.
func (c Completion) Marshal() ([]byte, error) { return encode(c.Schema, c) }

// DecodeCompletion decodes and validates a completion of either schema. Errors wrap
// ErrMalformed.
func DecodeCompletion(data []byte) (Completion, error) {
	var c Completion
	if err := json.Unmarshal(data, &c); err != nil {
		return Completion{}, fmt.Errorf("decode completion: %v: %w", err, ErrMalformed)
	}
	bad := func(format string, args ...any) (Completion, error) {
		return Completion{}, fmt.Errorf("completion: %s: %w", fmt.Sprintf(format, args...), ErrMalformed)
	}
	switch {
	case c.Schema != SchemaLedgerUpdated && c.Schema != SchemaWalletUpdated:
		return bad("unknown schema %q", c.Schema)
	case c.OrderID == "":
		return bad("orderId is empty")
	case c.MessageID == "":
		return bad("messageId is empty")
	case len(c.Orders) == 0:
		return bad("no orders")
	}
	for _, seq := range c.Orders {
		if seq < 1 {
			return bad("order seq %d", seq)
		}
	}
	return c, nil
}
