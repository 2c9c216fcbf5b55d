package aggregate

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/go-json-experiment/json/v1"

	"github.com/shopspring/decimal"
)

// Statuses of an approved payment after refunds, as Toss names them.
const (
	StatusPartialCanceled Status = "PARTIAL_CANCELED"
	StatusCanceled        Status = "CANCELED"
)

// Errors a refund command may meet besides the common ones.
var (
	// ErrCannotRefund is wrapped by every *RefundError: the cancel cannot be made as asked.
	ErrCannotRefund = errors.New("refund cannot be made")
	// ErrRefundExecuting: another refund of the payment is open (executing or unknown).
	ErrRefundExecuting = errors.New("another refund of the payment is open")
	// ErrNoSuchRefund: the payment has no refund with that id.
	ErrNoSuchRefund = errors.New("no such refund")
)

// RefundError names the field of a refund that cannot be made (more than the balance, an
// order that has less left, a payment not approved …): the request was well-formed.
type RefundError struct {
	Field   string
	Message string
}

func (e *RefundError) Error() string { return e.Field + ": " + e.Message }
func (e *RefundError) Unwrap() error { return ErrCannotRefund }

func cannot(field, format string, args ...any) error {
	return &RefundError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Approved reports whether the status is of a payment the PSP captured (refunded or not).
func (s Status) Approved() bool {
	return s == StatusSuccess || s == StatusPartialCanceled || s == StatusCanceled
}

// Refund is one refund of a payment: requested through paystream, or made outside it and
// found in the PSP's record (External).
type Refund struct {
	ID                string
	Amount            decimal.Decimal
	Orders            []RefundSplit // nil: not allocated to orders yet (an external cancel)
	Reason            string
	TaxFreeAmount     decimal.Decimal
	Account           *RefundAccount
	PspIdempotencyKey string
	RequestKey        string
	RequestHash       string
	External          bool
	FoundBy           string
	// Status: EXECUTING (sent or about to be), SUCCESS (refunded), FAILURE, UNKNOWN.
	Status         Status
	Outcome        *Outcome
	TransactionKey string
	CanceledAt     *time.Time
	RequestedAt    time.Time
	UpdatedAt      time.Time
	FailedCount    int
	Threshold      int
	Escalated      bool
	Resolution     *RefundManuallyResolved
	LedgerBooked   bool
	WalletBooked   bool
}

// Open reports whether the refund's outcome is not settled yet.
func (r Refund) Open() bool { return r.Status == StatusExecuting || r.Status == StatusUnknown }

// Booked reports whether the ledger and the wallets both booked the refund.
func (r Refund) Booked() bool { return r.LedgerBooked && r.WalletBooked }

// BalanceAmount is what is left to refund of an approved payment.
func (s State) BalanceAmount() decimal.Decimal {
	if !s.Status.Approved() {
		return decimal.Zero
	}
	return s.TotalAmount.Sub(s.RefundedAmount)
}

// OpenRefund is the refund whose outcome is not settled, if any (at most one is open).
func (s State) OpenRefund() (Refund, bool) {
	for _, r := range s.Refunds {
		if r.Open() {
			return r, true
		}
	}
	return Refund{}, false
}

// RefundByID finds a refund.
func (s State) RefundByID(id string) (Refund, bool) {
	i := slices.IndexFunc(s.Refunds, func(r Refund) bool { return r.ID == id })
	if i < 0 {
		return Refund{}, false
	}
	return s.Refunds[i], true
}

// refund is the refund a command names: ErrNotFound without the payment, ErrNoSuchRefund
// without the refund.
func (s State) refund(id string) (Refund, error) {
	r, ok := s.RefundByID(id)
	switch {
	case !s.Exists():
		return Refund{}, ErrNotFound
	case !ok:
		return Refund{}, ErrNoSuchRefund
	}
	return r, nil
}

// orderRemaining is what is left to refund of each order (by Seq), from allocated refunds.
func (s State) orderRemaining() map[int]decimal.Decimal {
	left := map[int]decimal.Decimal{}
	for _, o := range s.Orders {
		left[o.Seq] = o.Amount.Sub(o.Refunded)
	}
	return left
}

// RequestRefund asks for a cancel of Amount (zero: the whole balance) split over Orders
// (nil: decided here when unambiguous — a full cancel, or one order with money left).
type RequestRefund struct {
	RefundID          string
	Amount            decimal.Decimal
	Orders            []RefundSplit
	Reason            string
	TaxFreeAmount     decimal.Decimal
	Account           *RefundAccount
	PspIdempotencyKey string
	RequestKey        string
	RequestHash       string
	At                time.Time
}

// RecordRefundOutcome records what the PSP said about the open refund RefundID. A SUCCESS
// verdict carries the cancel's TransactionKey and CanceledAt.
type RecordRefundOutcome struct {
	RefundID string
	Verdict  Verdict
	At       time.Time
}

// ClaimRefundRecovery claims the open refund for one recovery attempt: UNKNOWN, or EXECUTING
// since before ExecutingBefore. Past Threshold attempts it escalates instead.
type ClaimRefundRecovery struct {
	ExecutingBefore time.Time
	Threshold       int
	At              time.Time
}

// ResolveRefund is an operator settling an open refund by hand. PspSays is what the PSP's
// record says of it (UNKNOWN when the lookup could not tell); a contradiction needs Force.
type ResolveRefund struct {
	RefundID       string
	Resolution     Status // SUCCESS (refunded) or FAILURE
	Actor          string
	Reason         string
	Force          bool
	PspSays        Status
	PspStatus      string
	TransactionKey string
	Evidence       json.RawMessage
	At             time.Time
}

// RecordExternalRefund records a cancel found in the PSP's record that paystream did not
// request. Repeats (the same TransactionKey) change nothing.
type RecordExternalRefund struct {
	RefundID       string
	TransactionKey string
	Amount         decimal.Decimal
	Reason         string
	FoundBy        string
	CanceledAt     time.Time
	Evidence       json.RawMessage
	At             time.Time
}

// AllocateRefund says which orders an unallocated (external) refund came from.
type AllocateRefund struct {
	RefundID string
	Orders   []RefundSplit
	Actor    string
	Reason   string
	At       time.Time
}

// RecordRefundBooked records that the ledger or the wallets booked a refund. Repeats are
// no-ops.
type RecordRefundBooked struct {
	RefundID  string
	By        string // "ledger" or "wallet"
	MessageID string
	At        time.Time
}

func (RequestRefund) command()        {}
func (RecordRefundOutcome) command()  {}
func (ClaimRefundRecovery) command()  {}
func (ResolveRefund) command()        {}
func (RecordExternalRefund) command() {}
func (AllocateRefund) command()       {}
func (RecordRefundBooked) command()   {}

func decideRequestRefund(s State, c RequestRefund) ([]Event, error) {
	if !s.Exists() {
		return nil, ErrNotFound
	}
	if c.RequestKey != "" {
		for _, r := range s.Refunds {
			if r.RequestKey == c.RequestKey {
				switch {
				case r.RequestHash != c.RequestHash:
					return nil, fmt.Errorf("refund %s was requested with this key and another body: %w", r.ID, ErrExecutionMismatch)
				case r.Status == StatusExecuting:
					return nil, ErrRefundExecuting // the first request is still at the PSP: retry for its answer
				}
				return nil, nil // the retry of a refund already requested: answered as recorded
			}
		}
	}
	switch {
	case !s.Status.Approved():
		return nil, cannot("orderId", "payment is %s; only an approved payment can be refunded", s.Status)
	case s.Status == StatusCanceled:
		return nil, cannot("cancelAmount", "payment is already cancelled in full")
	}
	if _, open := s.OpenRefund(); open {
		return nil, ErrRefundExecuting
	}
	if err := firstInvalid(CheckRequiredText("cancelReason", c.Reason, 200), checkAccount(c.Account)); err != nil {
		return nil, err
	}
	if s.VirtualAccount != nil && c.Account == nil {
		// The buyer paid by bank transfer: the PSP pays the refund into an account they name.
		return nil, cannot("refundReceiveAccount", "is required to refund a virtual-account payment")
	}
	balance := s.BalanceAmount()
	amount := c.Amount
	if amount.IsZero() {
		amount = balance
	}
	switch {
	case !wholePositive(amount):
		return nil, invalid("cancelAmount", "must be a positive whole number of KRW")
	case amount.GreaterThan(balance):
		return nil, cannot("cancelAmount", "%s exceeds the balance of %s", amount, balance)
	case c.TaxFreeAmount.IsNegative() || c.TaxFreeAmount.GreaterThan(amount) || !c.TaxFreeAmount.Equal(c.TaxFreeAmount.Truncate(0)):
		return nil, invalid("taxFreeAmount", "must be a whole number of KRW from 0 to the cancel amount")
	}
	orders, err := s.refundSplit(amount, c.Orders)
	if err != nil {
		return nil, err
	}
	return []Event{RefundRequested{RefundID: c.RefundID, Amount: amount, Orders: orders, Reason: c.Reason,
		TaxFreeAmount: c.TaxFreeAmount, Account: c.Account, PspIdempotencyKey: c.PspIdempotencyKey,
		RequestKey: c.RequestKey, RequestHash: c.RequestHash, At: c.At}}, nil
}

func checkAccount(a *RefundAccount) error {
	if a == nil {
		return nil
	}
	return firstInvalid(CheckRequiredText("refundReceiveAccount.bank", a.Bank, 20),
		CheckRequiredText("refundReceiveAccount.accountNumber", a.AccountNumber, 20),
		CheckRequiredText("refundReceiveAccount.holderName", a.HolderName, 60))
}

// refundSplit checks a split of amount over the orders, or makes one when it is
// unambiguous: the whole balance (each order's remainder), or the only order with money left.
func (s State) refundSplit(amount decimal.Decimal, split []RefundSplit) ([]RefundSplit, error) {
	left := s.orderRemaining()
	if split == nil {
		var withMoney []RefundSplit
		for _, o := range s.Orders {
			if left[o.Seq].IsPositive() {
				withMoney = append(withMoney, RefundSplit{Seq: o.Seq, Amount: left[o.Seq]})
			}
		}
		sum := decimal.Zero
		for _, w := range withMoney {
			sum = sum.Add(w.Amount)
		}
		switch {
		case len(withMoney) == 1:
			return []RefundSplit{{Seq: withMoney[0].Seq, Amount: amount}}, s.checkSplit([]RefundSplit{{Seq: withMoney[0].Seq, Amount: amount}}, amount, left)
		case amount.Equal(sum):
			return withMoney, nil
		default:
			return nil, cannot("orders", "say which orders the %s comes back from: the payment has %d orders with money left", amount, len(withMoney))
		}
	}
	return split, s.checkSplit(split, amount, left)
}

func (s State) checkSplit(split []RefundSplit, amount decimal.Decimal, left map[int]decimal.Decimal) error {
	if len(split) == 0 {
		return invalid("orders", "at least one order is required")
	}
	sum, seen := decimal.Zero, map[int]bool{}
	for i, sp := range split {
		field := fmt.Sprintf("orders[%d]", i)
		rest, ok := left[sp.Seq]
		switch {
		case !ok:
			return invalid(field+".seq", "payment %s has no order %d", s.OrderID, sp.Seq)
		case seen[sp.Seq]:
			return invalid(field+".seq", "order %d is listed twice", sp.Seq)
		case !wholePositive(sp.Amount):
			return invalid(field+".amount", "must be a positive whole number of KRW")
		case sp.Amount.GreaterThan(rest):
			return cannot(field+".amount", "%s exceeds the %s left of order %d", sp.Amount, rest, sp.Seq)
		}
		seen[sp.Seq] = true
		sum = sum.Add(sp.Amount)
	}
	if !sum.Equal(amount) {
		return invalid("orders", "amounts add up to %s, not the cancel amount %s", sum, amount)
	}
	return nil
}

func decideRefundOutcome(s State, c RecordRefundOutcome) ([]Event, error) {
	r, err := s.refund(c.RefundID)
	switch {
	case err != nil:
		return nil, err
	case r.Status != StatusExecuting:
		return nil, ErrNotExecuting
	}
	v := c.Verdict
	switch v.Status {
	case StatusSuccess:
		if v.TransactionKey == "" {
			return nil, invalid("verdict.transactionKey", "a refund is approved only with the PSP's cancel record")
		}
		return []Event{RefundApproved{RefundID: r.ID, TransactionKey: v.TransactionKey, CanceledAt: v.CanceledAt, Rule: v.Rule,
			Evidence: v.Evidence, At: c.At}}, nil
	case StatusFailure:
		return []Event{RefundFailed{RefundID: r.ID, Code: v.Code, Message: v.Message, HTTPStatus: v.HTTPStatus, Rule: v.Rule,
			Evidence: v.Evidence, At: c.At}}, nil
	case StatusUnknown, StatusNotStarted:
		return []Event{RefundOutcomeUnknown{RefundID: r.ID, Code: v.Code, Message: v.Message, HTTPStatus: v.HTTPStatus, Rule: v.Rule,
			OperatorAlert: v.OperatorAlert, Evidence: v.Evidence, At: c.At}}, nil
	default:
		return nil, invalid("verdict.status", "unsupported status %q", v.Status)
	}
}

func decideClaimRefund(s State, c ClaimRefundRecovery) ([]Event, error) {
	if !s.Exists() {
		return nil, ErrNotFound
	}
	r, open := s.OpenRefund()
	switch {
	case !open:
		return nil, ErrNotRecoverable
	case r.Escalated:
		return nil, ErrEscalated
	case r.Status == StatusExecuting && !r.UpdatedAt.Before(c.ExecutingBefore):
		return nil, ErrExecuting
	case c.Threshold < 1:
		return nil, invalid("threshold", "must be at least 1")
	case r.FailedCount >= c.Threshold:
		return []Event{RefundEscalated{RefundID: r.ID, Attempts: r.FailedCount,
			Reason: fmt.Sprintf("refund still %s after %d recovery attempts", r.Status, r.FailedCount), At: c.At}}, nil
	}
	reason := "stale-executing"
	if r.Status == StatusUnknown {
		reason = "unknown"
	}
	return []Event{RefundRecoveryAttempted{RefundID: r.ID, Attempt: r.FailedCount + 1, Threshold: c.Threshold, Reason: reason, At: c.At}}, nil
}

func decideResolveRefund(s State, c ResolveRefund) ([]Event, error) {
	r, err := s.refund(c.RefundID)
	switch {
	case err != nil:
		return nil, err
	case !r.Open():
		return nil, ErrAlreadyResolved
	case c.Resolution != StatusSuccess && c.Resolution != StatusFailure:
		return nil, invalid("resolution", "must be SUCCESS or FAILURE")
	case c.Actor == "":
		return nil, invalid("actor", "is required")
	case c.Reason == "":
		return nil, invalid("reason", "is required")
	case c.PspSays != StatusUnknown && c.PspSays != c.Resolution && !c.Force:
		return nil, fmt.Errorf("%w: the PSP says %s (%s)", ErrContradictsPSP, c.PspSays, c.PspStatus)
	}
	return []Event{RefundManuallyResolved{RefundID: r.ID, Resolution: c.Resolution, TransactionKey: c.TransactionKey,
		Actor: c.Actor, Reason: c.Reason, PspStatus: c.PspStatus, Forced: c.PspSays != StatusUnknown && c.PspSays != c.Resolution,
		Evidence: c.Evidence, At: c.At}}, nil
}

func decideExternalRefund(s State, c RecordExternalRefund) ([]Event, error) {
	switch {
	case !s.Exists():
		return nil, ErrNotFound
	case c.TransactionKey == "":
		return nil, invalid("transactionKey", "is required")
	case slices.ContainsFunc(s.Refunds, func(r Refund) bool { return r.TransactionKey == c.TransactionKey }):
		return nil, nil // recorded already
	case !s.Status.Approved():
		return nil, cannot("orderId", "payment is %s; the PSP's cancel of it needs an operator", s.Status)
	case !wholePositive(c.Amount):
		return nil, invalid("amount", "must be a positive whole number of KRW")
	case c.Amount.GreaterThan(s.BalanceAmount()):
		return nil, cannot("amount", "the PSP's cancel of %s exceeds the balance of %s", c.Amount, s.BalanceAmount())
	}
	// While a refund of ours is open, a cancel we cannot match by key may be that refund:
	// recovery settles it first (lookup-first), then what is left is external.
	if _, open := s.OpenRefund(); open {
		return nil, ErrRefundExecuting
	}
	orders, err := s.refundSplit(c.Amount, nil)
	if errors.Is(err, ErrCannotRefund) {
		orders = nil // split unknown: unallocated until an operator says
	} else if err != nil {
		return nil, err
	}
	return []Event{ExternalRefundRecorded{RefundID: c.RefundID, TransactionKey: c.TransactionKey, Amount: c.Amount, Orders: orders,
		Reason: c.Reason, FoundBy: c.FoundBy, CanceledAt: c.CanceledAt, Evidence: c.Evidence, At: c.At}}, nil
}

func decideAllocate(s State, c AllocateRefund) ([]Event, error) {
	r, err := s.refund(c.RefundID)
	switch {
	case err != nil:
		return nil, err
	case r.Orders != nil:
		return nil, cannot("refundId", "refund %s is allocated already", r.ID)
	case c.Actor == "":
		return nil, invalid("actor", "is required")
	case c.Reason == "":
		return nil, invalid("reason", "is required")
	}
	if err := s.checkSplit(c.Orders, r.Amount, s.orderRemaining()); err != nil {
		return nil, err
	}
	return []Event{RefundAllocated{RefundID: r.ID, Orders: c.Orders, Actor: c.Actor, Reason: c.Reason, At: c.At}}, nil
}

func decideRefundBooked(s State, c RecordRefundBooked) ([]Event, error) {
	r, err := s.refund(c.RefundID)
	switch {
	case err != nil:
		return nil, err
	case r.Status != StatusSuccess:
		return nil, fmt.Errorf("refund %s is %s: %w", r.ID, r.Status, ErrNotApproved)
	case c.By != "ledger" && c.By != "wallet":
		return nil, invalid("by", "must be ledger or wallet")
	case (c.By == "ledger" && r.LedgerBooked) || (c.By == "wallet" && r.WalletBooked):
		return nil, nil
	}
	return []Event{RefundBooked{RefundID: r.ID, By: c.By, MessageID: c.MessageID, At: c.At}}, nil
}

// evolveRefund applies a refund event.
func evolveRefund(s State, e Event) State {
	switch e := e.(type) {
	case RefundRequested:
		s.Refunds = append(slices.Clone(s.Refunds), Refund{ID: e.RefundID, Amount: e.Amount, Orders: e.Orders, Reason: e.Reason,
			TaxFreeAmount: e.TaxFreeAmount, Account: e.Account, PspIdempotencyKey: e.PspIdempotencyKey, RequestKey: e.RequestKey,
			RequestHash: e.RequestHash, Status: StatusExecuting, RequestedAt: e.At, UpdatedAt: e.At})
		s.UpdatedAt = e.At
	case RefundApproved:
		s = s.withRefund(e.RefundID, e.At, func(r *Refund) {
			at := e.CanceledAt
			r.Status, r.TransactionKey, r.CanceledAt = StatusSuccess, e.TransactionKey, &at
			r.Outcome = &Outcome{Status: StatusSuccess, Rule: e.Rule}
		})
	case RefundFailed:
		s = s.withRefund(e.RefundID, e.At, func(r *Refund) {
			r.Status, r.Outcome = StatusFailure, &Outcome{Status: StatusFailure, Rule: e.Rule, Code: e.Code, Message: e.Message}
		})
	case RefundOutcomeUnknown:
		s = s.withRefund(e.RefundID, e.At, func(r *Refund) {
			r.Status, r.Outcome = StatusUnknown, &Outcome{Status: StatusUnknown, Rule: e.Rule, Code: e.Code, Message: e.Message}
		})
	case RefundRecoveryAttempted:
		s = s.withRefund(e.RefundID, e.At, func(r *Refund) {
			r.Status, r.FailedCount, r.Threshold = StatusExecuting, e.Attempt, e.Threshold
		})
	case RefundEscalated:
		s = s.withRefund(e.RefundID, e.At, func(r *Refund) {
			r.Status, r.Escalated = StatusUnknown, true
			r.Outcome = &Outcome{Status: StatusUnknown, Rule: "recovery.v1/escalated", Message: e.Reason}
		})
	case RefundManuallyResolved:
		s = s.withRefund(e.RefundID, e.At, func(r *Refund) {
			res := e
			r.Status, r.Escalated, r.Resolution = e.Resolution, false, &res
			r.Outcome = &Outcome{Status: e.Resolution, Rule: "manual.v1/resolved", Message: e.Reason}
			if e.Resolution == StatusSuccess {
				at := e.At
				r.TransactionKey, r.CanceledAt = e.TransactionKey, &at
			}
		})
	case ExternalRefundRecorded:
		at := e.CanceledAt
		s.Refunds = append(slices.Clone(s.Refunds), Refund{ID: e.RefundID, Amount: e.Amount, Orders: e.Orders, Reason: e.Reason,
			External: true, FoundBy: e.FoundBy, Status: StatusSuccess, TransactionKey: e.TransactionKey, CanceledAt: &at,
			Outcome: &Outcome{Status: StatusSuccess, Rule: "external.v1/found-by-" + e.FoundBy}, RequestedAt: e.At, UpdatedAt: e.At})
		s.UpdatedAt = e.At
	case RefundAllocated:
		s = s.withRefund(e.RefundID, e.At, func(r *Refund) { r.Orders = e.Orders })
	case RefundBooked:
		s = s.withRefund(e.RefundID, e.At, func(r *Refund) {
			if e.By == "ledger" {
				r.LedgerBooked = true
			} else {
				r.WalletBooked = true
			}
		})
	}
	return s.withRefundTotals()
}

// withRefund returns s with refund id changed by change (on a copy of the refunds).
func (s State) withRefund(id string, at time.Time, change func(*Refund)) State {
	s.Refunds = slices.Clone(s.Refunds)
	for i := range s.Refunds {
		if s.Refunds[i].ID == id {
			change(&s.Refunds[i])
			s.Refunds[i].UpdatedAt = at
		}
	}
	s.UpdatedAt = at
	return s
}

// withRefundTotals recomputes the refunded amounts and the statuses they imply: an approved
// payment refunded in full is CANCELED, in part PARTIAL_CANCELED; each order likewise.
func (s State) withRefundTotals() State {
	if !s.Status.Approved() {
		return s
	}
	refunded, perOrder := decimal.Zero, map[int]decimal.Decimal{}
	for _, r := range s.Refunds {
		if r.Status != StatusSuccess {
			continue
		}
		refunded = refunded.Add(r.Amount)
		for _, sp := range r.Orders {
			perOrder[sp.Seq] = perOrder[sp.Seq].Add(sp.Amount)
		}
	}
	s.RefundedAmount = refunded
	s.Status = refundStatus(refunded, s.TotalAmount)
	orders := make([]Order, len(s.Orders))
	for i, o := range s.Orders {
		o.Refunded = perOrder[o.Seq]
		o.Status = refundStatus(o.Refunded, o.Amount)
		orders[i] = o
	}
	s.Orders = orders
	return s
}

func refundStatus(refunded, of decimal.Decimal) Status {
	switch {
	case refunded.IsZero():
		return StatusSuccess
	case refunded.GreaterThanOrEqual(of):
		return StatusCanceled
	default:
		return StatusPartialCanceled
	}
}
