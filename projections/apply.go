package projections

import (
	"encoding/base64"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-json-experiment/json/v1"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/audit"
	"github.com/paystream/paystream/eventstore"
)

// Apply is the projection: the rows of one payment after event e, given its rows before (nil
// when the payment has no rows yet), and the history rows e adds. It folds with
// aggregate.Evolve. It fails, wrapping ErrUnappliable's cause, for an event it cannot
// decode, a first event that is not the checkout, and a revision that does not follow the
// row's. It is pure and safe for concurrent use; cur is not modified.
func Apply(cur *Payment, e eventstore.RecordedEvent) (Payment, []History, error) {
	var prev Payment
	if cur != nil {
		prev = *cur
	}
	before := stateOf(prev)
	next, ev, err := aggregate.EvolveStored(before, e.Type, e.Data)
	if err != nil {
		return Payment{}, nil, err
	}
	if cur == nil {
		if _, ok := ev.(aggregate.CheckoutCreated); !ok || e.Revision != 0 {
			return Payment{}, nil, fmt.Errorf("%s at revision %d of a payment the read model does not have", e.Type, e.Revision)
		}
	} else if e.Revision != prev.Revision+1 {
		return Payment{}, nil, fmt.Errorf("revision %d does not follow the projected revision %d", e.Revision, prev.Revision)
	}
	if id, _ := aggregate.OrderIDOf(e.Stream); next.OrderID != id {
		return Payment{}, nil, fmt.Errorf("event of order %q in stream %s", next.OrderID, e.Stream)
	}
	row := rowOf(next)
	row.Revision, row.Position = e.Revision, e.Position
	row.Evidence = prev.Evidence
	actor := actorOf(e.Metadata)
	switch ev := ev.(type) {
	case aggregate.PspApproved:
		row.Evidence = evidence(ev.Evidence, row.Evidence)
	case aggregate.PspFailed:
		row.Evidence = evidence(ev.Evidence, row.Evidence)
	case aggregate.PspOutcomeUnknown:
		row.Evidence = evidence(ev.Evidence, row.Evidence)
	case aggregate.ExecutionAborted:
		row.Evidence = evidence(ev.Evidence, row.Evidence)
	case aggregate.ManuallyResolved:
		row.Evidence, actor = evidence(ev.Evidence, row.Evidence), ev.Actor
	case aggregate.DepositWithdrawn: // Toss's record that took the approval back
		row.Evidence = evidence(ev.Evidence, row.Evidence)
	case aggregate.RefundManuallyResolved:
		actor = ev.Actor
	case aggregate.RefundAllocated:
		actor = ev.Actor
	}
	reason := e.Type
	if next.Outcome != nil && next.Outcome != before.Outcome { // this event recorded an outcome
		reason = ruleCode(next.Outcome.Rule, next.Outcome.Code)
	}
	for i, r := range next.Refunds { // or a refund's outcome
		if r.Outcome != nil && (i >= len(before.Refunds) || r.Outcome != before.Refunds[i].Outcome) {
			reason = ruleCode(r.Outcome.Rule, r.Outcome.Code)
		}
	}
	var history []History
	for i, o := range row.Orders {
		var was aggregate.Status
		if i < len(prev.Orders) {
			was = prev.Orders[i].Status
		}
		if was != o.Status {
			history = append(history, History{OrderID: row.OrderID, Seq: o.Seq, Previous: was, New: o.Status, Reason: reason,
				Actor: actor, At: row.UpdatedAt, EventID: e.ID, Position: e.Position})
		}
	}
	return row, history, nil
}

// Project folds a whole stream with Apply: the rows and history it should have. Verify uses
// it; a spec checks it against aggregate.Fold.
func Project(events []eventstore.RecordedEvent) (*Payment, []History, error) {
	var (
		cur     *Payment
		history []History
	)
	for _, e := range events {
		next, h, err := Apply(cur, e)
		if err != nil {
			return cur, history, &PoisonError{Event: e, Err: err}
		}
		cur = &next
		history = append(history, h...)
	}
	return cur, history, nil
}

