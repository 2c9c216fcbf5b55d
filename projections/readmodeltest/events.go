package readmodeltest

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/go-json-experiment/json/v1"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/eventstore"
)

// Log builds recorded payment events with increasing positions and per-stream revisions, as
// a store would record them. Not safe for concurrent use.
type Log struct {
	pos  eventstore.Position
	revs map[string]eventstore.Revision
	// Base is the time of the first event; each event is a second after the previous one.
	Base time.Time
	tick time.Duration
}

// NewLog starts a log at position 0.
func NewLog() *Log {
	return &Log{revs: map[string]eventstore.Revision{}, Base: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)}
}

// Position is the position of the last event built.
func (l *Log) Position() eventstore.Position { return l.pos }

// Now is the time the next event will carry.
func (l *Log) Now() time.Time { return l.Base.Add(l.tick) }

// Event records e in orderId's stream.
func (l *Log) Event(orderID string, e aggregate.Event) eventstore.RecordedEvent {
	name, data, err := aggregate.Encode(e)
	if err != nil {
		panic(err)
	}
	return l.Raw(orderID, name, data)
}

// Raw records an event with any type and data (for poison events).
func (l *Log) Raw(orderID, typ string, data []byte) eventstore.RecordedEvent {
	stream := aggregate.StreamName(orderID)
	rev, ok := l.revs[stream]
	if !ok {
		rev = -1
	}
	rev++
	l.revs[stream] = rev
	l.pos += eventstore.Position(1 + l.pos%3) // gaps: other streams' events in between
	l.tick += time.Second
	meta, _ := json.Marshal(map[string]any{"actor": "spec", "schemaVersion": 1})
	return eventstore.RecordedEvent{Stream: stream, Revision: rev, Position: l.pos, Type: typ, Data: data, Metadata: meta,
		ID: uuid.NewSHA1(uuid.NameSpaceURL, []byte(fmt.Sprintf("%s/%d", stream, rev))), RecordedAt: l.Now()}
}

// Checkout records CheckoutCreated with one order per seller (amount 1000·i KRW).
func (l *Log) Checkout(orderID, buyer string, sellers ...string) eventstore.RecordedEvent {
	var lines []aggregate.OrderLine
	total := decimal.Zero
	for i, s := range sellers {
		price := decimal.NewFromInt(int64(1000 * (i + 1)))
		lines = append(lines, aggregate.OrderLine{ProductID: "p-" + s, SellerID: s, Quantity: 2, UnitPrice: price,
			Amount: price.Mul(decimal.NewFromInt(2))})
		total = total.Add(price.Mul(decimal.NewFromInt(2)))
	}
	return l.Event(orderID, aggregate.CheckoutCreated{OrderID: orderID, OrderName: "order " + orderID, BuyerID: buyer,
		Orders: lines, TotalAmount: total, At: l.Now()})
}

// Started records ExecutionStarted.
func (l *Log) Started(orderID string, amount int64) eventstore.RecordedEvent {
	return l.Event(orderID, aggregate.ExecutionStarted{PaymentKey: "pk_" + orderID, Amount: decimal.NewFromInt(amount),
		PspIdempotencyKey: "confirm-" + orderID, At: l.Now()})
}

// Approved records PspApproved with evidence.
func (l *Log) Approved(orderID string, amount int64) eventstore.RecordedEvent {
	return l.Event(orderID, aggregate.PspApproved{PaymentKey: "pk_" + orderID, TotalAmount: decimal.NewFromInt(amount),
		Method: "카드", ApprovedAt: l.Now(), Rule: "toss.v1/done", Evidence: json.RawMessage(`{"status": "DONE", "orderId": "` + orderID + `"}`),
		At: l.Now()})
}

// Failed records PspFailed.
func (l *Log) Failed(orderID string) eventstore.RecordedEvent {
	return l.Event(orderID, aggregate.PspFailed{Code: "REJECT_CARD_PAYMENT", Message: "한도초과", HTTPStatus: 403,
		Rule: "toss.v1/card-rejected", Evidence: json.RawMessage(`{"code":"REJECT_CARD_PAYMENT"}`), At: l.Now()})
}

