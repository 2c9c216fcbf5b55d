package aggregate

import (
	"slices"
	"time"

	"github.com/shopspring/decimal"
)

// Status is the execution status of a payment's orders, as in the seed's payment_order_status.
type Status string

const (
	StatusNotStarted Status = "NOT_STARTED"
	StatusExecuting  Status = "EXECUTING"
	StatusSuccess    Status = "SUCCESS"
	StatusFailure    Status = "FAILURE"
	StatusUnknown    Status = "UNKNOWN"
	// StatusWaitingForDeposit: a virtual account was issued and the buyer has not paid into
	// it yet. Not open for recovery, not terminal (see deposit.go).
	StatusWaitingForDeposit Status = "WAITING_FOR_DEPOSIT"
)

// Terminal reports whether the payment's outcome is recorded: approved (refunded or not) or
// failed. Nothing executes it at the PSP again.
func (s Status) Terminal() bool { return s == StatusFailure || s.Approved() }

// State is one payment as its events describe it. The zero State is a payment that does not
// exist yet.
type State struct {
	OrderID     string
	OrderName   string
	BuyerID     string
	Orders      []Order
	TotalAmount decimal.Decimal
	CreatedAt   time.Time
	UpdatedAt   time.Time

	Status Status
	// CheckoutRequestHash fingerprints the checkout request that created the payment, so a
	// retried checkout with the same Idempotency-Key can be told from a different one.
	CheckoutRequestHash string

	// Execution: set by the first ExecutionStarted and never changed afterwards.
	PaymentKey        string
	ConfirmedAmount   decimal.Decimal
	PspIdempotencyKey string
	// ConfirmRequestKey and ConfirmRequestHash are the client's Idempotency-Key on confirm and
	// the fingerprint of that request's body (empty when the client sent none).
	ConfirmRequestKey  string
	ConfirmRequestHash string
	ExecutionStartedAt time.Time
	Executions         int // how many executions were started

	ApprovedAt *time.Time
	Method     string
	// Outcome is the last recorded PSP outcome or rejection, with the rule that classified it.
	Outcome *Outcome
	// OperatorAlert is set when the last outcome was a configuration fault on our side.
	OperatorAlert bool

	// Recovery: attempts so far (the seed's failed_count) and the threshold in force.
	FailedCount int
	Threshold   int
	Escalated   bool
	Expired     bool
	// Resolution records an operator's manual settlement.
	Resolution *ManuallyResolved
	// IsPaymentDone: every order is booked in the ledger and the wallets.
	IsPaymentDone bool
	CompletedAt   *time.Time

	// VirtualAccount is the account the buyer deposits into (virtual-account payments only),
	// set when the PSP issued it and kept after the deposit: its refunds need an account.
	VirtualAccount *VirtualAccount

	// Refunds in the order they were requested or found; RefundedAmount is what the approved
	// ones add up to.
	Refunds        []Refund
	RefundedAmount decimal.Decimal

	// Withdrawals are the approvals the PSP withdrew after a deposit error, oldest first
	// (withdrawal.go). Write-side bookkeeping: the read models show the payment waiting again.
	Withdrawals []Withdrawal
}

// Order is one PaymentOrder: a product line sold by one seller.
type Order struct {
	Seq           int    // 1-based position in the checkout
	ProductID     string `json:"productId"`
	SellerID      string `json:"sellerId"`
	Quantity      int64  `json:"quantity"`
	UnitPrice     decimal.Decimal
	Amount        decimal.Decimal
	Status        Status
	LedgerUpdated bool
	WalletUpdated bool
	// Refunded is what allocated, approved refunds took back from this order.
	Refunded decimal.Decimal
}