// RowOf writes a State out as rows (without Revision, Position and Evidence, which the
// State does not carry).
func RowOf(s aggregate.State) Payment { return rowOf(s) }

func ruleCode(rule, code string) string {
	if code == "" {
		return rule
	}
	return rule + "/" + code
}

func evidence(e, old json.RawMessage) json.RawMessage {
	if len(e) == 0 || string(e) == "null" {
		return old
	}
	return e
}

// actorOf is who the event's metadata names ("" when none). Every event is projected, so
// paystream's metadata takes audit.StringMembers rather than a decode.
func actorOf(meta []byte) string {
	var v [1]string
	if audit.StringMembers(meta, actorName[:], v[:]) {
		return actors.intern(v[0])
	}
	var m struct {
		Actor string `json:"actor"`
	}
	_ = json.Unmarshal(meta, &m) // metadata without an actor projects as ""
	return actors.intern(m.Actor)
}

// actors interns the actors of projected events: a handful of names (the system, each API
// key, each operator) that every history entry a read model keeps in memory would
// otherwise hold a copy of, one object per event for the garbage collector to mark.
var actors = internTable{m: map[string]string{}}

// internTable hands out one copy of each string it was given, for up to maxInterned of
// them (the rest are returned as they are).
type internTable struct {
	mu sync.Mutex
	m  map[string]string
}

const maxInterned = 1024

func (t *internTable) intern(s string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if kept, ok := t.m[s]; ok {
		return kept
	}
	if len(t.m) < maxInterned {
		t.m[s] = s
	}
	return s
}

var actorName = [1]string{"actor"}

// StateOf is the aggregate State the rows describe. Every field Evolve reads and every field
// the API shows is a column (the virtual account included); write-side bookkeeping
// (idempotency keys, request hashes, a refund's account and resolution record, the keyed
// hash of a virtual account's secret, the withdrawals of deposits Toss took back and their
// bookings downstream) is not: a withdrawn payment shows as waiting for its deposit again.
func StateOf(p Payment) aggregate.State { return stateOf(p) }

// stateOf is the aggregate State the rows describe: every field Evolve reads is a column.
func stateOf(p Payment) aggregate.State {
	s := aggregate.State{OrderID: p.OrderID, OrderName: p.OrderName, BuyerID: p.BuyerID, TotalAmount: p.TotalAmount,
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt, Status: p.Status, PaymentKey: p.PaymentKey,
		Executions: p.Executions, ApprovedAt: p.ApprovedAt, Method: p.Method, OperatorAlert: p.OperatorAlert,
		Escalated: p.Escalated, Expired: p.Expired, IsPaymentDone: p.IsPaymentDone, CompletedAt: p.CompletedAt}
	if len(p.Orders) > 0 {
		s.FailedCount, s.Threshold = p.Orders[0].FailedCount, p.Orders[0].Threshold
	}
	if p.Status == aggregate.StatusExecuting {
		// Its last event is ExecutionStarted or RecoveryAttempted, which set both.
		s.ExecutionStartedAt = p.UpdatedAt
	}
	if p.OutcomeStatus != "" {
		s.Outcome = &aggregate.Outcome{Status: p.OutcomeStatus, Rule: p.OutcomeRule, Code: p.OutcomeCode, Message: p.OutcomeMessage}
	}
	s.Orders = make([]aggregate.Order, len(p.Orders))
	for i, o := range p.Orders {
		s.Orders[i] = aggregate.Order{Seq: o.Seq, ProductID: o.ProductID, SellerID: o.SellerID, Quantity: o.Quantity,
			UnitPrice: o.UnitPrice, Amount: o.Amount, Status: o.Status, LedgerUpdated: o.LedgerUpdated, WalletUpdated: o.WalletUpdated,
			Refunded: o.Refunded}
	}
	if va := p.VirtualAccount; va != nil {
		s.VirtualAccount = &aggregate.VirtualAccount{AccountType: va.AccountType, BankCode: va.BankCode,
			AccountNumber: va.AccountNumber, HolderName: va.HolderName, DueDate: va.DueDate}
	}
	s.RefundedAmount = p.RefundedAmount
	if len(p.Refunds) > 0 {
		s.Refunds = make([]aggregate.Refund, len(p.Refunds))
	}
	for i, r := range p.Refunds {
		s.Refunds[i] = aggregate.Refund{ID: r.RefundID, Amount: r.Amount, Orders: slices.Clone(r.Orders), Reason: r.Reason,
			TaxFreeAmount: r.TaxFreeAmount, PspIdempotencyKey: r.PspIdempotencyKey, External: r.External, FoundBy: r.FoundBy,
			Status: r.Status, TransactionKey: r.TransactionKey, CanceledAt: r.CanceledAt, RequestedAt: r.RequestedAt,
			UpdatedAt: r.UpdatedAt, FailedCount: r.FailedCount, Threshold: r.Threshold, Escalated: r.Escalated,
			LedgerBooked: r.LedgerBooked, WalletBooked: r.WalletBooked}
		if r.OutcomeStatus != "" {
			s.Refunds[i].Outcome = &aggregate.Outcome{Status: r.OutcomeStatus, Rule: r.OutcomeRule, Code: r.OutcomeCode, Message: r.OutcomeMessage}
		}
	}
	return s
}

