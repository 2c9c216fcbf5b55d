package tosssim

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/toss"
)

// The binary encodings of what a simulator with a database keeps there: orders,
// transactions and idempotency answers. Hand-written rather than JSON or gob: an order is
// encoded on every change, and this keeps that to about a microsecond. Fields are written
// in a fixed order; diskFormat changes when they do.

type encoder []byte

func (e encoder) str(s string) encoder {
	e = binary.AppendUvarint(e, uint64(len(s)))
	return append(e, s...)
}

func (e encoder) int(n int64) encoder { return binary.AppendVarint(e, n) }

func (e encoder) bool(v bool) encoder {
	if v {
		return append(e, 1)
	}
	return append(e, 0)
}

// time keeps the instant, not the location: the simulator shows times in KST and compares
// them, nothing else.
func (e encoder) time(t time.Time) encoder { return e.int(t.Unix()).int(int64(t.Nanosecond())) }

func (e encoder) dec(d decimal.Decimal) encoder { return e.str(d.String()) }

var errCorrupt = errors.New("corrupt record")

// decoder reads what encoder wrote; the first error sticks and later reads return zero
// values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() { d.err, d.b = errCorrupt, nil }

func (d *decoder) uint() uint64 {
	n, k := binary.Uvarint(d.b)
	if k <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[k:]
	return n
}

func (d *decoder) int() int64 {
	n, k := binary.Varint(d.b)
	if k <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[k:]
	return n
}

func (d *decoder) str() string {
	n := d.uint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) bool() bool {
	if len(d.b) == 0 {
		d.fail()
		return false
	}
	v := d.b[0] == 1
	d.b = d.b[1:]
	return v
}

func (d *decoder) time() time.Time {
	sec := d.int()
	return time.Unix(sec, d.int()).UTC()
}

func (d *decoder) dec() decimal.Decimal {
	s := d.str()
	if d.err != nil {
		return decimal.Decimal{}
	}
	v, err := decimal.NewFromString(s)
	if err != nil {
		d.fail()
	}
	return v
}

// end reports the first error, or that bytes were left over.
func (d *decoder) end() error {
	if d.err == nil && len(d.b) > 0 {
		return errCorrupt
	}
	return d.err
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
	d := &decoder{b: b}
	o := &order{id: id, paymentKey: d.str(), orderName: d.str(), method: toss.Method(d.str()),
		status: toss.Status(d.str()), total: d.dec(), balance: d.dec(), requestedAt: d.time(),
		expiresAt: d.time(), approvedAt: d.time(), lastTransactionKey: d.str(), partialCancelable: d.bool()}
	n := d.count()
	for range n {
		o.cancels = append(o.cancels, cancelRecord{amount: d.dec(), taxFree: d.dec(), refundable: d.dec(),
			reason: d.str(), at: d.time(), transactionKey: d.str()})
	}
	o.lastCancel, o.approvals, o.overseas = d.time(), int(d.int()), d.bool()
	o.account = accountTerms{dueIn: time.Duration(d.int()), customerName: d.str(), bankCode: d.str()}
	if d.bool() {
		a := &issuedAccount{number: d.str(), bankCode: d.str(), customerName: d.str(), dueDate: d.time(),
			expired: d.bool(), refundStatus: d.str()}
		if d.bool() {
			a.refundAccount = &refundAccount{Bank: d.str(), AccountNumber: d.str(), HolderName: d.str()}
		}
		o.va = a
	}
	o.secret, o.approveNo, o.confirmRequests, o.cancelRequests = d.str(), d.str(), d.int(), d.int()
	return o, d.end()
}

// count reads a count written by int, refusing one larger than the bytes left
// could hold, so that a corrupt count cannot make a decode loop for ever.
func (d *decoder) count() int {
	n := d.int()
	if n < 0 || n > int64(len(d.b)) {
		d.fail()
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
	d := &decoder{b: b}
	t := txRecord{seq: d.int(), key: d.str(), paymentKey: d.str(), orderID: d.str(), method: toss.Method(d.str()),
		status: toss.Status(d.str()), at: d.time(), approvedAt: d.time(), amount: d.dec(), cancel: d.bool(),
		hidden: d.bool()}
	if d.bool() {
		p := d.dec()
		t.payOut = &p
	}
	return t, d.end()
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
	d := &decoder{b: b}
	first, status, snapshot := d.time(), int(d.int()), d.bool()
	if !snapshot {
		return first, answer{status: status, body: append([]byte(nil), d.b...)}, d.err
	}
	orderID, english := d.str(), d.bool()
	if d.err != nil {
		return time.Time{}, answer{}, d.err
	}
	o, err := decodeOrder(orderID, d.b)
	if err != nil {
		return time.Time{}, answer{}, err
	}
	return first, answer{status: status, body: o.render(english)}, nil
}
