package aggregate

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/go-json-experiment/json/v1"

	"github.com/shopspring/decimal"
)

// Deposit errors (입금 오류): the PSP can move a deposited virtual-account payment from DONE
// back to WAITING_FOR_DEPOSIT when the bank transfer fails after all; the buyer must
// deposit again. DepositWithdrawn records it: the approval is withdrawn, the payment waits
// for its deposit again (the next one is a fresh PspApproved), and what the withdrawn
// approval booked downstream is taken back (the forwarder's payment.deposit-withdrawn.v1;
// the ledger and the wallets report back with WithdrawalBooked).
//
// Only a payment approved and not refunded at all can be withdrawn. A refunded one (in part
// or in full) paid money back out of a deposit that never arrived: there is no account of it
// a rule could settle (reverse the rest? claw the refund back?), so the decider refuses it
// (ErrWithdrawnAfterRefund) and the service alerts an operator instead of recording it.

// Names of the deposit-error events (frozen like the others; golden files in
// testdata/events).
const (
	NameDepositWithdrawn = "payment.deposit-withdrawn.v1"
	NameWithdrawalBooked = "payment.withdrawal-booked.v1"
)

// Rule and code the decider names for a deposit error.
const (
	RuleDepositWithdrawn = "deposit.v1/withdrawn-by-psp"
	CodeDepositWithdrawn = "DEPOSIT_ERROR"
)

var (
	// ErrNotDeposited: only an approved virtual-account payment's deposit can be withdrawn.
	ErrNotDeposited = errors.New("payment is not an approved virtual-account deposit")
	// ErrWithdrawnAfterRefund: the PSP withdrew the deposit of a payment refunded in part or
	// in full; an operator settles it (see the package comment above).
	ErrWithdrawnAfterRefund = errors.New("the deposit of a refunded payment was withdrawn")
	// ErrNoSuchWithdrawal: the payment has no withdrawal with that id.
	ErrNoSuchWithdrawal = errors.New("no such withdrawal")
)

// DepositWithdrawn: the PSP's record shows the deposit withdrawn (the payment back at
// WAITING_FOR_DEPOSIT). Amount is the approval withdrawn, split over the orders (Orders);
// ApprovedAt is when that approval was made. VirtualAccount is the account as the PSP's
// record shows it now (nil: as issued).
type DepositWithdrawn struct {
	WithdrawalID   string          `json:"withdrawalId"`
	Amount         decimal.Decimal `json:"amount"`
	Orders         []RefundSplit   `json:"orders"`
	ApprovedAt     time.Time       `json:"approvedAt"`
	VirtualAccount *VirtualAccount `json:"virtualAccount,omitempty"`
	Rule           string          `json:"rule"`
	PspStatus      string          `json:"pspStatus"`
	Evidence       json.RawMessage `json:"evidence,omitempty"`
	At             time.Time       `json:"at"`
}

// WithdrawalBooked: the ledger or the wallets took a withdrawn approval back (By: "ledger"
// or "wallet").
type WithdrawalBooked struct {
	WithdrawalID string    `json:"withdrawalId"`
	By           string    `json:"by"`
	MessageID    string    `json:"messageId"`
	At           time.Time `json:"at"`
}

func (DepositWithdrawn) EventName() string { return NameDepositWithdrawn }
func (WithdrawalBooked) EventName() string { return NameWithdrawalBooked }

func (DepositWithdrawn) sealed() {}
func (WithdrawalBooked) sealed() {}

// Withdrawal is one approval the PSP withdrew, and whether downstream took it back.
type Withdrawal struct {
	ID           string
	Amount       decimal.Decimal
	Orders       []RefundSplit
	ApprovedAt   time.Time
	At           time.Time
	LedgerBooked bool
	WalletBooked bool
}

// Booked reports whether the ledger and the wallets both took the withdrawal back.
func (w Withdrawal) Booked() bool { return w.LedgerBooked && w.WalletBooked }

// WithdrawDeposit records that the PSP's record shows the deposit of an approved
// virtual-account payment withdrawn (PspStatus, Evidence). VirtualAccount is the account the
// record shows now, its secret sealed (nil: unchanged).
type WithdrawDeposit struct {
	PspStatus      string
	VirtualAccount *VirtualAccount
	Evidence       json.RawMessage
	At             time.Time
}

// RecordWithdrawalBooked records that the ledger or the wallets took a withdrawal back.
// Repeats are no-ops.
type RecordWithdrawalBooked struct {
	WithdrawalID string
	By           string // "ledger" or "wallet"
	MessageID    string
	At           time.Time
}