func rowOf(s aggregate.State) Payment {
	p := Payment{OrderID: s.OrderID, PaymentKey: s.PaymentKey, BuyerID: s.BuyerID, OrderName: s.OrderName,
		TotalAmount: s.TotalAmount, Status: s.Status, Method: s.Method, OperatorAlert: s.OperatorAlert,
		Executions: s.Executions, CreatedAt: norm(s.CreatedAt), UpdatedAt: norm(s.UpdatedAt),
		Escalated: s.Escalated, Expired: s.Expired, IsPaymentDone: s.IsPaymentDone}
	if s.CompletedAt != nil {
		t := norm(*s.CompletedAt)
		p.CompletedAt = &t
	}
	threshold := s.Threshold
	if threshold == 0 {
		threshold = DefaultThreshold // Evolve never reads it back: RecoveryAttempted sets both
	}
	if s.ApprovedAt != nil {
		t := norm(*s.ApprovedAt)
		p.ApprovedAt = &t
	}
	if s.Outcome != nil {
		p.OutcomeStatus, p.OutcomeRule, p.OutcomeCode, p.OutcomeMessage = s.Outcome.Status, s.Outcome.Rule, s.Outcome.Code, s.Outcome.Message
	}
	p.Orders = make([]Order, len(s.Orders))
	for i, o := range s.Orders {
		p.Orders[i] = Order{OrderID: s.OrderID, Seq: o.Seq, BuyerID: s.BuyerID, SellerID: o.SellerID, ProductID: o.ProductID,
			Quantity: o.Quantity, UnitPrice: o.UnitPrice, Amount: o.Amount, Status: o.Status,
			LedgerUpdated: o.LedgerUpdated, WalletUpdated: o.WalletUpdated, Refunded: o.Refunded, FailedCount: s.FailedCount,
			Threshold: threshold}
	}
	if va := s.VirtualAccount; va != nil { // never its SecretHash
		p.VirtualAccount = &VirtualAccount{AccountType: va.AccountType, BankCode: va.BankCode, AccountNumber: va.AccountNumber,
			HolderName: va.HolderName, DueDate: norm(va.DueDate)}
	}
	p.RefundedAmount = s.RefundedAmount
	if len(s.Refunds) > 0 {
		p.Refunds = make([]Refund, len(s.Refunds))
	}
	for i, r := range s.Refunds {
		p.Refunds[i] = Refund{OrderID: s.OrderID, RefundID: r.ID, Seq: i + 1, Amount: r.Amount, Orders: slices.Clone(r.Orders),
			Reason: r.Reason, TaxFreeAmount: r.TaxFreeAmount, Status: r.Status, TransactionKey: r.TransactionKey,
			External: r.External, FoundBy: r.FoundBy, FailedCount: r.FailedCount, Threshold: r.Threshold, Escalated: r.Escalated,
			LedgerBooked: r.LedgerBooked, WalletBooked: r.WalletBooked, PspIdempotencyKey: r.PspIdempotencyKey,
			RequestedAt: norm(r.RequestedAt), UpdatedAt: norm(r.UpdatedAt)}
		if r.CanceledAt != nil {
			t := norm(*r.CanceledAt)
			p.Refunds[i].CanceledAt = &t
		}
		if o := r.Outcome; o != nil {
			p.Refunds[i].OutcomeStatus, p.Refunds[i].OutcomeRule, p.Refunds[i].OutcomeCode, p.Refunds[i].OutcomeMessage =
				o.Status, o.Rule, o.Code, o.Message
		}
	}
	return p
}