// Unknown records PspOutcomeUnknown.
func (l *Log) Unknown(orderID string) eventstore.RecordedEvent {
	return l.Event(orderID, aggregate.PspOutcomeUnknown{Code: "PROVIDER_ERROR", Message: "timeout", HTTPStatus: 500,
		Rule: "toss.v1/provider-error", At: l.Now()})
}

// Ledger records LedgerUpdated for the listed orders (by Seq).
func (l *Log) Ledger(orderID string, seqs ...int) eventstore.RecordedEvent {
	return l.Event(orderID, aggregate.LedgerUpdated{Orders: seqs, MessageID: "ledger-" + orderID, At: l.Now()})
}

// Wallet records WalletUpdated for the listed orders (by Seq).
func (l *Log) Wallet(orderID string, seqs ...int) eventstore.RecordedEvent {
	return l.Event(orderID, aggregate.WalletUpdated{Orders: seqs, MessageID: "wallet-" + orderID, At: l.Now()})
}

// Completed records PaymentCompleted.
func (l *Log) Completed(orderID string) eventstore.RecordedEvent {
	return l.Event(orderID, aggregate.PaymentCompleted{At: l.Now()})
}

// Life is a payment's whole successful life as the load command drives it: checkout with
// two orders, execution, approval, ledger, wallet, completion. Step i (0..LifeSteps-1)
// records its i-th event.
func (l *Log) Life(orderID string, step int) eventstore.RecordedEvent {
	switch step {
	case 0:
		return l.Checkout(orderID, "buyer-"+orderID[len(orderID)-1:], "seller-a", "seller-b")
	case 1:
		return l.Started(orderID, 6000)
	case 2:
		return l.Approved(orderID, 6000)
	case 3:
		return l.Ledger(orderID, 1, 2)
	case 4:
		return l.Wallet(orderID, 1, 2)
	default:
		return l.Completed(orderID)
	}
}

// LifeSteps is the number of events of Life.
const LifeSteps = 6

// Interleaved records the whole lives of n payments ("order-000000"…) interleaved as under
// load: inFlight payments are in progress at any time, and each next event belongs to one of
// them picked at random (seeded, so runs are repeatable); a finished payment makes room for
// the next one.
func (l *Log) Interleaved(n, inFlight int, seed uint64) []eventstore.RecordedEvent {
	rng := rand.New(rand.NewPCG(seed, seed))
	type live struct {
		id   string
		step int
	}
	var (
		active []live
		next   int
		out    = make([]eventstore.RecordedEvent, 0, n*LifeSteps)
	)
	for len(out) < n*LifeSteps {
		for len(active) < inFlight && next < n {
			active = append(active, live{id: fmt.Sprintf("order-%06d", next)})
			next++
		}
		i := rng.IntN(len(active))
		out = append(out, l.Life(active[i].id, active[i].step))
		if active[i].step++; active[i].step == LifeSteps {
			active[i] = active[len(active)-1]
			active = active[:len(active)-1]
		}
	}
	return out
}

// Split is one order's share of a refund, for the refund builders.
func Split(seq int, amount int64) aggregate.RefundSplit {
	return aggregate.RefundSplit{Seq: seq, Amount: decimal.NewFromInt(amount)}
}

// RefundRequested records RefundRequested of amount split over orders (none: a nil split).
func (l *Log) RefundRequested(orderID, refundID string, amount int64, orders ...aggregate.RefundSplit) eventstore.RecordedEvent {
	return l.Event(orderID, aggregate.RefundRequested{RefundID: refundID, Amount: decimal.NewFromInt(amount), Orders: orders,
		Reason: "단순변심", TaxFreeAmount: decimal.NewFromInt(amount / 10), PspIdempotencyKey: "refund-" + refundID,
		RequestKey: "key-" + refundID, RequestHash: "hash-" + refundID, At: l.Now()})
}

// RefundApproved records RefundApproved with the PSP's cancel record and evidence.
func (l *Log) RefundApproved(orderID, refundID string) eventstore.RecordedEvent {
	return l.Event(orderID, aggregate.RefundApproved{RefundID: refundID, TransactionKey: "tx-" + refundID, CanceledAt: l.Now(),
		Rule: "toss.cancel.v1/done", Evidence: json.RawMessage(`{"transactionKey":"tx-` + refundID + `"}`), At: l.Now()})
}

