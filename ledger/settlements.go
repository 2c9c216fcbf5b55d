package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/reconcile"
	"github.com/paystream/paystream/toss"
)

// Accounts of settlements.
const (
	// AccountPSPFees is the expense of the PSP's fees: its fees' supply amount, the VAT on
	// them and any interest fee, which it keeps out of what it pays out.
	AccountPSPFees = "psp_fees"
	// AccountCash is the money the PSP has paid out to us.
	AccountCash = "cash"
)

// Kinds of settlement transaction.
const (
	// KindSettlementFee books the PSP's fees of one transaction: debit psp_fees, credit
	// psp_receivable (a cancel's fees, given back, the other way round).
	KindSettlementFee = "settlement-fee"
	// KindPayout books the PSP's payout of one transaction on its payout date: debit cash,
	// credit psp_receivable (a cancel's negative payout, deducted, the other way round).
	KindPayout = "payout"
)

// SettlementFeeID and PayoutID are the ids of the transactions booking a settlement row
// of the PSP transaction transactionKey: once each, however many runs hand the row over.
func SettlementFeeID(transactionKey string) string { return "settlement-fee:" + transactionKey }
func PayoutID(transactionKey string) string        { return "payout:" + transactionKey }

var _ reconcile.Books = (*Ledger)(nil)

// BookSettlements books the PSP's settlement rows of a reconciliation run (reconcile.Books).
// Per row, once per transaction key: its fees (fee + VAT + interest fee) as an expense
// taken out of psp_receivable (KindSettlementFee), so that psp_receivable is what the PSP
// still owes: the payout. The payout itself (KindPayout: cash against psp_receivable) is
// booked by the first run on or after the row's payout date (a KST date, by the ledger's
// clock): until then the money is a receivable. A run before the payout date books the
// fees only, a later run of the same period books the payout, and no run books either
// twice. Amounts are signed as the PSP reports them (a cancel's are negative): a negative
// amount posts the mirror image. Errors: a row without a transaction key or with a
// malformed payout date, and the store's; rows
// before the failing one stay booked, and a re-run books the rest.
func (l *Ledger) BookSettlements(ctx context.Context, runID string, rows []reconcile.SettlementRecorded) error {
	today := l.now().In(toss.KST).Format(time.DateOnly)
	for _, s := range rows {
		if s.TransactionKey == "" {
			return fmt.Errorf("book settlement of %s (run %s): no transaction key", s.OrderID, runID)
		}
		reason := fmt.Sprintf("settlement of transaction %s (reconciliation run %s)", s.TransactionKey, runID)
		fees := s.Fee.Add(s.VAT).Add(s.InterestFee)
		if err := l.postSigned(ctx, SettlementFeeID(s.TransactionKey), KindSettlementFee, s.OrderID, reason,
			AccountPSPFees, fees); err != nil {
			return fmt.Errorf("book settlement fees of %s: %w", s.TransactionKey, err)
		}
		if s.PaidOutDate == "" {
			continue
		}
		due, err := time.ParseInLocation(time.DateOnly, s.PaidOutDate, toss.KST)
		if err != nil {
			return fmt.Errorf("book payout of %s: paidOutDate %q: %w", s.TransactionKey, s.PaidOutDate, err)
		}
		if due.Format(time.DateOnly) > today {
			continue // not paid out yet: still receivable
		}
		if err := l.postSigned(ctx, PayoutID(s.TransactionKey), KindPayout, s.OrderID, reason+", paid out "+s.PaidOutDate,
			AccountCash, s.PayOut); err != nil {
			return fmt.Errorf("book payout of %s: %w", s.TransactionKey, err)
		}
	}
	return nil
}

// postSigned posts amount as a debit of account and a credit of psp_receivable, or, when
// amount is negative, its mirror image; nothing when it is zero or posted before.
func (l *Ledger) postSigned(ctx context.Context, id, kind, orderID, reason, account string, amount decimal.Decimal) error {
	if amount.IsZero() {
		return nil
	}
	debit, credit := account, AccountPSPReceivable
	if amount.IsNegative() {
		debit, credit = credit, debit
	}
	abs := amount.Abs()
	_, err := l.store.Post(ctx, Transaction{ID: id, Kind: kind, OrderID: orderID, Reason: reason, PostedAt: l.now().UTC(),
		Entries: []Entry{{Account: debit, Side: Debit, Amount: abs}, {Account: credit, Side: Credit, Amount: abs}}})
	return err
}
