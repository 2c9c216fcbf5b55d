package aggregate

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/go-json-experiment/json/v1"

	"github.com/shopspring/decimal"
)

// Errors Decide returns. Things that happened in the world are events; these are commands
// that cannot apply to the payment as it stands.
var (
	ErrNotFound        = errors.New("payment not found")
	ErrAlreadyExists   = errors.New("payment already exists")
	ErrExecuting       = errors.New("payment is being executed by another request")
	ErrAlreadyResolved = errors.New("payment outcome already recorded")
	ErrNotExecuting    = errors.New("payment is not executing")
	// ErrExecutionMismatch: a repeat execution differs from what was already sent to the PSP.
	ErrExecutionMismatch = errors.New("confirm differs from the one already sent to the PSP")
	// ErrInvalid is wrapped by every *ValidationError.
	ErrInvalid = errors.New("invalid command")
	// ErrNotRecoverable: the payment has nothing open for recovery or an operator to settle.
	ErrNotRecoverable = errors.New("payment has no open execution to recover")
	// ErrEscalated: recovery gave up on this payment; only an operator resolves it now.
	ErrEscalated = errors.New("payment is escalated to manual handling")
	// ErrExpired: the checkout expired before it was confirmed.
	ErrExpired = errors.New("checkout expired")
	// ErrContradictsPSP: a manual resolution disagrees with the PSP's record and was not forced.
	ErrContradictsPSP = errors.New("resolution contradicts the PSP's record")
	// ErrNotApproved: ledger and wallet updates apply only to approved payments.
	ErrNotApproved = errors.New("payment is not approved")
)

// ValidationError names the field of a command that is not acceptable.
type ValidationError struct {
	Field   string
	Message string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Message }
func (e *ValidationError) Unwrap() error { return ErrInvalid }

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Command is something a caller asks of a payment. Sealed like Event.
type Command interface{ command() }

// CreateCheckout opens a payment for priced order lines.
type CreateCheckout struct {
	OrderID     string
	OrderName   string
	BuyerID     string
	Lines       []OrderLine
	RequestHash string
	At          time.Time
	// Limits bound the lines and the total; the zero value means DefaultLimits.
	Limits Limits
}

// StartExecution claims the payment for one confirm against the PSP.
type StartExecution struct {
	PaymentKey        string
	Amount            decimal.Decimal
	PspIdempotencyKey string
	RequestKey        string
	RequestHash       string
	// ExpiredBefore is now minus the checkout TTL: a checkout created before it that was
	// never sent to the PSP is expired instead of executed (zero: no expiry check).
	ExpiredBefore time.Time
	At            time.Time
}

// RecordPspOutcome records what the PSP said about the open execution, as classified by the
// caller's rule table.
type RecordPspOutcome struct {
	Verdict Verdict
	At      time.Time
}

// Verdict is a classified PSP answer.
type Verdict struct {
	// SUCCESS, FAILURE, UNKNOWN, NOT_STARTED (aborted: the PSP did not execute), or
	// WAITING_FOR_DEPOSIT (a virtual account was issued: VirtualAccount is set)
	Status        Status
	Rule          string // the rule that decided, e.g. "toss.v1/done-matching"
	Code          string
	Message       string
	HTTPStatus    int
	OperatorAlert bool
	Evidence      json.RawMessage
	// Set for SUCCESS of a confirm.
	PaymentKey  string
	TotalAmount decimal.Decimal
	Method      string
	ApprovedAt  time.Time
	// Set for SUCCESS of a refund: the PSP's cancel record.
	TransactionKey string
	CanceledAt     time.Time
	// Set for WAITING_FOR_DEPOSIT: the issued account, and the secret the PSP's deposit
	// callback will carry. The PSP adapter sets DepositSecret; the service replaces it with
	// VirtualAccount.SecretHash before recording (Decide refuses the raw secret).
	VirtualAccount *VirtualAccount
	DepositSecret  Secret
}

// ClaimRecovery claims an open payment for one recovery attempt: UNKNOWN, or EXECUTING
// since before ExecutingBefore. Past Threshold attempts it escalates instead.
type ClaimRecovery struct {
	ExecutingBefore time.Time
	Threshold       int
	At              time.Time
}

// Resolve is an operator settling a payment by hand. PspSays is what a lookup at the PSP
// concluded (UNKNOWN when it could not tell); a contradicting resolution needs Force.
type Resolve struct {
	Resolution Status // SUCCESS or FAILURE
	Actor      string
	Reason     string
	Force      bool
	PspSays    Status
	PspStatus  string
	Evidence   json.RawMessage
	At         time.Time
}

