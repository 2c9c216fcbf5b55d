package projections

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-json-experiment/json/v1"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/eventstore"
)

// DefaultThreshold is the seed's retry threshold shown on orders before recovery has
// recorded the threshold it works with.
const DefaultThreshold = 5

// ErrNotFound: no payment with this orderId in the read model. It wraps
// aggregate.ErrNotFound so the HTTP API answers 404.
var ErrNotFound = fmt.Errorf("read model: %w", aggregate.ErrNotFound)

// ErrUnappliable marks an event Apply cannot apply; see PoisonError.
var ErrUnappliable = errors.New("event cannot be projected")

// Payment is one PaymentEvent row with its PaymentOrder rows.
type Payment struct {
	OrderID       string
	PaymentKey    string
	BuyerID       string
	OrderName     string
	TotalAmount   decimal.Decimal
	Status        aggregate.Status
	IsPaymentDone bool
	ApprovedAt    *time.Time
	Method        string
	// OutcomeStatus is the status of the last recorded outcome ("" = none): the payment's
	// status moves on without an outcome (recovery re-executing, refunds).
	OutcomeStatus  aggregate.Status
	OutcomeRule    string
	OutcomeCode    string
	OutcomeMessage string
	// Evidence is the PSP's redacted answer from the last outcome event that carried one.
	Evidence      json.RawMessage
	OperatorAlert bool
	// Escalated: recovery gave up and an operator must resolve the payment. Expired: the
	// checkout expired unconfirmed. CompletedAt: when every order was booked (IsPaymentDone).
	Escalated   bool
	Expired     bool
	CompletedAt *time.Time
	// Executions counts the executions started against the PSP (aggregate.State.Executions).
	Executions int
	CreatedAt  time.Time
	UpdatedAt  time.Time
	// Revision and Position are those of the last event applied to this payment.
	Revision eventstore.Revision
	Position eventstore.Position
	Orders   []Order
	// RefundedAmount is what the approved refunds add up to (BalanceAmount: what is left);
	// Refunds are the payment's refunds in the order they were requested or found.
	RefundedAmount decimal.Decimal
	Refunds        []Refund
	// VirtualAccount is the account a virtual-account payment is paid into (nil for other
	// methods, and before the PSP issued it), shown to the shop for the buyer.
	VirtualAccount *VirtualAccount
}

// VirtualAccount is the account the PSP issued for a payment's deposit
// (aggregate.VirtualAccount without SecretHash: the read side shows the account, and only
// the write side, reading the stream, checks a deposit callback's secret).
type VirtualAccount struct {
	AccountType   string
	BankCode      string
	AccountNumber string
	HolderName    string
	DueDate       time.Time
}

// DepositDue reports whether the payment waits for a deposit whose due date is not after
// dueBy (aggregate.State.DepositOverdue), or waits without an account in its row (projected
// before the read models carried accounts: its due date is unknown here, so it is always
// due for a check, which reads the stream). ReadModel.DepositsDue lists these.
func (p Payment) DepositDue(dueBy time.Time) bool {
	return p.Status == aggregate.StatusWaitingForDeposit && (p.VirtualAccount == nil || !dueBy.Before(p.VirtualAccount.DueDate))
}

// DueCursor is the keyset position after which a DepositsDue page starts: payments are
// listed by due date (zero when the row has no account, so those come first), then orderId.
type DueCursor struct {
	DueDate time.Time `json:"d"`
	OrderID string    `json:"o"`
}

// DueCursorOf is p's position in DepositsDue's order.
func DueCursorOf(p Payment) DueCursor {
	c := DueCursor{OrderID: p.OrderID}
	if p.VirtualAccount != nil {
		c.DueDate = p.VirtualAccount.DueDate
	}
	return c
}

// Encode makes the opaque cursor for the DepositsDue page after c.
func (c DueCursor) Encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeDueCursor reads a DepositsDue cursor; a malformed one fails with ErrBadCursor.
func DecodeDueCursor(s string) (DueCursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	var c DueCursor
	if err != nil || json.Unmarshal(b, &c) != nil || c.OrderID == "" {
		return DueCursor{}, ErrBadCursor
	}
	c.DueDate = norm(c.DueDate)
	return c, nil
}

// DuePage cuts a DepositsDue page from keys, the positions after the cursor in DueCursor
// order (an adapter reads at most limit+1 of them): the first limit orderIds, and the cursor
// of the next page when there are more ("" on the last page).
func DuePage(keys []DueCursor, limit int) (ids []string, next string) {
	ids = make([]string, 0, min(limit, len(keys)))
	for i, k := range keys {
		if i == limit {
			return ids, keys[limit-1].Encode()
		}
		ids = append(ids, k.OrderID)
	}
	return ids, ""
}

// Before reports whether c comes before p in DepositsDue's order.
func (c DueCursor) Before(p Payment) bool {
	k := DueCursorOf(p)
	return k.DueDate.After(c.DueDate) || (k.DueDate.Equal(c.DueDate) && k.OrderID > c.OrderID)
}

// BalanceAmount is what is left to refund of an approved payment (zero otherwise), as
// aggregate.State.BalanceAmount.
func (p Payment) BalanceAmount() decimal.Decimal {
	if !p.Status.Approved() {
		return decimal.Zero
	}
	return p.TotalAmount.Sub(p.RefundedAmount)
}

