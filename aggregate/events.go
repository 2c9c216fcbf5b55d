package aggregate

import (
	"time"

	"github.com/go-json-experiment/json/v1"

	"github.com/shopspring/decimal"
)

// Event is one recorded fact about a payment. The set is sealed: only this package's types
// implement it, so Evolve's type switch can be exhaustive.
type Event interface {
	// EventName is the stable, versioned name the event is stored under.
	EventName() string
	sealed()
}

// Versioned event names. A released name is frozen: a changed shape gets a new version and
// the old one an upcaster in codec.go.
const (
	NameCheckoutCreated   = "payment.checkout-created.v1"
	NameExecutionStarted  = "payment.execution-started.v1"
	NameConfirmRejected   = "payment.confirm-rejected.v1"
	NamePspApproved       = "payment.psp-approved.v1"
	NamePspFailed         = "payment.psp-failed.v1"
	NamePspOutcomeUnknown = "payment.psp-outcome-unknown.v1"
	NameExecutionAborted  = "payment.execution-aborted.v1"
	NameRecoveryAttempted = "payment.recovery-attempted.v1"
	NameEscalatedToManual = "payment.escalated-to-manual.v1"
	NameManuallyResolved  = "payment.manually-resolved.v1"
	NameCheckoutExpired   = "payment.checkout-expired.v1"
	NameLedgerUpdated     = "payment.ledger-updated.v1"
	NameWalletUpdated     = "payment.wallet-updated.v1"
	NamePaymentCompleted  = "payment.completed.v1"
)

// OrderLine is one PaymentOrder as the checkout priced it.
type OrderLine struct {
	ProductID string          `json:"productId"`
	SellerID  string          `json:"sellerId"`
	Quantity  int64           `json:"quantity"`
	UnitPrice decimal.Decimal `json:"unitPrice"`
	Amount    decimal.Decimal `json:"amount"`
}

// CheckoutCreated: a buyer checked out; the payment exists with its orders, nothing charged.
type CheckoutCreated struct {
	OrderID     string          `json:"orderId"`
	OrderName   string          `json:"orderName"`
	BuyerID     string          `json:"buyerId"`
	Orders      []OrderLine     `json:"orders"`
	TotalAmount decimal.Decimal `json:"totalAmount"`
	RequestHash string          `json:"requestHash,omitempty"`
	At          time.Time       `json:"at"`
}

// ExecutionStarted: we are about to ask the PSP to confirm. Only one can follow a given
// revision, which is what makes concurrent confirms call the PSP once.
type ExecutionStarted struct {
	PaymentKey        string          `json:"paymentKey"`
	Amount            decimal.Decimal `json:"amount"`
	PspIdempotencyKey string          `json:"pspIdempotencyKey"`
	RequestKey        string          `json:"requestKey,omitempty"`
	RequestHash       string          `json:"requestHash,omitempty"`
	At                time.Time       `json:"at"`
}

// ConfirmRejected: our own validation refused the confirm (e.g. the amount does not match
// the checkout); the PSP was not called and the payment failed.
type ConfirmRejected struct {
	PaymentKey  string          `json:"paymentKey"`
	Amount      decimal.Decimal `json:"amount"`
	Rule        string          `json:"rule"`
	Code        string          `json:"code"`
	Message     string          `json:"message"`
	RequestKey  string          `json:"requestKey,omitempty"`
	RequestHash string          `json:"requestHash,omitempty"`
	At          time.Time       `json:"at"`
}

// PspApproved: the PSP captured the money. Evidence is its redacted answer.
type PspApproved struct {
	PaymentKey  string          `json:"paymentKey"`
	TotalAmount decimal.Decimal `json:"totalAmount"`
	Method      string          `json:"method"`
	ApprovedAt  time.Time       `json:"approvedAt"`
	Rule        string          `json:"rule"`
	Evidence    json.RawMessage `json:"evidence,omitempty"`
	At          time.Time       `json:"at"`
}

// PspFailed: the PSP definitively refused (card, limit, fraud, expired session…).
type PspFailed struct {
	Code       string          `json:"code"`
	Message    string          `json:"message"`
	HTTPStatus int             `json:"httpStatus,omitempty"`
	Rule       string          `json:"rule"`
	Evidence   json.RawMessage `json:"evidence,omitempty"`
	At         time.Time       `json:"at"`
}

// PspOutcomeUnknown: we cannot tell whether money moved (timeout, 5xx, ambiguous codes). The
// payment stays open for recovery, which looks it up before anything else.
type PspOutcomeUnknown struct {
	Code          string          `json:"code,omitempty"`
	Message       string          `json:"message"`
	HTTPStatus    int             `json:"httpStatus,omitempty"`
	Rule          string          `json:"rule"`
	OperatorAlert bool            `json:"operatorAlert,omitempty"`
	Evidence      json.RawMessage `json:"evidence,omitempty"`
	At            time.Time       `json:"at"`
}