// Expire records that a checkout created before Before was never confirmed.
type Expire struct {
	Before time.Time
	At     time.Time
}

// RecordLedgerUpdated and RecordWalletUpdated record a downstream completion message for
// some orders (by Seq). Repeats change nothing.
type RecordLedgerUpdated struct {
	Orders    []int
	MessageID string
	At        time.Time
}

type RecordWalletUpdated struct {
	Orders    []int
	MessageID string
	At        time.Time
}

func (CreateCheckout) command()      {}
func (StartExecution) command()      {}
func (RecordPspOutcome) command()    {}
func (ClaimRecovery) command()       {}
func (Resolve) command()             {}
func (Expire) command()              {}
func (RecordLedgerUpdated) command() {}
func (RecordWalletUpdated) command() {}

// Reasons recorded when our own validation rejects a confirm.
const (
	RuleAmountMismatch  = "validation.v1/amount-mismatch"
	CodeAmountMismatch  = "AMOUNT_MISMATCH"
	RuleCheckoutExpired = "expiry.v1/session-window"
	CodeExpired         = "EXPIRED"
)

var orderIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{6,64}$`)

// ValidOrderID reports whether id is acceptable to Toss as an orderId.
func ValidOrderID(id string) bool { return orderIDPattern.MatchString(id) }

// ValidPaymentKey reports whether key is shaped like a Toss paymentKey: 1–200 printable
// ASCII characters without spaces.
func ValidPaymentKey(key string) bool {
	if key == "" || len(key) > 200 {
		return false
	}
	for i := 0; i < len(key); i++ {
		if key[i] <= ' ' || key[i] > '~' {
			return false
		}
	}
	return true
}

// Decide returns the events cmd produces on s, or why it cannot apply.
func Decide(s State, cmd Command) ([]Event, error) {
	switch c := cmd.(type) {
	case CreateCheckout:
		return decideCheckout(s, c)
	case StartExecution:
		return decideStart(s, c)
	case RecordPspOutcome:
		return decideOutcome(s, c)
	case ClaimRecovery:
		return decideClaim(s, c)
	case Resolve:
		return decideResolve(s, c)
	case Expire:
		return decideExpire(s, c)
	case RecordLedgerUpdated:
		return decideDownstream(s, c.Orders, func(o Order) bool { return o.LedgerUpdated },
			LedgerUpdated{Orders: c.Orders, MessageID: c.MessageID, At: c.At}, c.At)
	case RecordWalletUpdated:
		return decideDownstream(s, c.Orders, func(o Order) bool { return o.WalletUpdated },
			WalletUpdated{Orders: c.Orders, MessageID: c.MessageID, At: c.At}, c.At)
	case RequestRefund:
		return decideRequestRefund(s, c)
	case RecordRefundOutcome:
		return decideRefundOutcome(s, c)
	case ClaimRefundRecovery:
		return decideClaimRefund(s, c)
	case ResolveRefund:
		return decideResolveRefund(s, c)
	case RecordExternalRefund:
		return decideExternalRefund(s, c)
	case AllocateRefund:
		return decideAllocate(s, c)
	case RecordRefundBooked:
		return decideRefundBooked(s, c)
	case RecordDeposit:
		return decideDeposit(s, c)
	case ExpireDeposit:
		return decideExpireDeposit(s, c)
	case CloseVirtualAccount:
		return decideCloseAccount(s, c)
	case WithdrawDeposit:
		return decideWithdraw(s, c)
	case RecordWithdrawalBooked:
		return decideWithdrawalBooked(s, c)
	default:
		return nil, fmt.Errorf("decide: unknown command %T", cmd)
	}
}

func decideCheckout(s State, c CreateCheckout) ([]Event, error) {
	if s.Exists() {
		return nil, ErrAlreadyExists
	}
	if err := firstInvalid(CheckOrderID("orderId", c.OrderID), CheckRequiredText("orderName", c.OrderName, maxOrderNameLength),
		CheckRequiredText("buyerId", c.BuyerID, MaxIDLength)); err != nil {
		return nil, err
	}
	if len(c.Lines) == 0 {
		return nil, invalid("items", "at least one item is required")
	}
	quantities := make([]int64, len(c.Lines))
	for i, l := range c.Lines {
		quantities[i] = l.Quantity
	}
	if err := c.Limits.CheckQuantities(quantities); err != nil {
		return nil, err
	}
	total := decimal.Zero
	for i, l := range c.Lines {
		field := fmt.Sprintf("items[%d]", i)
		if err := firstInvalid(CheckRequiredText(field+".productId", l.ProductID, MaxIDLength),
			CheckRequiredText(field+".sellerId", l.SellerID, MaxIDLength)); err != nil {
			return nil, err
		}
		switch {
		case !wholePositive(l.UnitPrice):
			return nil, invalid(field+".unitPrice", "must be a positive whole number of KRW")
		case !l.Amount.Equal(l.UnitPrice.Mul(decimal.NewFromInt(l.Quantity))):
			return nil, invalid(field+".amount", "must equal unitPrice × quantity")
		}
		total = total.Add(l.Amount)
	}
	if err := c.Limits.checkTotal(total); err != nil {
		return nil, err
	}
	return []Event{CheckoutCreated{
		OrderID: c.OrderID, OrderName: c.OrderName, BuyerID: c.BuyerID, Orders: c.Lines,
		TotalAmount: total, RequestHash: c.RequestHash, At: c.At,
	}}, nil
}

// maxOrderNameLength: the catalog's first product name and "외 N건" fit; Toss allows 100.
const maxOrderNameLength = 100

func decideStart(s State, c StartExecution) ([]Event, error) {
	if !s.Exists() {
		return nil, ErrNotFound
	}
	if s.ExpiredBy(c.ExpiredBefore) {
		return []Event{checkoutExpired(c.At)}, nil // the confirm came too late: that is what happened
	}
	switch {
	case s.Expired:
		return nil, ErrExpired
	case s.Status == StatusExecuting:
		return nil, ErrExecuting
	case s.Status.Terminal():
		return nil, ErrAlreadyResolved
	case s.Escalated:
		return nil, ErrEscalated
	case !ValidPaymentKey(c.PaymentKey):
		return nil, CheckPaymentKey("paymentKey", c.PaymentKey)
	case c.PspIdempotencyKey == "":
		return nil, invalid("pspIdempotencyKey", "is required")
	}
	if s.Executions > 0 {
		// The PSP may already hold this payment under its idempotency key: a different key
		// or amount now could neither be honoured nor be allowed to fail the payment.
		if c.PaymentKey != s.PaymentKey || !c.Amount.Equal(s.ConfirmedAmount) {
			return nil, ErrExecutionMismatch
		}
		return []Event{ExecutionStarted{PaymentKey: s.PaymentKey, Amount: s.ConfirmedAmount,
			PspIdempotencyKey: s.PspIdempotencyKey, RequestKey: c.RequestKey, RequestHash: c.RequestHash, At: c.At}}, nil
	}
	if !c.Amount.Equal(s.TotalAmount) {
		return []Event{ConfirmRejected{
			PaymentKey: c.PaymentKey, Amount: c.Amount, Rule: RuleAmountMismatch, Code: CodeAmountMismatch,
			Message:    fmt.Sprintf("amount %s does not match the checkout total %s", c.Amount, s.TotalAmount),
			RequestKey: c.RequestKey, RequestHash: c.RequestHash, At: c.At,
		}}, nil
	}
	return []Event{ExecutionStarted{PaymentKey: c.PaymentKey, Amount: c.Amount,
		PspIdempotencyKey: c.PspIdempotencyKey, RequestKey: c.RequestKey, RequestHash: c.RequestHash, At: c.At}}, nil
}

func decideOutcome(s State, c RecordPspOutcome) ([]Event, error) {
	if !s.Exists() {
		return nil, ErrNotFound
	}
	if s.Status != StatusExecuting {
		return nil, ErrNotExecuting
	}
	v := c.Verdict
	switch v.Status {
	case StatusSuccess:
		// The classifier already checked these; a mismatch here is a bug, never an approval.
		if v.PaymentKey != s.PaymentKey || !v.TotalAmount.Equal(s.ConfirmedAmount) {
			return nil, fmt.Errorf("record approval: PSP answer (%s, %s) does not match the execution (%s, %s): %w",
				v.PaymentKey, v.TotalAmount, s.PaymentKey, s.ConfirmedAmount, ErrInvalid)
		}
		return []Event{PspApproved{PaymentKey: v.PaymentKey, TotalAmount: v.TotalAmount, Method: v.Method,
			ApprovedAt: v.ApprovedAt, Rule: v.Rule, Evidence: v.Evidence, At: c.At}}, nil
	case StatusFailure:
		return []Event{PspFailed{Code: v.Code, Message: v.Message, HTTPStatus: v.HTTPStatus, Rule: v.Rule,
			Evidence: v.Evidence, At: c.At}}, nil
	case StatusUnknown:
		return []Event{PspOutcomeUnknown{Code: v.Code, Message: v.Message, HTTPStatus: v.HTTPStatus, Rule: v.Rule,
			OperatorAlert: v.OperatorAlert, Evidence: v.Evidence, At: c.At}}, nil
	case StatusNotStarted:
		return []Event{ExecutionAborted{Code: v.Code, Message: v.Message, HTTPStatus: v.HTTPStatus, Rule: v.Rule,
			OperatorAlert: v.OperatorAlert, Evidence: v.Evidence, At: c.At}}, nil
	case StatusWaitingForDeposit:
		return depositAwaited(s, v, c.At)
	default:
		return nil, invalid("verdict.status", "unsupported status %q", v.Status)
	}
}

func wholePositive(d decimal.Decimal) bool {
	return d.IsPositive() && d.Equal(d.Truncate(0))
}

func decideClaim(s State, c ClaimRecovery) ([]Event, error) {
	switch {
	case !s.Exists():
		return nil, ErrNotFound
	case s.Escalated:
		return nil, ErrEscalated
	case !s.OutcomeOpen(c.ExecutingBefore) && s.Status == StatusExecuting:
		return nil, ErrExecuting
	case !s.OutcomeOpen(c.ExecutingBefore):
		return nil, ErrNotRecoverable
	}
	reason := "stale-executing"
	if s.Status == StatusUnknown {
		reason = "unknown"
	}
	if c.Threshold < 1 {
		return nil, invalid("threshold", "must be at least 1")
	}
	if s.FailedCount >= c.Threshold {
		return []Event{EscalatedToManual{Attempts: s.FailedCount,
			Reason: fmt.Sprintf("still %s after %d recovery attempts", s.Status, s.FailedCount), At: c.At}}, nil
	}
	return []Event{RecoveryAttempted{Attempt: s.FailedCount + 1, Threshold: c.Threshold, Reason: reason, At: c.At}}, nil
}

func decideResolve(s State, c Resolve) ([]Event, error) {
	switch {
	case !s.Exists():
		return nil, ErrNotFound
	case s.Status.Terminal():
		return nil, ErrAlreadyResolved
	case s.Executions == 0, s.WaitingForDeposit(): // waiting ends by deposit, due date or cancel
		return nil, ErrNotRecoverable
	case c.Resolution != StatusSuccess && c.Resolution != StatusFailure:
		return nil, invalid("resolution", "must be SUCCESS or FAILURE")
	case c.Actor == "":
		return nil, invalid("actor", "is required")
	case c.Reason == "":
		return nil, invalid("reason", "is required")
	case c.PspSays != StatusUnknown && c.PspSays != c.Resolution && !c.Force:
		return nil, fmt.Errorf("%w: the PSP says %s (%s)", ErrContradictsPSP, c.PspSays, c.PspStatus)
	}
	return []Event{ManuallyResolved{Resolution: c.Resolution, Actor: c.Actor, Reason: c.Reason, PspStatus: c.PspStatus,
		Forced: c.PspSays != StatusUnknown && c.PspSays != c.Resolution, Evidence: c.Evidence, At: c.At}}, nil
}

func decideExpire(s State, c Expire) ([]Event, error) {
	switch {
	case !s.Exists():
		return nil, ErrNotFound
	case !s.Expirable():
		return nil, ErrNotRecoverable
	case !s.ExpiredBy(c.Before):
		return nil, invalid("before", "checkout created at %s is still within its window", s.CreatedAt.Format(time.RFC3339))
	}
	return []Event{checkoutExpired(c.At)}, nil
}

func checkoutExpired(at time.Time) CheckoutExpired {
	return CheckoutExpired{Reason: "not confirmed within the PSP session window", At: at}
}

// decideDownstream records a ledger or wallet completion for orders, and PaymentCompleted
// once every order has both. Orders already marked are ignored, so repeats are no-ops.
func decideDownstream(s State, seqs []int, marked func(Order) bool, e Event, at time.Time) ([]Event, error) {
	switch {
	case !s.Exists():
		return nil, ErrNotFound
	case !s.Status.Approved():
		return nil, ErrNotApproved
	case len(seqs) == 0:
		return nil, invalid("orders", "at least one order is required")
	}
	fresh := false
	for _, seq := range seqs {
		if seq < 1 || seq > len(s.Orders) {
			return nil, invalid("orders", "payment %s has no order %d", s.OrderID, seq)
		}
		fresh = fresh || !marked(s.Orders[seq-1])
	}
	if !fresh {
		return nil, nil
	}
	events := []Event{e}
	next := Evolve(s, e)
	if !next.IsPaymentDone && allBooked(next.Orders) {
		events = append(events, PaymentCompleted{At: at})
	}
	return events, nil
}

func allBooked(orders []Order) bool {
	for _, o := range orders {
		if !o.LedgerUpdated || !o.WalletUpdated {
			return false
		}
	}
	return len(orders) > 0
}
