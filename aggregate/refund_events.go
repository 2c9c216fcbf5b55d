package aggregate

import (
	"time"

	"github.com/go-json-experiment/json/v1"

	"github.com/shopspring/decimal"
)

// Refund event names (frozen like the others; golden files in testdata/events).
const (
	NameRefundRequested         = "payment.refund-requested.v1"
	NameRefundApproved          = "payment.refund-approved.v1"
	NameRefundFailed            = "payment.refund-failed.v1"
	NameRefundOutcomeUnknown    = "payment.refund-outcome-unknown.v1"
	NameRefundRecoveryAttempted = "payment.refund-recovery-attempted.v1"
	NameRefundEscalated         = "payment.refund-escalated.v1"
	NameRefundManuallyResolved  = "payment.refund-manually-resolved.v1"
	NameExternalRefundRecorded  = "payment.external-refund-recorded.v1"
	NameRefundAllocated         = "payment.refund-allocated.v1"
	NameRefundBooked            = "payment.refund-booked.v1"
)

// RefundSplit is how much of a refund comes back from one PaymentOrder (by Seq).
type RefundSplit struct {
	Seq    int             `json:"seq"`
	Amount decimal.Decimal `json:"amount"`
}

// RefundAccount is where a virtual-account payment's refund is paid (Toss's
// refundReceiveAccount). Card refunds go back to the card and carry none.
type RefundAccount struct {
	Bank          string `json:"bank"`
	AccountNumber string `json:"accountNumber"`
	HolderName    string `json:"holderName"`
}

// RefundRequested: we are about to ask the PSP to cancel Amount of the payment, split over
// Orders. Only one can follow a given revision, and none while another refund is open, which
// is what makes concurrent cancels reach the PSP once.
type RefundRequested struct {
	RefundID          string          `json:"refundId"`
	Amount            decimal.Decimal `json:"amount"`
	Orders            []RefundSplit   `json:"orders"`
	Reason            string          `json:"reason"`
	TaxFreeAmount     decimal.Decimal `json:"taxFreeAmount"`
	Account           *RefundAccount  `json:"refundReceiveAccount,omitempty"`
	PspIdempotencyKey string          `json:"pspIdempotencyKey"`
	RequestKey        string          `json:"requestKey,omitempty"`
	RequestHash       string          `json:"requestHash,omitempty"`
	At                time.Time       `json:"at"`
}

// RefundApproved: the PSP's record shows the cancel (its transactionKey), as requested.
type RefundApproved struct {
	RefundID       string          `json:"refundId"`
	TransactionKey string          `json:"transactionKey"`
	CanceledAt     time.Time       `json:"canceledAt"`
	Rule           string          `json:"rule"`
	Evidence       json.RawMessage `json:"evidence,omitempty"`
	At             time.Time       `json:"at"`
}

// RefundFailed: the PSP refused the cancel; nothing was refunded.
type RefundFailed struct {
	RefundID   string          `json:"refundId"`
	Code       string          `json:"code,omitempty"`
	Message    string          `json:"message,omitempty"`
	HTTPStatus int             `json:"httpStatus,omitempty"`
	Rule       string          `json:"rule"`
	Evidence   json.RawMessage `json:"evidence,omitempty"`
	At         time.Time       `json:"at"`
}

// RefundOutcomeUnknown: we could not tell whether the PSP cancelled; recovery settles it.
type RefundOutcomeUnknown struct {
	RefundID      string          `json:"refundId"`
	Code          string          `json:"code,omitempty"`
	Message       string          `json:"message,omitempty"`
	HTTPStatus    int             `json:"httpStatus,omitempty"`
	Rule          string          `json:"rule"`
	OperatorAlert bool            `json:"operatorAlert,omitempty"`
	Evidence      json.RawMessage `json:"evidence,omitempty"`
	At            time.Time       `json:"at"`
}

