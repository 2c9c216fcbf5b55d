package aggregate

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-json-experiment/json/v1"

	"github.com/shopspring/decimal"
)

// Virtual accounts (가상계좌): the PSP answers a confirm with an account for the buyer to pay
// into by a due date, and the payment waits for the deposit. Waiting is a state of its own,
// not an unknown outcome: nothing is open for recovery, nothing goes to the ledger, and it
// ends with the deposit (PspApproved, as for a card), the due date passing (DepositExpired)
// or a cancel before the deposit (VirtualAccountClosed).

// Names of the virtual-account events (frozen like the others; golden files in
// testdata/events).
const (
	NameDepositAwaited       = "payment.deposit-awaited.v1"
	NameDepositExpired       = "payment.deposit-expired.v1"
	NameVirtualAccountClosed = "payment.virtual-account-closed.v1"
)

// Rules the decider names itself for virtual accounts.
const (
	RuleDepositExpired = "deposit.v1/due-date-passed"
	CodeDepositExpired = "DEPOSIT_EXPIRED"
	RuleAccountClosed  = "deposit.v1/closed-before-deposit"
	CodeAccountClosed  = "VIRTUAL_ACCOUNT_CLOSED"
)

var (
	// ErrNotWaiting: the command applies only to a payment waiting for its deposit.
	ErrNotWaiting = errors.New("payment is not waiting for a deposit")
	// ErrSecretNotSealed: a waiting-for-deposit verdict still carries the PSP's raw secret;
	// only its keyed hash may be recorded.
	ErrSecretNotSealed = errors.New("deposit secret must be sealed before it is recorded")
)

// VirtualAccount is the account the PSP issued for the buyer's deposit (Toss's
// virtualAccount). SecretHash is the keyed hash (HMAC) of the secret the PSP will repeat in
// its deposit callback: the secret itself is never recorded, so reading the event store does
// not let anyone forge a callback.
type VirtualAccount struct {
	AccountType   string    `json:"accountType,omitempty"` // Toss: 일반 (reusable) or 고정 (fixed)
	BankCode      string    `json:"bankCode"`
	AccountNumber string    `json:"accountNumber"`
	HolderName    string    `json:"holderName"` // Toss's customerName: whose name the deposit shows
	DueDate       time.Time `json:"dueDate"`
	SecretHash    string    `json:"secretHash,omitempty"`
}

// Secret is a value the PSP hands out to authenticate its later callbacks. It prints
// redacted, so a verdict or command logged by mistake does not leak it.
type Secret string

func (Secret) String() string       { return "[REDACTED]" }
func (Secret) GoString() string     { return "[REDACTED]" }
func (Secret) LogValue() slog.Value { return slog.StringValue("[REDACTED]") }
func (s Secret) Reveal() string     { return string(s) }

// DepositAwaited: the PSP issued a virtual account for the payment and waits for the buyer's
// deposit. Evidence is the PSP's answer, redacted (no secret, no account number).
type DepositAwaited struct {
	PaymentKey     string          `json:"paymentKey"`
	TotalAmount    decimal.Decimal `json:"totalAmount"`
	Method         string          `json:"method"`
	VirtualAccount VirtualAccount  `json:"virtualAccount"`
	Rule           string          `json:"rule"`
	Evidence       json.RawMessage `json:"evidence,omitempty"`
	At             time.Time       `json:"at"`
}

// DepositExpired: the due date passed and the PSP's record shows no deposit. The payment
// failed; a deposit found later is alerted, never booked silently.
type DepositExpired struct {
	DueDate   time.Time       `json:"dueDate"`
	Rule      string          `json:"rule"`
	PspStatus string          `json:"pspStatus,omitempty"`
	Evidence  json.RawMessage `json:"evidence,omitempty"`
	At        time.Time       `json:"at"`
}

// VirtualAccountClosed: the payment was cancelled before the deposit, so the account is
// closed and nothing is refunded (nothing was paid).
type VirtualAccountClosed struct {
	Reason    string          `json:"reason"`
	Actor     string          `json:"actor,omitempty"`
	Rule      string          `json:"rule"`
	PspStatus string          `json:"pspStatus,omitempty"`
	Evidence  json.RawMessage `json:"evidence,omitempty"`
	At        time.Time       `json:"at"`
}

func (DepositAwaited) EventName() string       { return NameDepositAwaited }
func (DepositExpired) EventName() string       { return NameDepositExpired }
func (VirtualAccountClosed) EventName() string { return NameVirtualAccountClosed }

func (DepositAwaited) sealed()       {}
func (DepositExpired) sealed()       {}
func (VirtualAccountClosed) sealed() {}

// RecordDeposit records that the PSP's record shows the deposit into the payment's virtual
// account: a SUCCESS verdict (from a lookup) for the executed payment key and amount.
type RecordDeposit struct {
	Verdict Verdict
	At      time.Time
}

// ExpireDeposit records that the due date passed without a deposit. The caller looked the
// payment up first: the PSP's record (PspStatus, Evidence) shows the account expired. While
// the PSP still shows it waiting, the payment is not expired, whatever our clock says.
type ExpireDeposit struct {
	PspStatus string
	Evidence  json.RawMessage
	At        time.Time
}

// CloseVirtualAccount records that the payment was cancelled before its deposit (PspStatus:
// what the PSP's record says now, e.g. CANCELED).
type CloseVirtualAccount struct {
	Reason    string
	Actor     string
	PspStatus string
	Evidence  json.RawMessage
	At        time.Time
}