// ExecutionAborted: the PSP certainly did not execute because of a fault on our side (bad
// API key, malformed idempotency key). Not the buyer's failure: the payment can be confirmed
// again once operators fix it.
type ExecutionAborted struct {
	Code          string          `json:"code"`
	Message       string          `json:"message"`
	HTTPStatus    int             `json:"httpStatus,omitempty"`
	Rule          string          `json:"rule"`
	OperatorAlert bool            `json:"operatorAlert"`
	Evidence      json.RawMessage `json:"evidence,omitempty"`
	At            time.Time       `json:"at"`
}

// RecoveryAttempted: a recovery worker claimed an open payment (stale EXECUTING or UNKNOWN)
// for one attempt to settle it. Appending it at the exact revision is the claim, so two
// workers never work one payment at once. The payment is EXECUTING until the attempt records
// an outcome.
type RecoveryAttempted struct {
	Attempt   int       `json:"attempt"`   // 1-based
	Threshold int       `json:"threshold"` // attempts allowed before escalation
	Reason    string    `json:"reason"`    // why it was due: "stale-executing" or "unknown"
	At        time.Time `json:"at"`
}

// EscalatedToManual: recovery gave up after the threshold; a person must resolve it.
type EscalatedToManual struct {
	Attempts int       `json:"attempts"`
	Reason   string    `json:"reason"`
	At       time.Time `json:"at"`
}

// ManuallyResolved: an operator settled the payment, with who and why. PspStatus is what
// Toss's record said when they did; Forced is set when they overrode a contradicting record.
type ManuallyResolved struct {
	Resolution Status          `json:"resolution"` // SUCCESS or FAILURE
	Actor      string          `json:"actor"`
	Reason     string          `json:"reason"`
	PspStatus  string          `json:"pspStatus,omitempty"`
	Forced     bool            `json:"forced,omitempty"`
	Evidence   json.RawMessage `json:"evidence,omitempty"`
	At         time.Time       `json:"at"`
}

// CheckoutExpired: the buyer never had the payment confirmed within the PSP's session window.
type CheckoutExpired struct {
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// LedgerUpdated: the ledger booked these orders (by Seq) of an approved payment.
type LedgerUpdated struct {
	Orders    []int     `json:"orders"`
	MessageID string    `json:"messageId"`
	At        time.Time `json:"at"`
}

// WalletUpdated: the sellers' wallets were credited for these orders (by Seq).
type WalletUpdated struct {
	Orders    []int     `json:"orders"`
	MessageID string    `json:"messageId"`
	At        time.Time `json:"at"`
}

// PaymentCompleted: every order is in the ledger and the wallets (the seed's is_payment_done).
type PaymentCompleted struct {
	At time.Time `json:"at"`
}

func (CheckoutCreated) EventName() string   { return NameCheckoutCreated }
func (RecoveryAttempted) EventName() string { return NameRecoveryAttempted }
func (EscalatedToManual) EventName() string { return NameEscalatedToManual }
func (ManuallyResolved) EventName() string  { return NameManuallyResolved }
func (CheckoutExpired) EventName() string   { return NameCheckoutExpired }
func (LedgerUpdated) EventName() string     { return NameLedgerUpdated }
func (WalletUpdated) EventName() string     { return NameWalletUpdated }
func (PaymentCompleted) EventName() string  { return NamePaymentCompleted }
func (ExecutionStarted) EventName() string  { return NameExecutionStarted }
func (ConfirmRejected) EventName() string   { return NameConfirmRejected }
func (PspApproved) EventName() string       { return NamePspApproved }
func (PspFailed) EventName() string         { return NamePspFailed }
func (PspOutcomeUnknown) EventName() string { return NamePspOutcomeUnknown }
func (ExecutionAborted) EventName() string  { return NameExecutionAborted }

func (CheckoutCreated) sealed()   {}
func (RecoveryAttempted) sealed() {}
func (EscalatedToManual) sealed() {}
func (ManuallyResolved) sealed()  {}
func (CheckoutExpired) sealed()   {}
func (LedgerUpdated) sealed()     {}
func (WalletUpdated) sealed()     {}
func (PaymentCompleted) sealed()  {}
func (ExecutionStarted) sealed()  {}
func (ConfirmRejected) sealed()   {}
func (PspApproved) sealed()       {}
func (PspFailed) sealed()         {}
func (PspOutcomeUnknown) sealed() {}
func (ExecutionAborted) sealed()  {}
