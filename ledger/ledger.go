package ledger

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/kafkamsg"
)

// Accounts.
const (
	// AccountPSPReceivable is what the PSP owes us for captured payments (less refunds).
	AccountPSPReceivable = "psp_receivable"
	// AccountRefundsUnallocated holds refunds the PSP made whose orders (hence sellers) are
	// not known yet: debited by the refund, credited by its allocation to the sellers.
	AccountRefundsUnallocated = "refunds_unallocated"
	sellerPayablePrefix       = "seller_payable:"
)

// SellerPayable is the account of what we owe a seller.
func SellerPayable(sellerID string) string { return sellerPayablePrefix + sellerID }

// SellerOf is the seller whose payable account account is, if it is one.
func SellerOf(account string) (string, bool) { return strings.CutPrefix(account, sellerPayablePrefix) }

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
	// KindRefund takes a refund back from the sellers of its orders (a Reversal of part of
	// the booking, against psp_receivable).
	KindRefund = "refund"
	// KindRefundUnallocated books a refund whose orders are not known: debit
	// refunds_unallocated, credit psp_receivable.
	KindRefundUnallocated = "refund-unallocated"
	// KindRefundAllocation moves an unallocated refund to the sellers of the orders it came
	// from (a Reversal of part of the booking, against refunds_unallocated).
	KindRefundAllocation = "refund-allocation"
	// KindDepositWithdrawn takes back everything left of a booking whose deposit the PSP
	// withdrew (a virtual-account deposit error): a Reversal with no orders, against
	// psp_receivable.
	KindDepositWithdrawn = "deposit-withdrawn"
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
	// ErrOverReversed: taking back more of an order than its booking credited the seller.
	ErrOverReversed = errors.New("ledger: more taken back than was booked")
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
	ID       string `json:"id"` // bookings: the approval's message id
	Kind     string `json:"kind"`
	OrderID  string `json:"orderId"`
	Reverses string `json:"reverses,omitempty"` // reversals: the transaction reversed
	// Of is, for a transaction taking part of a booking back from its sellers (refunds,
	// allocations), that booking's id; any number of them may, up to what it credited.
	Of       string    `json:"of,omitempty"`
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