func (WithdrawDeposit) command()        {}
func (RecordWithdrawalBooked) command() {}

// WithdrawalByID finds a withdrawal.
func (s State) WithdrawalByID(id string) (Withdrawal, bool) {
	i := slices.IndexFunc(s.Withdrawals, func(w Withdrawal) bool { return w.ID == id })
	if i < 0 {
		return Withdrawal{}, false
	}
	return s.Withdrawals[i], true
}

func decideWithdraw(s State, c WithdrawDeposit) ([]Event, error) {
	switch {
	case !s.Exists():
		return nil, ErrNotFound
	case s.VirtualAccount == nil || !s.Status.Approved() || s.ApprovedAt == nil:
		return nil, fmt.Errorf("%s is %s: %w", s.OrderID, s.Status, ErrNotDeposited)
	case c.VirtualAccount != nil && c.VirtualAccount.DueDate.IsZero():
		return nil, invalid("virtualAccount.dueDate", "is required")
	}
	if _, open := s.OpenRefund(); open {
		return nil, ErrRefundExecuting // settled first: it may have refunded
	}
	if s.RefundedAmount.IsPositive() {
		return nil, fmt.Errorf("%s refunded %s of %s: %w", s.OrderID, s.RefundedAmount, s.TotalAmount, ErrWithdrawnAfterRefund)
	}
	orders := make([]RefundSplit, len(s.Orders))
	for i, o := range s.Orders {
		orders[i] = RefundSplit{Seq: o.Seq, Amount: o.Amount}
	}
	va := c.VirtualAccount
	if va != nil && va.SecretHash == "" {
		kept := *va
		kept.SecretHash = s.VirtualAccount.SecretHash // the secret the account was issued with still holds
		va = &kept
	}
	return []Event{DepositWithdrawn{WithdrawalID: fmt.Sprintf("%s-w%d", s.OrderID, len(s.Withdrawals)+1), Amount: s.TotalAmount,
		Orders: orders, ApprovedAt: *s.ApprovedAt, VirtualAccount: va, Rule: RuleDepositWithdrawn, PspStatus: c.PspStatus,
		Evidence: c.Evidence, At: c.At}}, nil
}

func decideWithdrawalBooked(s State, c RecordWithdrawalBooked) ([]Event, error) {
	w, ok := s.WithdrawalByID(c.WithdrawalID)
	switch {
	case !s.Exists():
		return nil, ErrNotFound
	case !ok:
		return nil, ErrNoSuchWithdrawal
	case c.By != "ledger" && c.By != "wallet":
		return nil, invalid("by", "must be ledger or wallet")
	case (c.By == "ledger" && w.LedgerBooked) || (c.By == "wallet" && w.WalletBooked):
		return nil, nil
	}
	return []Event{WithdrawalBooked{WithdrawalID: w.ID, By: c.By, MessageID: c.MessageID, At: c.At}}, nil
}

// evolveWithdrawal applies a deposit-error event. A withdrawal leaves the payment as it was
// before its deposit: waiting, not approved, not done, nothing of it booked downstream (the
// orders' ledger and wallet flags are those of the current approval, and there is none).
func evolveWithdrawal(s State, e Event) State {
	switch e := e.(type) {
	case DepositWithdrawn:
		s.Withdrawals = append(slices.Clone(s.Withdrawals), Withdrawal{ID: e.WithdrawalID, Amount: e.Amount,
			Orders: slices.Clone(e.Orders), ApprovedAt: e.ApprovedAt, At: e.At})
		if e.VirtualAccount != nil {
			va := *e.VirtualAccount
			s.VirtualAccount = &va
		}
		s.ApprovedAt = nil
		s.IsPaymentDone, s.CompletedAt = false, nil
		s.Outcome = &Outcome{Status: StatusWaitingForDeposit, Rule: e.Rule, Code: CodeDepositWithdrawn,
			Message: "the PSP withdrew the deposit (" + e.PspStatus + "); waiting for the buyer to deposit again"}
		s.UpdatedAt = e.At
		s = s.withStatus(StatusWaitingForDeposit)
		for i := range s.Orders { // withStatus copied them
			s.Orders[i].LedgerUpdated, s.Orders[i].WalletUpdated = false, false
		}
	case WithdrawalBooked:
		s.Withdrawals = slices.Clone(s.Withdrawals)
		for i := range s.Withdrawals {
			if s.Withdrawals[i].ID == e.WithdrawalID {
				if e.By == "ledger" {
					s.Withdrawals[i].LedgerBooked = true
				} else {
					s.Withdrawals[i].WalletBooked = true
				}
			}
		}
		s.UpdatedAt = e.At
	}
	return s
}
