package ledger

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/kafkamsg"
)

// Accounts.
const (
	// AccountPSPReceivable is what the PSP owes us for captured payments.
	AccountPSPReceivable = "psp_receivable"
	sellerPayablePrefix  = "seller_payable:"
)

// SellerPayable is the account of what we owe a seller.
func SellerPayable(sellerID string) string { return sellerPayablePrefix + sellerID }

// Side of an entry.
type Side string

const (
	Debit  Side = "debit"
	Credit Side = "credit"
)

// Kinds of transaction.
const (
	KindBooking  = "booking"
	KindReversal = "reversal"
)

// Errors.
var (
	// ErrNotFound: no transaction with that id.
	ErrNotFound = errors.New("ledger: transaction not found")
	// ErrUnbalanced: a transaction whose debits and credits differ, or with a non-positive
	// entry.
	ErrUnbalanced = errors.New("ledger: unbalanced transaction")
	// ErrAlreadyReversed: the transaction was reversed already, or is itself a reversal.
	ErrAlreadyReversed = errors.New("ledger: transaction already reversed")
)

// Entry is one side of a transaction on one account.
type Entry struct {
	Account  string          `json:"account"`
	Side     Side            `json:"side"`
	Amount   decimal.Decimal `json:"amount"`
	OrderSeq int             `json:"orderSeq,omitempty"`
}

// Transaction is a balanced set of entries posted together.
type Transaction struct {
	ID       string    `json:"id"` // bookings: the approval's message id
	Kind     string    `json:"kind"`
	OrderID  string    `json:"orderId"`
	Reverses string    `json:"reverses,omitempty"` // reversals: the transaction reversed
	Reason   string    `json:"reason,omitempty"`
	Entries  []Entry   `json:"entries"`
	PostedAt time.Time `json:"postedAt"`
}

// Balanced reports whether t's debits equal its credits and every amount is positive.
func (t Transaction) Balanced() bool {
	var debits, credits decimal.Decimal
	for _, e := range t.Entries {
		if !e.Amount.IsPositive() {
			return false
		}
		switch e.Side {
		case Debit:
			debits = debits.Add(e.Amount)
		case Credit:
			credits = credits.Add(e.Amount)
		default:
			return false
		}
	}
	return len(t.Entries) > 0 && debits.Equal(credits)
}

// Balance is an account's totals.
type Balance struct {
	Account string          `json:"account"`
	Debits  decimal.Decimal `json:"debits"`
	Credits decimal.Decimal `json:"credits"`
}

// Net is debits minus credits (negative for an account we owe on, such as seller_payable).
func (b Balance) Net() decimal.Decimal { return b.Debits.Sub(b.Credits) }

// Store keeps the ledger. Implementations are safe for concurrent use.
type Store interface {
	// Post records t atomically unless a transaction with t.ID exists; posted reports
	// whether it was recorded. Errors: ErrUnbalanced; for a reversal, ErrNotFound (nothing
	// to reverse) and ErrAlreadyReversed.
	Post(ctx context.Context, t Transaction) (posted bool, err error)
	// Transaction returns the transaction with that id, or ErrNotFound.
	Transaction(ctx context.Context, id string) (Transaction, error)
	// Transactions returns every transaction in posting order.
	Transactions(ctx context.Context) ([]Transaction, error)
	// Balances returns every account's totals.
	Balances(ctx context.Context) ([]Balance, error)
}

// Ledger books approvals and reverses transactions. Safe for concurrent use.
type Ledger struct {
	store Store
	now   func() time.Time
}

// Option configures a Ledger.
type Option func(*Ledger)

// WithClock sets the clock stamping PostedAt (default time.Now).
func WithClock(now func() time.Time) Option { return func(l *Ledger) { l.now = now } }

// New returns a Ledger over store.
func New(store Store, opts ...Option) *Ledger {
	l := &Ledger{store: store, now: time.Now}
	for _, o := range opts {
		o(l)
	}
	return l
}

// Book posts the approval's transaction; booked is false when it was posted before (a
// redelivery). Errors: kafkamsg.ErrMalformed for an invalid approval, and the store's.
func (l *Ledger) Book(ctx context.Context, a kafkamsg.Approved) (booked bool, err error) {
	if err := a.Validate(); err != nil {
		return false, fmt.Errorf("book %s: %w", a.OrderID, err)
	}
	t := Transaction{ID: a.MessageID(), Kind: KindBooking, OrderID: a.OrderID, PostedAt: l.now().UTC()}
	for _, o := range a.Orders {
		t.Entries = append(t.Entries,
			Entry{Account: AccountPSPReceivable, Side: Debit, Amount: o.Amount, OrderSeq: o.Seq},
			Entry{Account: SellerPayable(o.SellerID), Side: Credit, Amount: o.Amount, OrderSeq: o.Seq})
	}
	booked, err = l.store.Post(ctx, t)
	if err != nil {
		return false, fmt.Errorf("book %s (message %s): %w", a.OrderID, a.MessageID(), err)
	}
	return booked, nil
}

// ReversalID is the id of the transaction reversing id.
func ReversalID(id string) string { return "reversal:" + id }

// Reverse posts the mirror image of transaction id, with a reason. Errors: ErrNotFound,
// ErrAlreadyReversed.
func (l *Ledger) Reverse(ctx context.Context, id, reason string) (Transaction, error) {
	orig, err := l.store.Transaction(ctx, id)
	if err != nil {
		return Transaction{}, fmt.Errorf("reverse %s: %w", id, err)
	}
	if orig.Kind == KindReversal {
		return Transaction{}, fmt.Errorf("reverse %s: a reversal: %w", id, ErrAlreadyReversed)
	}
	rev := Transaction{ID: ReversalID(id), Kind: KindReversal, OrderID: orig.OrderID, Reverses: id,
		Reason: reason, PostedAt: l.now().UTC()}
	for _, e := range orig.Entries {
		e.Side = map[Side]Side{Debit: Credit, Credit: Debit}[e.Side]
		rev.Entries = append(rev.Entries, e)
	}
	posted, err := l.store.Post(ctx, rev)
	if err != nil {
		return Transaction{}, fmt.Errorf("reverse %s: %w", id, err)
	}
	if !posted {
		return Transaction{}, fmt.Errorf("reverse %s: %w", id, ErrAlreadyReversed)
	}
	return rev, nil
}

// Balance returns one account's totals (zero for an account never posted to).
func (l *Ledger) Balance(ctx context.Context, account string) (Balance, error) {
	all, err := l.Balances(ctx)
	if err != nil {
		return Balance{}, err
	}
	for _, b := range all {
		if b.Account == account {
			return b, nil
		}
	}
	return Balance{Account: account}, nil
}

// Balances returns every account's totals, sorted by account.
func (l *Ledger) Balances(ctx context.Context) ([]Balance, error) {
	all, err := l.store.Balances(ctx)
	if err != nil {
		return nil, fmt.Errorf("ledger balances: %w", err)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Account < all[j].Account })
	return all, nil
}

// Transactions returns every transaction in posting order.
func (l *Ledger) Transactions(ctx context.Context) ([]Transaction, error) {
	ts, err := l.store.Transactions(ctx)
	if err != nil {
		return nil, fmt.Errorf("ledger transactions: %w", err)
	}
	return ts, nil
}
