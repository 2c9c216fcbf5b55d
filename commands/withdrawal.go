package commands

import (
	"context"
	"errors"
	"fmt"

	"github.com/paystream/paystream/aggregate"
)

// Deposit errors: Toss can move a deposited virtual-account payment from DONE back to
// WAITING_FOR_DEPOSIT (the transfer failed after all) and tells us with a webhook. A
// lookup that shows an approved virtual-account payment's record not captured any more
// (waiting again, or expired or closed unpaid) records DepositWithdrawn: the payment waits
// for its deposit again, the forwarder sends the withdrawal downstream to be taken back,
// and an operator is alerted. The next deposit is found like the first one.

// withdrawnAtPSP reports whether the PSP's record of an approved virtual-account payment
// says its deposit is gone: the record waits for a deposit, or was never captured.
func withdrawnAtPSP(p Payment, rec PSPRecord) bool {
	return p.VirtualAccount != nil && p.Status.Approved() && rec.Decided &&
		(rec.Verdict.Status == aggregate.StatusWaitingForDeposit || rec.Verdict.Status == aggregate.StatusFailure)
}

// withdrawDeposit records that the PSP withdrew the deposit of p (rec: its record, which
// withdrawnAtPSP judged), and alerts. A payment refunded in part or in full is not recorded
// but alerted for an operator (aggregate.ErrWithdrawnAfterRefund); while a refund of it is
// open it returns aggregate.ErrRefundExecuting, so the webhook is worked off again later.
func (s *Service) withdrawDeposit(ctx context.Context, p Payment, rec PSPRecord, meta Meta) (string, error) {
	now := s.cfg.Now().UTC()
	var va *aggregate.VirtualAccount
	if rec.Verdict.Status == aggregate.StatusWaitingForDeposit {
		va = s.sealed(rec.Verdict).VirtualAccount // the account as the record shows it now, its secret hashed
	}
	u, err := s.update(ctx, p.OrderID, &p, meta, "", func(p Payment) ([]aggregate.Event, error) {
		if p.WaitingForDeposit() {
			return nil, nil // recorded meanwhile (another webhook)
		}
		return aggregate.Decide(p.State, aggregate.WithdrawDeposit{PspStatus: rec.Status, VirtualAccount: va,
			Evidence: rec.Evidence, At: now})
	})
	switch {
	case errors.Is(err, aggregate.ErrWithdrawnAfterRefund):
		s.sig.withdrawals.Add(1)
		s.sig.alert(now, "Toss withdrew the deposit of refunded "+p.OrderID)
		s.log.Error("OPERATOR ALERT: Toss withdrew the deposit of a payment refunded in part or in full; not recorded, an operator settles it",
			"order_id", p.OrderID, "refunded", p.RefundedAmount.String(), "toss_status", rec.Status, "alert", true)
		return "withdrawal after refund alerted", nil
	case err != nil:
		return "", fmt.Errorf("record deposit withdrawn: %w", err)
	case u.cause == "":
		return "already recorded", nil
	}
	w := u.Withdrawals[len(u.Withdrawals)-1]
	s.sig.withdrawals.Add(1)
	s.sig.alert(now, "Toss withdrew the deposit of "+p.OrderID)
	s.log.Error("OPERATOR ALERT: Toss withdrew the deposit after a deposit error; the approval is taken back downstream and the payment waits for the buyer to deposit again",
		"order_id", p.OrderID, "withdrawal_id", w.ID, "amount", w.Amount.String(), "toss_status", rec.Status, "alert", true)
	return "recorded deposit withdrawn", nil
}

// WithdrawalBooking is the ledger or the wallets reporting that they took a withdrawn
// approval back.
type WithdrawalBooking struct {
	OrderID      string
	WithdrawalID string
	By           string // "ledger" or "wallet"
	MessageID    string
}

// RecordWithdrawalBooked records a take-back of a withdrawal; repeats are no-ops. Errors:
// aggregate.ErrNotFound, aggregate.ErrNoSuchWithdrawal, *aggregate.ValidationError.
func (s *Service) RecordWithdrawalBooked(ctx context.Context, b WithdrawalBooking, meta Meta) (Payment, error) {
	u, err := s.update(ctx, b.OrderID, nil, meta.forCommand(), "", func(p Payment) ([]aggregate.Event, error) {
		return aggregate.Decide(p.State, aggregate.RecordWithdrawalBooked{WithdrawalID: b.WithdrawalID, By: b.By,
			MessageID: b.MessageID, At: s.cfg.Now().UTC()})
	})
	return u.Payment, err
}
