package wallet

import (
	"context"
	"fmt"
	"sort"

	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/kafkamsg"
)

// Credit is one order's amount credited to its seller; a negative amount is a debit (a
// refund taken back from the seller).
type Credit struct {
	SellerID string          `json:"sellerId"`
	Amount   decimal.Decimal `json:"amount"`
	OrderID  string          `json:"orderId"`
	OrderSeq int             `json:"orderSeq"`
}

// Balance is one seller's wallet.
type Balance struct {
	SellerID string          `json:"sellerId"`
	Amount   decimal.Decimal `json:"amount"`
}

// Store keeps the wallets. Implementations are safe for concurrent use.
type Store interface {
	// Apply adds every credit atomically unless messageID was applied before; applied
	// reports whether it was.
	Apply(ctx context.Context, messageID string, credits []Credit) (applied bool, err error)
	// Balances returns every seller's balance.
	Balances(ctx context.Context) ([]Balance, error)
	// Applied returns how many messages were applied.
	Applied(ctx context.Context) (int, error)
}

// Wallet credits sellers for approvals. Safe for concurrent use.
type Wallet struct{ store Store }

// New returns a Wallet over store.
func New(store Store) *Wallet { return &Wallet{store: store} }

// Book credits every order's seller; booked is false when the approval was applied before.
// Errors: kafkamsg.ErrMalformed for an invalid approval, and the store's.
func (w *Wallet) Book(ctx context.Context, a kafkamsg.Approved) (booked bool, err error) {
	if err := a.Validate(); err != nil {
		return false, fmt.Errorf("credit %s: %w", a.OrderID, err)
	}
	credits := make([]Credit, len(a.Orders))
	for i, o := range a.Orders {
		credits[i] = Credit{SellerID: o.SellerID, Amount: o.Amount, OrderID: a.OrderID, OrderSeq: o.Seq}
	}
	booked, err = w.store.Apply(ctx, a.MessageID(), credits)
	if err != nil {
		return false, fmt.Errorf("credit %s (message %s): %w", a.OrderID, a.MessageID(), err)
	}
	return booked, nil
}

// BookRefund debits the sellers of the orders a refund message (kafkamsg.Refunded: a
// refund, or the allocation of an unallocated one) names; booked is false when it was
// applied before, and for a refund not allocated to orders yet, which debits no one until
// its allocation. Errors: kafkamsg.ErrMalformed for an invalid message, and the store's.
func (w *Wallet) BookRefund(ctx context.Context, r kafkamsg.Refunded) (booked bool, err error) {
	if err := r.Validate(); err != nil {
		return false, fmt.Errorf("debit refund %s: %w", r.RefundID, err)
	}
	if !r.Allocated() {
		return false, nil
	}
	debits := make([]Credit, len(r.Orders))
	for i, o := range r.Orders {
		debits[i] = Credit{SellerID: o.SellerID, Amount: o.Amount.Neg(), OrderID: r.OrderID, OrderSeq: o.Seq}
	}
	booked, err = w.store.Apply(ctx, r.MessageID(), debits)
	if err != nil {
		return false, fmt.Errorf("debit refund %s (message %s): %w", r.RefundID, r.MessageID(), err)
	}
	return booked, nil
}

// BookWithdrawal debits the sellers of every order of a withdrawn deposit
// (kafkamsg.Withdrawn): what the approval credited them; booked is false when it was applied
// before. Errors: kafkamsg.ErrMalformed for an invalid message, and the store's.
func (w *Wallet) BookWithdrawal(ctx context.Context, m kafkamsg.Withdrawn) (booked bool, err error) {
	if err := m.Validate(); err != nil {
		return false, fmt.Errorf("debit withdrawal %s: %w", m.WithdrawalID, err)
	}
	debits := make([]Credit, len(m.Orders))
	for i, o := range m.Orders {
		debits[i] = Credit{SellerID: o.SellerID, Amount: o.Amount.Neg(), OrderID: m.OrderID, OrderSeq: o.Seq}
	}
	booked, err = w.store.Apply(ctx, m.MessageID(), debits)
	if err != nil {
		return false, fmt.Errorf("debit withdrawal %s (message %s): %w", m.WithdrawalID, m.MessageID(), err)
	}
	return booked, nil
}

// Balance returns one seller's balance (zero when never credited).
func (w *Wallet) Balance(ctx context.Context, sellerID string) (decimal.Decimal, error) {
	all, err := w.Balances(ctx)
	if err != nil {
		return decimal.Zero, err
	}
	for _, b := range all {
		if b.SellerID == sellerID {
			return b.Amount, nil
		}
	}
	return decimal.Zero, nil
}

// Balances returns every seller's balance, sorted by seller.
func (w *Wallet) Balances(ctx context.Context) ([]Balance, error) {
	all, err := w.store.Balances(ctx)
	if err != nil {
		return nil, fmt.Errorf("wallet balances: %w", err)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].SellerID < all[j].SellerID })
	return all, nil
}

// Applied returns how many approvals were applied.
func (w *Wallet) Applied(ctx context.Context) (int, error) {
	n, err := w.store.Applied(ctx)
	if err != nil {
		return 0, fmt.Errorf("wallet applied: %w", err)
	}
	return n, nil
}
