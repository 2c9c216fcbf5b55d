package tosssim

import (
	"encoding/binary"
	"time"

	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/localkv"
	"github.com/paystream/paystream/toss"
)

// The binary encodings of what a simulator with a database keeps there: orders,
// transactions and idempotency answers. Hand-written rather than JSON or gob: an order is
// encoded on every change, and this keeps that to about a microsecond. Fields are written
// in a fixed order; diskFormat changes when they do.

type encoder []byte

func (e encoder) str(s string) encoder { return localkv.AppendString(e, s) }

func (e encoder) int(n int64) encoder { return binary.AppendVarint(e, n) }

func (e encoder) bool(v bool) encoder { return localkv.AppendBool(e, v) }

// time keeps the instant, not the location: the simulator shows times in KST and compares
// them, nothing else.
func (e encoder) time(t time.Time) encoder { return e.int(t.Unix()).int(int64(t.Nanosecond())) }

func (e encoder) dec(d decimal.Decimal) encoder { return e.str(d.String()) }

// decoder reads what encoder wrote (localkv.Reader: the first error sticks).
type decoder struct{ localkv.Reader }

func newDecoder(b []byte) *decoder { return &decoder{localkv.ReaderOf(b)} }

func (d *decoder) time() time.Time {
	sec := d.Varint()
	return time.Unix(sec, d.Varint()).UTC()
}

func (d *decoder) dec() decimal.Decimal {
	s := d.Str()
	if d.Err() != nil {
		return decimal.Decimal{}
	}
	v, err := decimal.NewFromString(s)
	if err != nil {
		d.Fail()
	}
	return v
}

func encodeOrder(b []byte, o *order) []byte {
	e := encoder(b).str(o.paymentKey).str(o.orderName).str(string(o.method)).str(string(o.status)).
		dec(o.total).dec(o.balance).time(o.requestedAt).time(o.expiresAt).time(o.approvedAt).
		str(o.lastTransactionKey).bool(o.partialCancelable).int(int64(len(o.cancels)))
	for _, c := range o.cancels {
		e = e.dec(c.amount).dec(c.taxFree).dec(c.refundable).str(c.reason).time(c.at).str(c.transactionKey)
	}
	e = e.time(o.lastCancel).int(int64(o.approvals)).bool(o.overseas).
		int(int64(o.account.dueIn)).str(o.account.customerName).str(o.account.bankCode).bool(o.va != nil)
	if a := o.va; a != nil {
		e = e.str(a.number).str(a.bankCode).str(a.customerName).time(a.dueDate).bool(a.expired).
			str(a.refundStatus).bool(a.refundAccount != nil)
		if r := a.refundAccount; r != nil {
			e = e.str(r.Bank).str(r.AccountNumber).str(r.HolderName)
		}
	}
	return e.str(o.secret).str(o.approveNo).int(o.confirmRequests).int(o.cancelRequests)
}

func decodeOrder(id string, b []byte) (*order, error) {
	d := newDecoder(b)
	o := &order{id: id, paymentKey: d.Str(), orderName: d.Str(), method: toss.Method(d.Str()),
		status: toss.Status(d.Str()), total: d.dec(), balance: d.dec(), requestedAt: d.time(),
		expiresAt: d.time(), approvedAt: d.time(), lastTransactionKey: d.Str(), partialCancelable: d.Bool()}
	n := d.count()
	for range n {
		o.cancels = append(o.cancels, cancelRecord{amount: d.dec(), taxFree: d.dec(), refundable: d.dec(),
			reason: d.Str(), at: d.time(), transactionKey: d.Str()})
	}
	o.lastCancel, o.approvals, o.overseas = d.time(), int(d.Varint()), d.Bool()
	o.account = accountTerms{dueIn: time.Duration(d.Varint()), customerName: d.Str(), bankCode: d.Str()}
	if d.Bool() {
		a := &issuedAccount{number: d.Str(), bankCode: d.Str(), customerName: d.Str(), dueDate: d.time(),
			expired: d.Bool(), refundStatus: d.Str()}
		if d.Bool() {
			a.refundAccount = &refundAccount{Bank: d.Str(), AccountNumber: d.Str(), HolderName: d.Str()}
		}
		o.va = a
	}
	o.secret, o.approveNo, o.confirmRequests, o.cancelRequests = d.Str(), d.Str(), d.Varint(), d.Varint()
	return o, d.End()
}

// count reads a count written by int, refusing one larger than the bytes left
// could hold, so that a corrupt count cannot make a decode loop for ever.
func (d *decoder) count() int {
	n := d.Varint()
	if n < 0 || n > int64(len(d.Rest())) {
		d.Fail()
		return 0
	}
	return int(n)
}

func encodeTx(b []byte, t txRecord) []byte {
	e := encoder(b).int(t.seq).str(t.key).str(t.paymentKey).str(t.orderID).str(string(t.method)).
		str(string(t.status)).time(t.at).time(t.approvedAt).dec(t.amount).bool(t.cancel).bool(t.hidden).
		bool(t.payOut != nil)
	if t.payOut != nil {
		e = e.dec(*t.payOut)
	}
	return e
}

func decodeTx(b []byte) (txRecord, error) {
	d := newDecoder(b)
	t := txRecord{seq: d.Varint(), key: d.Str(), paymentKey: d.Str(), orderID: d.Str(), method: toss.Method(d.Str()),
		status: toss.Status(d.Str()), at: d.time(), approvedAt: d.time(), amount: d.dec(), cancel: d.Bool(),
		hidden: d.Bool()}
	if d.Bool() {
		p := d.dec()
		t.payOut = &p
	}
	return t, d.End()
}

// encodeKept encodes an idempotency key's first use and answer: a Payment answer as its
// snapshot (paymentSnapshot), any other as its body.
func encodeKept(b []byte, firstUsed time.Time, a answer) []byte {
	e := encoder(b).time(firstUsed).int(int64(a.status))
	if p := a.payment; p != nil {
		return append(e.bool(true).str(p.orderID).bool(p.english), p.order...)
	}
	return append(e.bool(false), a.body...)
}

// decodeKept reads what encodeKept wrote, rendering a snapshot again.
func decodeKept(b []byte) (time.Time, answer, error) {
	d := newDecoder(b)
	first, status, snapshot := d.time(), int(d.Varint()), d.Bool()
	if !snapshot {
		return first, answer{status: status, body: append([]byte(nil), d.Rest()...)}, d.Err()
	}
	orderID, english := d.Str(), d.Bool()
	if err := d.Err(); err != nil {
		return time.Time{}, answer{}, err
	}
	o, err := decodeOrder(orderID, d.Rest())
	if err != nil {
		return time.Time{}, answer{}, err
	}
	return first, answer{status: status, body: o.render(english)}, nil
}