// Outcome is what the PSP (or our own validation) said, and which rule decided it.
type Outcome struct {
	Status  Status `json:"status"`
	Rule    string `json:"rule"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// Exists reports whether a checkout created the payment.
func (s State) Exists() bool { return s.OrderID != "" }

// Fold replays events from the zero State.
func Fold(events []Event) State {
	var s State
	for _, e := range events {
		s = Evolve(s, e)
	}
	return s
}

// Evolve applies one recorded event. It never fails: events are facts that already happened,
// and Decide made sure they were allowed.
func Evolve(s State, e Event) State {
	switch e := e.(type) {
	case CheckoutCreated:
		s.OrderID, s.OrderName, s.BuyerID = e.OrderID, e.OrderName, e.BuyerID
		s.TotalAmount = e.TotalAmount
		s.CreatedAt, s.UpdatedAt = e.At, e.At
		s.CheckoutRequestHash = e.RequestHash
		s.Orders = make([]Order, len(e.Orders))
		for i, l := range e.Orders {
			s.Orders[i] = Order{Seq: i + 1, ProductID: l.ProductID, SellerID: l.SellerID, Quantity: l.Quantity,
				UnitPrice: l.UnitPrice, Amount: l.Amount}
		}
		s = s.withStatus(StatusNotStarted)
	case ExecutionStarted:
		if s.Executions == 0 {
			s.PaymentKey, s.ConfirmedAmount, s.PspIdempotencyKey = e.PaymentKey, e.Amount, e.PspIdempotencyKey
			s.ConfirmRequestKey, s.ConfirmRequestHash = e.RequestKey, e.RequestHash
		}
		s.Executions++
		s.ExecutionStartedAt, s.UpdatedAt = e.At, e.At
		s = s.withStatus(StatusExecuting)
	case ConfirmRejected:
		s.ConfirmRequestKey, s.ConfirmRequestHash = e.RequestKey, e.RequestHash
		s.Outcome = &Outcome{Status: StatusFailure, Rule: e.Rule, Code: e.Code, Message: e.Message}
		s.UpdatedAt = e.At
		s = s.withStatus(StatusFailure)
	case PspApproved:
		at := e.ApprovedAt
		s.ApprovedAt, s.Method = &at, e.Method
		s.Outcome = &Outcome{Status: StatusSuccess, Rule: e.Rule}
		s.OperatorAlert = false
		s.UpdatedAt = e.At
		s = s.withStatus(StatusSuccess)
	case PspFailed:
		s.Outcome = &Outcome{Status: StatusFailure, Rule: e.Rule, Code: e.Code, Message: e.Message}
		s.OperatorAlert = false
		s.UpdatedAt = e.At
		s = s.withStatus(StatusFailure)
	case PspOutcomeUnknown:
		s.Outcome = &Outcome{Status: StatusUnknown, Rule: e.Rule, Code: e.Code, Message: e.Message}
		s.OperatorAlert = e.OperatorAlert
		s.UpdatedAt = e.At
		s = s.withStatus(StatusUnknown)
	case ExecutionAborted:
		s.Outcome = &Outcome{Status: StatusNotStarted, Rule: e.Rule, Code: e.Code, Message: e.Message}
		s.OperatorAlert = e.OperatorAlert
		s.UpdatedAt = e.At
		s = s.withStatus(StatusNotStarted)
	case RecoveryAttempted:
		s.FailedCount, s.Threshold = e.Attempt, e.Threshold
		s.ExecutionStartedAt, s.UpdatedAt = e.At, e.At
		s = s.withStatus(StatusExecuting)
	case EscalatedToManual:
		s.Escalated = true
		s.Outcome = &Outcome{Status: StatusUnknown, Rule: "recovery.v1/escalated", Message: e.Reason}
		s.UpdatedAt = e.At
		s = s.withStatus(StatusUnknown)
	case ManuallyResolved:
		r := e
		s.Resolution = &r
		s.Escalated, s.OperatorAlert = false, false
		s.Outcome = &Outcome{Status: e.Resolution, Rule: "manual.v1/resolved", Message: e.Reason}
		s.UpdatedAt = e.At
		s = s.withStatus(e.Resolution)
	case CheckoutExpired:
		s.Expired = true
		s.Outcome = &Outcome{Status: StatusFailure, Rule: RuleCheckoutExpired, Code: CodeExpired, Message: e.Reason}
		s.UpdatedAt = e.At
		s = s.withStatus(StatusFailure)
	case LedgerUpdated:
		s.Orders = s.markOrders(e.Orders, func(o *Order) { o.LedgerUpdated = true })
		s.UpdatedAt = e.At
	case WalletUpdated:
		s.Orders = s.markOrders(e.Orders, func(o *Order) { o.WalletUpdated = true })
		s.UpdatedAt = e.At
	case PaymentCompleted:
		at := e.At
		s.IsPaymentDone, s.CompletedAt, s.UpdatedAt = true, &at, e.At
	case DepositAwaited, DepositExpired, VirtualAccountClosed:
		s = evolveDeposit(s, e)
	case RefundRequested, RefundApproved, RefundFailed, RefundOutcomeUnknown, RefundRecoveryAttempted, RefundEscalated,
		RefundManuallyResolved, ExternalRefundRecorded, RefundAllocated, RefundBooked:
		s = evolveRefund(s, e)
	case DepositWithdrawn, WithdrawalBooked:
		s = evolveWithdrawal(s, e)
	default:
		// Unreachable while Event stays sealed and every event has a case above; the
		// exhaustiveness spec in aggregate_test fails first if one is missing.
		panic("aggregate: unhandled event " + e.EventName())
	}
	return s
}

// markOrders returns a copy of the orders with mark applied to those whose Seq is listed.
func (s State) markOrders(seqs []int, mark func(*Order)) []Order {
	orders := make([]Order, len(s.Orders))
	copy(orders, s.Orders)
	for _, seq := range seqs {
		if seq >= 1 && seq <= len(orders) {
			mark(&orders[seq-1])
		}
	}
	return orders
}

// withStatus moves the payment and every order to status, copying the orders so that
// States handed out earlier never change under their holder.
func (s State) withStatus(st Status) State {
	s.Status = st
	orders := make([]Order, len(s.Orders))
	for i, o := range s.Orders {
		o.Status = st
		orders[i] = o
	}
	s.Orders = orders
	return s
}

// Clone returns a copy of s that shares nothing its holder could change: slices, and the
// values behind pointers, are copied (decimals and times are values nobody changes in
// place). For a State kept while others hold it (the command side's cache).
func (s State) Clone() State {
	s.Orders = slices.Clone(s.Orders)
	s.ApprovedAt, s.CompletedAt = clonePtr(s.ApprovedAt), clonePtr(s.CompletedAt)
	s.Outcome, s.VirtualAccount = clonePtr(s.Outcome), clonePtr(s.VirtualAccount)
	if s.Resolution != nil {
		r := *s.Resolution
		r.Evidence = slices.Clone(r.Evidence)
		s.Resolution = &r
	}
	s.Refunds = slices.Clone(s.Refunds)
	for i, r := range s.Refunds {
		r.Orders, r.Account, r.Outcome, r.CanceledAt = slices.Clone(r.Orders), clonePtr(r.Account), clonePtr(r.Outcome), clonePtr(r.CanceledAt)
		if r.Resolution != nil {
			res := *r.Resolution
			res.Evidence = slices.Clone(res.Evidence)
			r.Resolution = &res
		}
		s.Refunds[i] = r
	}
	s.Withdrawals = slices.Clone(s.Withdrawals)
	for i := range s.Withdrawals {
		s.Withdrawals[i].Orders = slices.Clone(s.Withdrawals[i].Orders)
	}
	return s
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}
