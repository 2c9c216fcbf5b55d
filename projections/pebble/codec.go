package pebble

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/localkv"
	"github.com/paystream/paystream/projections"
)

// The values are a hand-written binary encoding (doc.go): about a third of the bytes of
// encoding/json and several times faster to decode, which the projector pays for every row
// of every batch and List for every row it reads. A spec fills every field of the row types
// by reflection and round-trips them, so a field added to projections.Payment without being
// added here fails it.

// rowFormat is the first byte of every payment row; a change of layout changes it, and Open
// refuses a database written with another (ErrIncompatible), so paymentd rebuilds it.
const rowFormat = 1

type writer struct{ b []byte }

func (w *writer) uvarint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }
func (w *writer) varint(v int64)   { w.b = binary.AppendVarint(w.b, v) }
func (w *writer) int(v int)        { w.varint(int64(v)) }

func (w *writer) str(s string) { w.b = localkv.AppendString(w.b, s) }

// bytes keeps nil apart from empty: 0 is nil, n+1 is n bytes.
func (w *writer) bytes(b []byte) {
	if b == nil {
		w.uvarint(0)
		return
	}
	w.uvarint(uint64(len(b)) + 1)
	w.b = append(w.b, b...)
}

func (w *writer) bool(v bool) { w.b = localkv.AppendBool(w.b, v) }

// time writes Unix microseconds: the read models hold times truncated to microseconds (the
// projections invariant), in UTC.
func (w *writer) time(t time.Time) { w.varint(t.UnixMicro()) }

func (w *writer) optTime(t *time.Time) {
	w.bool(t != nil)
	if t != nil {
		w.time(*t)
	}
}

// decimal writes a tag, then the exponent and the coefficient as varints when it has at
// most 18 digits (it then fits in an int64), or its binary form otherwise.
func (w *writer) decimal(d decimal.Decimal) {
	if d == (decimal.Decimal{}) { // never set: kept apart from a zero that was
		w.b = append(w.b, 2)
		return
	}
	if d.NumDigits() <= 18 {
		w.b = append(w.b, 0)
		w.varint(int64(d.Exponent()))
		w.varint(d.CoefficientInt64())
		return
	}
	b, _ := d.MarshalBinary() // never fails
	w.b = append(w.b, 1)
	w.bytes(b)
}

// reader decodes what writer wrote (localkv.Reader: the first error sticks and every later
// read returns zero values).
type reader struct{ localkv.Reader }

func newReader(b []byte) *reader { return &reader{localkv.ReaderOf(b)} }

func (r *reader) int() int { return int(r.Varint()) }

func (r *reader) status() aggregate.Status { return aggregate.Status(r.Str()) }

// bytes returns a copy: the value's buffer belongs to Pebble.
func (r *reader) bytes() []byte {
	n := r.Uvarint()
	if n == 0 {
		return nil
	}
	return append([]byte{}, r.Take(n-1)...)
}

func (r *reader) bool() bool {
	b := r.Take(1)
	return len(b) == 1 && b[0] == 1
}