// Refund is one payment_refunds row: a refund requested through paystream, or a cancel made
// at the PSP and found there (External). The write side's bookkeeping (the client's request
// key and hash, the refund account) is not kept.
type Refund struct {
	OrderID  string
	RefundID string
	Seq      int // 1-based position among the payment's refunds
	Amount   decimal.Decimal
	// Orders is how much comes back from each PaymentOrder; nil: not allocated yet.
	Orders        []aggregate.RefundSplit
	Reason        string
	TaxFreeAmount decimal.Decimal
	// Status: EXECUTING, SUCCESS (refunded), FAILURE or UNKNOWN.
	Status aggregate.Status
	// OutcomeStatus is the status of the last recorded outcome ("" = none yet): it differs
	// from Status while recovery re-executes an UNKNOWN refund.
	OutcomeStatus                            aggregate.Status
	OutcomeRule, OutcomeCode, OutcomeMessage string
	TransactionKey                           string
	CanceledAt                               *time.Time
	External                                 bool
	FoundBy                                  string
	// FailedCount is the number of recovery attempts, Threshold where recovery escalates (0
	// before the first attempt); Escalated: an operator must resolve the refund.
	FailedCount            int
	Threshold              int
	Escalated              bool
	LedgerBooked           bool
	WalletBooked           bool
	PspIdempotencyKey      string
	RequestedAt, UpdatedAt time.Time
}

// Order is one PaymentOrder row.
type Order struct {
	OrderID       string
	Seq           int
	BuyerID       string
	SellerID      string
	ProductID     string
	Quantity      int64
	UnitPrice     decimal.Decimal
	Amount        decimal.Decimal
	Status        aggregate.Status
	LedgerUpdated bool
	WalletUpdated bool
	// Refunded is what allocated, approved refunds took back from the order.
	Refunded decimal.Decimal
	// FailedCount is the number of recovery attempts (the seed's failed_count); Threshold is
	// where recovery gives up and escalates.
	FailedCount int
	Threshold   int
}

// History is one payment_order_history row: an order's status changed because of an event.
type History struct {
	OrderID  string
	Seq      int
	Previous aggregate.Status // "" for the checkout that created the order
	New      aggregate.Status
	Reason   string // the outcome's rule and code, e.g. "toss.v1/REJECT_CARD_PAYMENT"; the event name otherwise
	Actor    string // from the event's metadata
	At       time.Time
	EventID  uuid.UUID
	Position eventstore.Position
}

// PoisonError is an event the projection cannot apply. The projector stops at it.
type PoisonError struct {
	Event eventstore.RecordedEvent
	Err   error
}

func (e *PoisonError) Error() string {
	return fmt.Sprintf("project %s@%d (position %d, %s): %v", e.Event.Stream, e.Event.Revision, e.Event.Position, e.Event.Type, e.Err)
}

func (e *PoisonError) Unwrap() []error { return []error{ErrUnappliable, e.Err} }

// DeadLetter is a recorded poison event.
type DeadLetter struct {
	Position eventstore.Position
	Stream   string
	Revision eventstore.Revision
	EventID  uuid.UUID
	Type     string
	Data     []byte
	Error    string
	At       time.Time
}

// DeadLetterOf describes a poison event for the dead-letter table.
func DeadLetterOf(p *PoisonError, at time.Time) DeadLetter {
	return DeadLetter{Position: p.Event.Position, Stream: p.Event.Stream, Revision: p.Event.Revision, EventID: p.Event.ID,
		Type: p.Event.Type, Data: p.Event.Data, Error: storableText(p.Err.Error()), At: at.UTC().Truncate(time.Microsecond)}
}

// storableText makes s storable in any read model: an error may quote the very value a
// database refused (a NUL, invalid UTF-8), and its dead letter must not be refused too.
func storableText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\\u0000")
}

// Filter selects payments for List. Zero fields do not filter.
type Filter struct {
	Status      aggregate.Status
	SellerID    string
	BuyerID     string
	CreatedFrom time.Time // inclusive
	CreatedTo   time.Time // exclusive
	Limit       int       // 1..MaxLimit; 0 = DefaultLimit
	Cursor      string    // from a previous Page.NextCursor
}

// Page is one page of List, ordered by (CreatedAt, OrderID).
type Page struct {
	Items      []Payment
	NextCursor string // empty on the last page
}

const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// ErrBadCursor: Filter.Cursor is not a cursor List handed out.
var ErrBadCursor = errors.New("malformed cursor")

// Cursor is the keyset position after which a page starts.
type Cursor struct {
	CreatedAt time.Time `json:"c"`
	OrderID   string    `json:"o"`
}

// NormLimit clamps a requested page size.
func NormLimit(n int) int {
	switch {
	case n <= 0:
		return DefaultLimit
	case n > MaxLimit:
		return MaxLimit
	}
	return n
}

// Matches reports whether p passes the filter's conditions (not the cursor).
func (f Filter) Matches(p Payment) bool {
	if f.Status != "" && p.Status != f.Status {
		return false
	}
	if f.BuyerID != "" && p.BuyerID != f.BuyerID {
		return false
	}
	if !f.CreatedFrom.IsZero() && p.CreatedAt.Before(f.CreatedFrom) {
		return false
	}
	if !f.CreatedTo.IsZero() && !p.CreatedAt.Before(f.CreatedTo) {
		return false
	}
	if f.SellerID != "" {
		for _, o := range p.Orders {
			if o.SellerID == f.SellerID {
				return true
			}
		}
		return false
	}
	return true
}