func norm(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// Batch is what ApplyBatch decided: the rows to write, the history to add, and the new
// checkpoint, all to be committed in one transaction.
//
// A batch costs what the payments it touches cost, not what its events cost: all events of one
// payment are folded into its final rows (Changed holds each payment once), so an adapter
// writes each payment row and each order row at most once per batch, whatever the number of
// events, while History keeps one row per status change (they are facts). Before lets an
// adapter write only what changed: a payment created in the batch is an insert, and an order
// row equal to its row before the batch is not rewritten.
type Batch struct {
	Changed []*Payment // final rows, one per payment, in first-touched order
	// Before holds, index for index with Changed, each payment's rows as they were before the
	// batch (nil: the batch created the payment).
	Before     []*Payment
	History    []History
	Checkpoint eventstore.Position
	Applied    int
	// Poison, when set, is the first event that could not be applied; nothing from it on
	// was applied and Checkpoint stays before it.
	Poison *PoisonError
}

// ApplyBatch applies events on top of rows (the current rows of every payment the events
// touch, by orderId; missing = none yet) and a checkpoint, with Apply, one event at a time,
// so a batch yields the same rows as committing its events one batch each. Events the
// checkpoint covers are ignored. rows is updated in place (its old values are not modified).
// Every adapter and the rebuild commit through it.
func ApplyBatch(rows map[string]*Payment, checkpoint eventstore.Position, events []eventstore.RecordedEvent) Batch {
	b := Batch{Checkpoint: checkpoint}
	at := map[string]int{} // orderId → index in b.Changed
	for _, e := range events {
		if e.Position <= b.Checkpoint {
			continue
		}
		id := OrderIDOf(e.Stream)
		next, h, err := Apply(rows[id], e)
		if err != nil {
			b.Poison = &PoisonError{Event: e, Err: err}
			break
		}
		if i, ok := at[id]; ok {
			// rows[id] is the batch's own copy, which Apply has read: the payment's next
			// event goes into it rather than into a copy of its own.
			*b.Changed[i] = next
		} else {
			own := new(Payment) // the one allocation per payment and batch
			*own = next
			at[id] = len(b.Changed)
			b.Changed = append(b.Changed, own)
			b.Before = append(b.Before, rows[id]) // Apply never modifies its cur
			rows[id] = own
		}
		b.History = append(b.History, h...)
		b.Checkpoint = e.Position
		b.Applied++
	}
	return b
}

// OrderIDOf is the orderId of a payment stream (aggregate.OrderIDOf, for followers that only
// see payment streams).
func OrderIDOf(stream string) string {
	id, _ := aggregate.OrderIDOf(stream)
	return id
}

// OrderIDs lists the distinct orderIds of events' streams.
func OrderIDs(events []eventstore.RecordedEvent) []string {
	seen := map[string]bool{}
	var ids []string
	for _, e := range events {
		if id := OrderIDOf(e.Stream); !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids
}

// EncodeCursor makes the opaque cursor for the page after p.
func EncodeCursor(p Payment) string {
	b, _ := json.Marshal(Cursor{CreatedAt: p.CreatedAt, OrderID: p.OrderID})
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor reads a cursor; a malformed one fails with ErrBadCursor.
func DecodeCursor(s string) (Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	var c Cursor
	if err != nil || json.Unmarshal(b, &c) != nil || c.OrderID == "" {
		return Cursor{}, ErrBadCursor
	}
	c.CreatedAt = norm(c.CreatedAt)
	return c, nil
}

// After is the filter's cursor decoded: nil for the first page. A malformed one fails with
// ErrBadCursor.
func (f Filter) After() (*Cursor, error) {
	if f.Cursor == "" {
		return nil, nil
	}
	c, err := DecodeCursor(f.Cursor)
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// After reports whether p comes after the cursor in (CreatedAt, OrderID) order.
func (c Cursor) After(p Payment) bool {
	return p.CreatedAt.After(c.CreatedAt) || (p.CreatedAt.Equal(c.CreatedAt) && p.OrderID > c.OrderID)
}

// OrderChanges splits a changed payment's order rows into those to insert (no row before
// the batch) and those to update (a row that differs from before); orders the batch left
// as they were are in neither, so an adapter need not rewrite them.
func OrderChanges(before, after *Payment) (insert, update []Order) {
	for _, o := range after.Orders {
		i := slices.IndexFunc(beforeOrders(before), func(b Order) bool { return b.Seq == o.Seq })
		switch {
		case i < 0:
			insert = append(insert, o)
		case !orderEqual(before.Orders[i], o):
			update = append(update, o)
		}
	}
	return insert, update
}

func beforeOrders(p *Payment) []Order {
	if p == nil {
		return nil
	}
	return p.Orders
}

func orderEqual(a, b Order) bool {
	return a.OrderID == b.OrderID && a.Seq == b.Seq && a.BuyerID == b.BuyerID && a.SellerID == b.SellerID &&
		a.ProductID == b.ProductID && a.Quantity == b.Quantity && a.UnitPrice.Equal(b.UnitPrice) &&
		a.Amount.Equal(b.Amount) && a.Status == b.Status && a.LedgerUpdated == b.LedgerUpdated &&
		a.WalletUpdated == b.WalletUpdated && a.Refunded.Equal(b.Refunded) && a.FailedCount == b.FailedCount &&
		a.Threshold == b.Threshold
}

// RefundChanges is OrderChanges for refund rows (by RefundID): those the batch added, and
// those it changed.
func RefundChanges(before, after *Payment) (insert, update []Refund) {
	var was []Refund
	if before != nil {
		was = before.Refunds
	}
	for _, r := range after.Refunds {
		i := slices.IndexFunc(was, func(b Refund) bool { return b.RefundID == r.RefundID })
		switch {
		case i < 0:
			insert = append(insert, r)
		case !refundEqual(was[i], r):
			update = append(update, r)
		}
	}
	return insert, update
}

func refundEqual(a, b Refund) bool {
	return a.OrderID == b.OrderID && a.RefundID == b.RefundID && a.Seq == b.Seq && a.Amount.Equal(b.Amount) &&
		splitsEqual(a.Orders, b.Orders) && a.Reason == b.Reason && a.TaxFreeAmount.Equal(b.TaxFreeAmount) &&
		a.Status == b.Status && a.OutcomeStatus == b.OutcomeStatus && a.OutcomeRule == b.OutcomeRule &&
		a.OutcomeCode == b.OutcomeCode && a.OutcomeMessage == b.OutcomeMessage && a.TransactionKey == b.TransactionKey &&
		timeEqual(a.CanceledAt, b.CanceledAt) && a.External == b.External && a.FoundBy == b.FoundBy &&
		a.FailedCount == b.FailedCount && a.Threshold == b.Threshold && a.Escalated == b.Escalated &&
		a.LedgerBooked == b.LedgerBooked && a.WalletBooked == b.WalletBooked && a.PspIdempotencyKey == b.PspIdempotencyKey &&
		a.RequestedAt.Equal(b.RequestedAt) && a.UpdatedAt.Equal(b.UpdatedAt)
}

func splitsEqual(a, b []aggregate.RefundSplit) bool {
	return (a == nil) == (b == nil) && slices.EqualFunc(a, b, func(x, y aggregate.RefundSplit) bool {
		return x.Seq == y.Seq && x.Amount.Equal(y.Amount)
	})
}

func timeEqual(a, b *time.Time) bool {
	return (a == nil) == (b == nil) && (a == nil || a.Equal(*b))
}