func (r *reader) time() time.Time {
	us := r.Varint()
	if us == zeroMicros {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

func (r *reader) optTime() *time.Time {
	if !r.Bool() {
		return nil
	}
	t := r.time()
	return &t
}

func (r *reader) decimal() decimal.Decimal {
	switch tag := r.Take(1); {
	case len(tag) == 0:
		return decimal.Decimal{}
	case tag[0] == 0:
		exp, c := r.Varint(), r.Varint()
		return decimal.New(c, int32(exp))
	case tag[0] == 2:
		return decimal.Decimal{}
	default:
		var d decimal.Decimal
		if err := d.UnmarshalBinary(r.bytes()); err != nil {
			r.Fail()
		}
		return d
	}
}

// encodePayment appends the row's encoding to b.
func encodePayment(b []byte, p *projections.Payment) []byte {
	w := writer{b: append(b, rowFormat)}
	w.str(p.OrderID)
	w.str(p.PaymentKey)
	w.str(p.BuyerID)
	w.str(p.OrderName)
	w.decimal(p.TotalAmount)
	w.str(string(p.Status))
	w.bool(p.IsPaymentDone)
	w.optTime(p.ApprovedAt)
	w.str(p.Method)
	w.str(string(p.OutcomeStatus))
	w.str(p.OutcomeRule)
	w.str(p.OutcomeCode)
	w.str(p.OutcomeMessage)
	w.bytes(p.Evidence)
	w.bool(p.OperatorAlert)
	w.bool(p.Escalated)
	w.bool(p.Expired)
	w.optTime(p.CompletedAt)
	w.int(p.Executions)
	w.time(p.CreatedAt)
	w.time(p.UpdatedAt)
	w.varint(int64(p.Revision))
	w.uvarint(uint64(p.Position))
	w.uvarint(uint64(len(p.Orders)))
	for i := range p.Orders {
		o := &p.Orders[i]
		w.str(o.OrderID)
		w.int(o.Seq)
		w.str(o.BuyerID)
		w.str(o.SellerID)
		w.str(o.ProductID)
		w.varint(o.Quantity)
		w.decimal(o.UnitPrice)
		w.decimal(o.Amount)
		w.str(string(o.Status))
		w.bool(o.LedgerUpdated)
		w.bool(o.WalletUpdated)
		w.decimal(o.Refunded)
		w.int(o.FailedCount)
		w.int(o.Threshold)
	}
	w.decimal(p.RefundedAmount)
	w.uvarint(uint64(len(p.Refunds)))
	for i := range p.Refunds {
		encodeRefund(&w, &p.Refunds[i])
	}
	w.bool(p.VirtualAccount != nil)
	if va := p.VirtualAccount; va != nil {
		w.str(va.AccountType)
		w.str(va.BankCode)
		w.str(va.AccountNumber)
		w.str(va.HolderName)
		w.time(va.DueDate)
	}
	return w.b
}

func encodeRefund(w *writer, r *projections.Refund) {
	w.str(r.OrderID)
	w.str(r.RefundID)
	w.int(r.Seq)
	w.decimal(r.Amount)
	// nil (not allocated yet) is kept apart from an empty split.
	w.bool(r.Orders != nil)
	w.uvarint(uint64(len(r.Orders)))
	for _, s := range r.Orders {
		w.int(s.Seq)
		w.decimal(s.Amount)
	}
	w.str(r.Reason)
	w.decimal(r.TaxFreeAmount)
	w.str(string(r.Status))
	w.str(string(r.OutcomeStatus))
	w.str(r.OutcomeRule)
	w.str(r.OutcomeCode)
	w.str(r.OutcomeMessage)
	w.str(r.TransactionKey)
	w.optTime(r.CanceledAt)
	w.bool(r.External)
	w.str(r.FoundBy)
	w.int(r.FailedCount)
	w.int(r.Threshold)
	w.bool(r.Escalated)
	w.bool(r.LedgerBooked)
	w.bool(r.WalletBooked)
	w.str(r.PspIdempotencyKey)
	w.time(r.RequestedAt)
	w.time(r.UpdatedAt)
}

// count reads a length and checks it against what is left (each element takes at least a
// byte), so that a damaged length cannot make a huge allocation.
func (r *reader) count() int {
	n := r.Uvarint()
	if n > uint64(len(r.Rest())) {
		r.Fail()
		return 0
	}
	return int(n)
}

// decodePayment reads a row encodePayment wrote; localkv.ErrCorrupt when it does not decode.
func decodePayment(b []byte) (projections.Payment, error) {
	if len(b) == 0 || b[0] != rowFormat {
		return projections.Payment{}, fmt.Errorf("payment row: %w", localkv.ErrCorrupt)
	}
	r := newReader(b[1:])
	var p projections.Payment
	p.OrderID = r.Str()
	p.PaymentKey = r.Str()
	p.BuyerID = r.Str()
	p.OrderName = r.Str()
	p.TotalAmount = r.decimal()
	p.Status = r.status()
	p.IsPaymentDone = r.Bool()
	p.ApprovedAt = r.optTime()
	p.Method = r.Str()
	p.OutcomeStatus = r.status()
	p.OutcomeRule = r.Str()
	p.OutcomeCode = r.Str()
	p.OutcomeMessage = r.Str()
	p.Evidence = r.bytes()
	p.OperatorAlert = r.Bool()
	p.Escalated = r.Bool()
	p.Expired = r.Bool()
	p.CompletedAt = r.optTime()
	p.Executions = r.int()
	p.CreatedAt = r.time()
	p.UpdatedAt = r.time()
	p.Revision = eventstore.Revision(r.Varint())
	p.Position = eventstore.Position(r.Uvarint())
	if n := r.count(); n > 0 {
		p.Orders = make([]projections.Order, n)
	}
	for i := range p.Orders {
		o := &p.Orders[i]
		o.OrderID = r.Str()
		o.Seq = r.int()
		o.BuyerID = r.Str()
		o.SellerID = r.Str()
		o.ProductID = r.Str()
		o.Quantity = r.Varint()
		o.UnitPrice = r.decimal()
		o.Amount = r.decimal()
		o.Status = r.status()
		o.LedgerUpdated = r.Bool()
		o.WalletUpdated = r.Bool()
		o.Refunded = r.decimal()
		o.FailedCount = r.int()
		o.Threshold = r.int()
	}
	p.RefundedAmount = r.decimal()
	if n := r.count(); n > 0 {
		p.Refunds = make([]projections.Refund, n)
		for i := range p.Refunds {
			decodeRefund(r, &p.Refunds[i])
		}
	}
	if r.Bool() {
		p.VirtualAccount = &projections.VirtualAccount{AccountType: r.Str(), BankCode: r.Str(), AccountNumber: r.Str(),
			HolderName: r.Str(), DueDate: r.time()}
	}
	if r.End() != nil {
		return projections.Payment{}, fmt.Errorf("payment row: %w", localkv.ErrCorrupt)
	}
	return p, nil
}

func decodeRefund(r *reader, f *projections.Refund) {
	f.OrderID = r.Str()
	f.RefundID = r.Str()
	f.Seq = r.int()
	f.Amount = r.decimal()
	allocated, n := r.Bool(), r.count()
	if allocated {
		f.Orders = make([]aggregate.RefundSplit, n)
		for i := range f.Orders {
			f.Orders[i] = aggregate.RefundSplit{Seq: r.int(), Amount: r.decimal()}
		}
	}
	f.Reason = r.Str()
	f.TaxFreeAmount = r.decimal()
	f.Status = r.status()
	f.OutcomeStatus = r.status()
	f.OutcomeRule = r.Str()
	f.OutcomeCode = r.Str()
	f.OutcomeMessage = r.Str()
	f.TransactionKey = r.Str()
	f.CanceledAt = r.optTime()
	f.External = r.Bool()
	f.FoundBy = r.Str()
	f.FailedCount = r.int()
	f.Threshold = r.int()
	f.Escalated = r.Bool()
	f.LedgerBooked = r.Bool()
	f.WalletBooked = r.Bool()
	f.PspIdempotencyKey = r.Str()
	f.RequestedAt = r.time()
	f.UpdatedAt = r.time()
}

// encodeHistory appends a history row without what its key holds (orderId, position, seq).
func encodeHistory(b []byte, h projections.History) []byte {
	w := writer{b: b}
	w.str(string(h.Previous))
	w.str(string(h.New))
	w.str(h.Reason)
	w.str(h.Actor)
	w.time(h.At)
	w.b = append(w.b, h.EventID[:]...)
	return w.b
}

func decodeHistory(orderID string, key, value []byte) (projections.History, error) {
	r := newReader(value)
	h := projections.History{OrderID: orderID, Previous: r.status(), New: r.status(), Reason: r.Str(), Actor: r.Str(), At: r.time()}
	copy(h.EventID[:], r.Take(16))
	h.Position, h.Seq = historyKeyTail(key)
	if r.End() != nil {
		return projections.History{}, fmt.Errorf("history row: %w", localkv.ErrCorrupt)
	}
	return h, nil
}

func encodeDeadLetter(d projections.DeadLetter) []byte {
	w := writer{}
	w.uvarint(uint64(d.Position))
	w.str(d.Stream)
	w.varint(int64(d.Revision))
	w.b = append(w.b, d.EventID[:]...)
	w.str(d.Type)
	w.bytes(d.Data)
	w.str(d.Error)
	w.time(d.At)
	return w.b
}

func decodeDeadLetter(b []byte) (projections.DeadLetter, error) {
	r := newReader(b)
	d := projections.DeadLetter{Position: eventstore.Position(r.Uvarint()), Stream: r.Str(), Revision: eventstore.Revision(r.Varint())}
	copy(d.EventID[:], r.Take(16))
	d.Type, d.Data, d.Error, d.At = r.Str(), r.bytes(), r.Str(), r.time()
	if r.End() != nil {
		return projections.DeadLetter{}, fmt.Errorf("dead letter: %w", localkv.ErrCorrupt)
	}
	return d, nil
}

// Mark is the event the checkpoint stands at: its position, stream and id.
type Mark struct {
	Position eventstore.Position
	Stream   string
	EventID  uuid.UUID
}

func encodeMark(m Mark) []byte {
	w := writer{}
	w.uvarint(uint64(m.Position))
	w.b = append(w.b, m.EventID[:]...)
	w.str(m.Stream)
	return w.b
}

func decodeMark(b []byte) (Mark, error) {
	r := newReader(b)
	m := Mark{Position: eventstore.Position(r.Uvarint())}
	copy(m.EventID[:], r.Take(16))
	m.Stream = r.Str()
	if r.End() != nil {
		return Mark{}, fmt.Errorf("checkpoint: %w", localkv.ErrCorrupt)
	}
	return m, nil
}