// RefundRecoveryAttempted: recovery claimed the open refund for one more attempt.
type RefundRecoveryAttempted struct {
	RefundID  string    `json:"refundId"`
	Attempt   int       `json:"attempt"`
	Threshold int       `json:"threshold"`
	Reason    string    `json:"reason"`
	At        time.Time `json:"at"`
}

// RefundEscalated: recovery gave up on the refund; a person resolves it.
type RefundEscalated struct {
	RefundID string    `json:"refundId"`
	Attempts int       `json:"attempts"`
	Reason   string    `json:"reason"`
	At       time.Time `json:"at"`
}

// RefundManuallyResolved: an operator settled an open refund, checked against the PSP.
type RefundManuallyResolved struct {
	RefundID       string          `json:"refundId"`
	Resolution     Status          `json:"resolution"` // SUCCESS (refunded) or FAILURE
	TransactionKey string          `json:"transactionKey,omitempty"`
	Actor          string          `json:"actor"`
	Reason         string          `json:"reason"`
	PspStatus      string          `json:"pspStatus"`
	Forced         bool            `json:"forced,omitempty"`
	Evidence       json.RawMessage `json:"evidence,omitempty"`
	At             time.Time       `json:"at"`
}

// ExternalRefundRecorded: a cancel made outside paystream (Toss's console, a card company)
// was found in the PSP's record. Orders is nil when the split is unknown: the money is
// booked as unallocated until an operator allocates it.
type ExternalRefundRecorded struct {
	RefundID       string          `json:"refundId"`
	TransactionKey string          `json:"transactionKey"`
	Amount         decimal.Decimal `json:"amount"`
	Orders         []RefundSplit   `json:"orders,omitempty"`
	Reason         string          `json:"reason,omitempty"`
	FoundBy        string          `json:"foundBy"` // lookup, webhook, reconciliation
	CanceledAt     time.Time       `json:"canceledAt"`
	Evidence       json.RawMessage `json:"evidence,omitempty"`
	At             time.Time       `json:"at"`
}

// RefundAllocated: an operator said which orders an unallocated refund came from.
type RefundAllocated struct {
	RefundID string        `json:"refundId"`
	Orders   []RefundSplit `json:"orders"`
	Actor    string        `json:"actor"`
	Reason   string        `json:"reason"`
	At       time.Time     `json:"at"`
}

// RefundBooked: the ledger or the wallets booked the refund (By: "ledger" or "wallet").
type RefundBooked struct {
	RefundID  string    `json:"refundId"`
	By        string    `json:"by"`
	MessageID string    `json:"messageId"`
	At        time.Time `json:"at"`
}

func (RefundRequested) EventName() string         { return NameRefundRequested }
func (RefundApproved) EventName() string          { return NameRefundApproved }
func (RefundFailed) EventName() string            { return NameRefundFailed }
func (RefundOutcomeUnknown) EventName() string    { return NameRefundOutcomeUnknown }
func (RefundRecoveryAttempted) EventName() string { return NameRefundRecoveryAttempted }
func (RefundEscalated) EventName() string         { return NameRefundEscalated }
func (RefundManuallyResolved) EventName() string  { return NameRefundManuallyResolved }
func (ExternalRefundRecorded) EventName() string  { return NameExternalRefundRecorded }
func (RefundAllocated) EventName() string         { return NameRefundAllocated }
func (RefundBooked) EventName() string            { return NameRefundBooked }

func (RefundRequested) sealed()         {}
func (RefundApproved) sealed()          {}
func (RefundFailed) sealed()            {}
func (RefundOutcomeUnknown) sealed()    {}
func (RefundRecoveryAttempted) sealed() {}
func (RefundEscalated) sealed()         {}
func (RefundManuallyResolved) sealed()  {}
func (ExternalRefundRecorded) sealed()  {}
func (RefundAllocated) sealed()         {}
func (RefundBooked) sealed()            {}