// SellerAmounts sums t's seller_payable entries on side per order seq: a booking's credits
// are what it owes each order's seller, a take-back's debits what it takes back. Stores use
// it to enforce that no order is taken back beyond its booking (ErrOverReversed).
func (t Transaction) SellerAmounts(side Side) map[int]decimal.Decimal {
	out := map[int]decimal.Decimal{}
	for _, e := range t.Entries {
		if _, ok := SellerOf(e.Account); ok && e.Side == side {
			out[e.OrderSeq] = out[e.OrderSeq].Add(e.Amount)
		}
	}
	return out
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
	// to reverse) and ErrAlreadyReversed; for a transaction with Of, ErrNotFound (no such
	// booking) and ErrOverReversed when, per order, its seller_payable debits and those of
	// the transactions posted before with the same Of would exceed the booking's
	// seller_payable credit.
	Post(ctx context.Context, t Transaction) (posted bool, err error)
	// TakenBack returns, per order seq, the seller_payable debits of every transaction
	// posted with Of = booking.
	TakenBack(ctx context.Context, booking string) (map[int]decimal.Decimal, error)
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

// Part is an amount of one order (by seq).
type Part struct {
	Seq    int
	Amount decimal.Decimal
}

// Reversal takes part of a booking back from its sellers: per order, a debit of the
// order's seller_payable account and a credit of Against, in one transaction that links to
// the booking (Of). It is how every correction that undoes (part of) an approval books:
// a refund (Against psp_receivable: the PSP paid the buyer back), the allocation of an
// unallocated refund (Against refunds_unallocated), and a virtual-account deposit that did
// not happen after all (DONE back to waiting, BookWithdrawal): Orders nil takes back
// everything left of every order, Against psp_receivable.
type Reversal struct {
	ID      string // posted once: a redelivered reversal posts nothing
	Kind    string // KindRefund, KindRefundAllocation, …
	OrderID string
	Booking string // the booking's id (its approval's message id)
	Orders  []Part // nil: everything left of every order
	Against string // default AccountPSPReceivable
	Reason  string
}

// TakeBack posts r; posted is false when r.ID was posted before. Errors: ErrNotFound (no
// such booking, or an order it does not have), ErrOverReversed, and the store's.
func (l *Ledger) TakeBack(ctx context.Context, r Reversal) (t Transaction, posted bool, err error) {
	fail := func(err error) (Transaction, bool, error) {
		return Transaction{}, false, fmt.Errorf("take back %s from %s: %w", r.ID, r.Booking, err)
	}
	if prior, err := l.store.Transaction(ctx, r.ID); err == nil {
		return prior, false, nil
	}
	booking, err := l.store.Transaction(ctx, r.Booking)
	if err != nil {
		return fail(err)
	}
	sellers, booked := map[int]string{}, map[int]decimal.Decimal{}
	for _, e := range booking.Entries {
		if seller, ok := SellerOf(e.Account); ok && e.Side == Credit {
			sellers[e.OrderSeq], booked[e.OrderSeq] = seller, booked[e.OrderSeq].Add(e.Amount)
		}
	}
	parts := r.Orders
	if parts == nil {
		taken, err := l.store.TakenBack(ctx, r.Booking)
		if err != nil {
			return fail(err)
		}
		for seq, amount := range booked {
			if left := amount.Sub(taken[seq]); left.IsPositive() {
				parts = append(parts, Part{Seq: seq, Amount: left})
			}
		}
		sort.Slice(parts, func(i, j int) bool { return parts[i].Seq < parts[j].Seq })
	}
	against := cmp.Or(r.Against, AccountPSPReceivable)
	t = Transaction{ID: r.ID, Kind: r.Kind, OrderID: cmp.Or(r.OrderID, booking.OrderID), Of: r.Booking, Reason: r.Reason,
		PostedAt: l.now().UTC()}
	for _, p := range parts {
		seller, ok := sellers[p.Seq]
		if !ok {
			return fail(fmt.Errorf("order %d: %w", p.Seq, ErrNotFound))
		}
		t.Entries = append(t.Entries,
			Entry{Account: SellerPayable(seller), Side: Debit, Amount: p.Amount, OrderSeq: p.Seq},
			Entry{Account: against, Side: Credit, Amount: p.Amount, OrderSeq: p.Seq})
	}
	posted, err = l.store.Post(ctx, t)
	if err != nil {
		return fail(err)
	}
	return t, posted, nil
}

// BookRefund books a refund message (kafkamsg.Refunded): a refund with orders is taken
// back from their sellers (KindRefund), one without is booked to refunds_unallocated
// (KindRefundUnallocated), and an allocation moves it from there to the sellers
// (KindRefundAllocation). booked is false for a message booked before. Errors:
// kafkamsg.ErrMalformed for an invalid message or one whose orders the booking lacks,
// ErrOverReversed, and the store's.
func (l *Ledger) BookRefund(ctx context.Context, r kafkamsg.Refunded) (booked bool, err error) {
	if err := r.Validate(); err != nil {
		return false, fmt.Errorf("book refund %s: %w", r.RefundID, err)
	}
	reason := "refund " + r.RefundID
	if !r.Allocated() {
		t := Transaction{ID: r.MessageID(), Kind: KindRefundUnallocated, OrderID: r.OrderID, Reason: reason, PostedAt: l.now().UTC(),
			Entries: []Entry{{Account: AccountRefundsUnallocated, Side: Debit, Amount: r.Amount},
				{Account: AccountPSPReceivable, Side: Credit, Amount: r.Amount}}}
		booked, err = l.store.Post(ctx, t)
		if err != nil {
			return false, fmt.Errorf("book refund %s (message %s): %w", r.RefundID, r.MessageID(), err)
		}
		return booked, nil
	}
	rev := Reversal{ID: r.MessageID(), Kind: KindRefund, OrderID: r.OrderID, Booking: r.ApprovalID, Reason: reason}
	if r.Schema == kafkamsg.SchemaRefundAllocated {
		rev.Kind, rev.Against, rev.Reason = KindRefundAllocation, AccountRefundsUnallocated, "allocation of "+reason
	}
	for _, o := range r.Orders {
		rev.Orders = append(rev.Orders, Part{Seq: o.Seq, Amount: o.Amount})
	}
	_, booked, err = l.TakeBack(ctx, rev)
	if errors.Is(err, ErrNotFound) {
		// The approval is booked before its refunds (one partition, in order), so a refund
		// naming a booking or an order the ledger lacks can never be booked: park it.
		return false, fmt.Errorf("book refund %s: %w: %w", r.RefundID, kafkamsg.ErrMalformed, err)
	}
	if err != nil {
		return false, fmt.Errorf("book refund %s: %w", r.RefundID, err)
	}
	return booked, nil
}

// BookWithdrawal books a withdrawn deposit (kafkamsg.Withdrawn): everything left of the
// approval's booking is taken back from its sellers (KindDepositWithdrawn, a Reversal with
// no orders, against psp_receivable). booked is false for a message booked before. Errors:
// kafkamsg.ErrMalformed for an invalid message, one whose booking the ledger lacks or has
// nothing left of, and the store's.
func (l *Ledger) BookWithdrawal(ctx context.Context, w kafkamsg.Withdrawn) (booked bool, err error) {
	if err := w.Validate(); err != nil {
		return false, fmt.Errorf("book withdrawal %s: %w", w.WithdrawalID, err)
	}
	_, booked, err = l.TakeBack(ctx, Reversal{ID: w.MessageID(), Kind: KindDepositWithdrawn, OrderID: w.OrderID,
		Booking: w.ApprovalID, Reason: "deposit withdrawn by the PSP (" + w.WithdrawalID + ")"})
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrUnbalanced) {
		// The approval is booked before its withdrawal (one partition, in order): a
		// withdrawal of a booking the ledger lacks, or of which nothing is left (an empty
		// take-back), can never be booked. Park it.
		return false, fmt.Errorf("book withdrawal %s: %w: %w", w.WithdrawalID, kafkamsg.ErrMalformed, err)
	}
	if err != nil {
		return false, fmt.Errorf("book withdrawal %s: %w", w.WithdrawalID, err)
	}
	return booked, nil
}