// RefundFailed records RefundFailed.
func (l *Log) RefundFailed(orderID, refundID string) eventstore.RecordedEvent {
	return l.Event(orderID, aggregate.RefundFailed{RefundID: refundID, Code: "NOT_CANCELABLE_AMOUNT", Message: "취소 할 수 없는 금액",
		HTTPStatus: 403, Rule: "toss.cancel.v1/refused", At: l.Now()})
}

// RefundUnknown records RefundOutcomeUnknown.
func (l *Log) RefundUnknown(orderID, refundID string) eventstore.RecordedEvent {
	return l.Event(orderID, aggregate.RefundOutcomeUnknown{RefundID: refundID, Code: "PROVIDER_ERROR", Message: "timeout",
		HTTPStatus: 500, Rule: "toss.cancel.v1/provider-error", At: l.Now()})
}

// RefundRecovery records RefundRecoveryAttempted (threshold 5).
func (l *Log) RefundRecovery(orderID, refundID string, attempt int) eventstore.RecordedEvent {
	return l.Event(orderID, aggregate.RefundRecoveryAttempted{RefundID: refundID, Attempt: attempt, Threshold: 5, Reason: "unknown", At: l.Now()})
}

// RefundEscalated records RefundEscalated.
func (l *Log) RefundEscalated(orderID, refundID string) eventstore.RecordedEvent {
	return l.Event(orderID, aggregate.RefundEscalated{RefundID: refundID, Attempts: 5, Reason: "refund still UNKNOWN", At: l.Now()})
}

// RefundResolved records an operator's RefundManuallyResolved.
func (l *Log) RefundResolved(orderID, refundID string, resolution aggregate.Status) eventstore.RecordedEvent {
	return l.Event(orderID, aggregate.RefundManuallyResolved{RefundID: refundID, Resolution: resolution, TransactionKey: "tx-" + refundID,
		Actor: "ops@shop", Reason: "toss console shows it", PspStatus: "PARTIAL_CANCELED", At: l.Now()})
}

// ExternalRefund records ExternalRefundRecorded (found by a webhook) with its split (none:
// unallocated).
func (l *Log) ExternalRefund(orderID, refundID string, amount int64, orders ...aggregate.RefundSplit) eventstore.RecordedEvent {
	return l.Event(orderID, aggregate.ExternalRefundRecorded{RefundID: refundID, TransactionKey: "tx-" + refundID,
		Amount: decimal.NewFromInt(amount), Orders: orders, Reason: "고객 요청", FoundBy: "webhook", CanceledAt: l.Now(),
		Evidence: json.RawMessage(`{"status":"PARTIAL_CANCELED"}`), At: l.Now()})
}

// RefundAllocated records an operator's RefundAllocated.
func (l *Log) RefundAllocated(orderID, refundID string, orders ...aggregate.RefundSplit) eventstore.RecordedEvent {
	return l.Event(orderID, aggregate.RefundAllocated{RefundID: refundID, Orders: orders, Actor: "ops@shop", Reason: "seller confirmed", At: l.Now()})
}

// RefundBooked records RefundBooked by "ledger" or "wallet".
func (l *Log) RefundBooked(orderID, refundID, by string) eventstore.RecordedEvent {
	return l.Event(orderID, aggregate.RefundBooked{RefundID: refundID, By: by, MessageID: by + "-" + refundID, At: l.Now()})
}

// Paid records the checkout (one order per seller, as Checkout), its execution and its
// approval: a payment refunds can be made of.
func (l *Log) Paid(orderID, buyer string, sellers ...string) []eventstore.RecordedEvent {
	var total int64
	for i := range sellers {
		total += int64(2000 * (i + 1))
	}
	return []eventstore.RecordedEvent{l.Checkout(orderID, buyer, sellers...), l.Started(orderID, total), l.Approved(orderID, total)}
}