func (RecordDeposit) command()       {}
func (ExpireDeposit) command()       {}
func (CloseVirtualAccount) command() {}

// WaitingForDeposit reports whether the payment waits for a deposit into its virtual account.
func (s State) WaitingForDeposit() bool {
	return s.Exists() && s.Status == StatusWaitingForDeposit
}

// DepositOverdue reports whether the payment still waits for a deposit at now, past its due
// date: the deadline check looks it up and records the expiry.
func (s State) DepositOverdue(now time.Time) bool {
	return s.WaitingForDeposit() && s.VirtualAccount != nil && !now.Before(s.VirtualAccount.DueDate)
}

// depositAwaited is the event a WAITING_FOR_DEPOSIT verdict records on an executing payment.
func depositAwaited(s State, v Verdict, at time.Time) ([]Event, error) {
	switch {
	case v.DepositSecret != "":
		return nil, ErrSecretNotSealed
	case v.VirtualAccount == nil:
		return nil, invalid("verdict.virtualAccount", "a payment waits for a deposit only into an issued account")
	case v.PaymentKey != s.PaymentKey || !v.TotalAmount.Equal(s.ConfirmedAmount):
		return nil, fmt.Errorf("record virtual account: PSP answer (%s, %s) does not match the execution (%s, %s): %w",
			v.PaymentKey, v.TotalAmount, s.PaymentKey, s.ConfirmedAmount, ErrInvalid)
	case v.VirtualAccount.DueDate.IsZero():
		return nil, invalid("verdict.virtualAccount.dueDate", "is required")
	}
	return []Event{DepositAwaited{PaymentKey: v.PaymentKey, TotalAmount: v.TotalAmount, Method: v.Method,
		VirtualAccount: *v.VirtualAccount, Rule: v.Rule, Evidence: v.Evidence, At: at}}, nil
}

func decideDeposit(s State, c RecordDeposit) ([]Event, error) {
	v := c.Verdict
	switch {
	case !s.Exists():
		return nil, ErrNotFound
	case !s.WaitingForDeposit():
		return nil, ErrNotWaiting
	case v.Status != StatusSuccess:
		return nil, invalid("verdict.status", "a deposit is recorded only from a SUCCESS verdict, not %q", v.Status)
	case v.PaymentKey != s.PaymentKey || !v.TotalAmount.Equal(s.ConfirmedAmount):
		return nil, fmt.Errorf("record deposit: PSP record (%s, %s) does not match the execution (%s, %s): %w",
			v.PaymentKey, v.TotalAmount, s.PaymentKey, s.ConfirmedAmount, ErrInvalid)
	}
	method := v.Method
	if method == "" {
		method = s.Method
	}
	return []Event{PspApproved{PaymentKey: v.PaymentKey, TotalAmount: v.TotalAmount, Method: method,
		ApprovedAt: v.ApprovedAt, Rule: v.Rule, Evidence: v.Evidence, At: c.At}}, nil
}

func decideExpireDeposit(s State, c ExpireDeposit) ([]Event, error) {
	switch {
	case !s.Exists():
		return nil, ErrNotFound
	case !s.WaitingForDeposit():
		return nil, ErrNotWaiting
	case s.VirtualAccount == nil:
		return nil, invalid("virtualAccount", "the payment records no account")
	case !s.DepositOverdue(c.At):
		return nil, invalid("at", "the deposit is due by %s", s.VirtualAccount.DueDate.Format(time.RFC3339))
	}
	return []Event{DepositExpired{DueDate: s.VirtualAccount.DueDate, Rule: RuleDepositExpired, PspStatus: c.PspStatus,
		Evidence: c.Evidence, At: c.At}}, nil
}

func decideCloseAccount(s State, c CloseVirtualAccount) ([]Event, error) {
	switch {
	case !s.Exists():
		return nil, ErrNotFound
	case !s.WaitingForDeposit():
		return nil, ErrNotWaiting
	}
	if err := CheckRequiredText("cancelReason", c.Reason, MaxReasonLength); err != nil {
		return nil, err
	}
	return []Event{VirtualAccountClosed{Reason: c.Reason, Actor: c.Actor, Rule: RuleAccountClosed, PspStatus: c.PspStatus,
		Evidence: c.Evidence, At: c.At}}, nil
}

// evolveDeposit applies a virtual-account event.
func evolveDeposit(s State, e Event) State {
	switch e := e.(type) {
	case DepositAwaited:
		va := e.VirtualAccount
		s.VirtualAccount, s.Method = &va, e.Method
		s.Outcome = &Outcome{Status: StatusWaitingForDeposit, Rule: e.Rule}
		s.OperatorAlert = false
		s.UpdatedAt = e.At
		s = s.withStatus(StatusWaitingForDeposit)
	case DepositExpired:
		s.Outcome = &Outcome{Status: StatusFailure, Rule: e.Rule, Code: CodeDepositExpired,
			Message: "no deposit by " + e.DueDate.Format(time.RFC3339)}
		s.UpdatedAt = e.At
		s = s.withStatus(StatusFailure)
	case VirtualAccountClosed:
		s.Outcome = &Outcome{Status: StatusFailure, Rule: e.Rule, Code: CodeAccountClosed, Message: e.Reason}
		s.UpdatedAt = e.At
		s = s.withStatus(StatusFailure)
	}
	return s
}