// Awaited records DepositAwaited: the PSP issued a virtual account for the deposit of amount,
// due at due. The event carries a secret's hash, as the write side records it.
func (l *Log) Awaited(orderID string, amount int64, due time.Time) eventstore.RecordedEvent {
	return l.Event(orderID, aggregate.DepositAwaited{PaymentKey: "pk_" + orderID, TotalAmount: decimal.NewFromInt(amount),
		Method: "가상계좌", VirtualAccount: aggregate.VirtualAccount{AccountType: "일반", BankCode: "20",
			AccountNumber: "X6505636518308", HolderName: "구매자", DueDate: due, SecretHash: "hmac-of-" + orderID},
		Rule: "toss.v1/waiting-for-deposit", Evidence: json.RawMessage(`{"status":"WAITING_FOR_DEPOSIT"}`), At: l.Now()})
}

// AwaitedNow is Awaited for a payment Started with amount, due a week from now.
func (l *Log) AwaitedNow(orderID string, amount int64) eventstore.RecordedEvent {
	return l.Awaited(orderID, amount, l.Now().Add(7*24*time.Hour))
}

// Deposited records the deposit into a waiting payment's account (PspApproved, as the write
// side records it from the lookup that confirms a deposit).
func (l *Log) Deposited(orderID string, amount int64) eventstore.RecordedEvent {
	return l.Event(orderID, aggregate.PspApproved{PaymentKey: "pk_" + orderID, TotalAmount: decimal.NewFromInt(amount),
		Method: "가상계좌", ApprovedAt: l.Now(), Rule: "toss.v1/done", Evidence: json.RawMessage(`{"status":"DONE"}`), At: l.Now()})
}

// DepositExpired records DepositExpired at the account's due date due.
func (l *Log) DepositExpired(orderID string, due time.Time) eventstore.RecordedEvent {
	return l.Event(orderID, aggregate.DepositExpired{DueDate: due, Rule: aggregate.RuleDepositExpired, PspStatus: "EXPIRED",
		Evidence: json.RawMessage(`{"status":"EXPIRED"}`), At: l.Now()})
}

// AccountClosed records VirtualAccountClosed: cancelled before the deposit.
func (l *Log) AccountClosed(orderID string) eventstore.RecordedEvent {
	return l.Event(orderID, aggregate.VirtualAccountClosed{Reason: "changed my mind", Actor: "shop", Rule: aggregate.RuleAccountClosed,
		PspStatus: "CANCELED", At: l.Now()})
}

// DepositWithdrawn records that Toss withdrew the deposit of a deposited payment (a deposit
// error): withdrawal n (1-based) of amount, split as orders says, the account's due date
// moved to due (zero: unchanged).
func (l *Log) DepositWithdrawn(orderID string, n int, approvedAt, due time.Time, orders ...aggregate.RefundSplit) eventstore.RecordedEvent {
	amount := decimal.Zero
	for _, o := range orders {
		amount = amount.Add(o.Amount)
	}
	e := aggregate.DepositWithdrawn{WithdrawalID: fmt.Sprintf("%s-w%d", orderID, n), Amount: amount, Orders: orders,
		ApprovedAt: approvedAt, Rule: aggregate.RuleDepositWithdrawn, PspStatus: "WAITING_FOR_DEPOSIT",
		Evidence: json.RawMessage(`{"status":"WAITING_FOR_DEPOSIT"}`), At: l.Now()}
	if !due.IsZero() {
		e.VirtualAccount = &aggregate.VirtualAccount{BankCode: "20", AccountNumber: "X6320001254801", HolderName: "김토스",
			DueDate: due, SecretHash: "hmac-sha256:00ff"}
	}
	return l.Event(orderID, e)
}

// WithdrawalBooked records that by ("ledger" or "wallet") took withdrawal n back.
func (l *Log) WithdrawalBooked(orderID string, n int, by string) eventstore.RecordedEvent {
	return l.Event(orderID, aggregate.WithdrawalBooked{WithdrawalID: fmt.Sprintf("%s-w%d", orderID, n), By: by,
		MessageID: fmt.Sprintf("%s:%s-w%d", by, orderID, n), At: l.Now()})
}
