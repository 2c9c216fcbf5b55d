package tosssim

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/go-json-experiment/json/v1"

	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/toss"
)

// The simulator's transaction journal: every approval (a confirm to DONE, a deposit) and
// every cancel (through the API or the console) is a transaction with its transactionKey,
// kept for GET /v1/transactions and GET /v1/settlements. A deposit error is a transaction too
// (status WAITING_FOR_DEPOSIT: the deposit's money withdrawn). Issuing a virtual account
// moves no money and is not one. Alterations make the journal disagree with what happened,
// on purpose, for reconciliation tests and demos.

// txRecord is one journal entry.
type txRecord struct {
	seq                      int64
	key, paymentKey, orderID string
	method                   toss.Method
	status                   toss.Status
	at                       time.Time
	approvedAt               time.Time // the payment's approval
	amount                   decimal.Decimal
	cancel                   bool
	// Alterations.
	hidden bool
	payOut *decimal.Decimal
}

// journal keeps the transactions: memJournal in memory, diskJournal in a database.
type journal interface {
	// record adds t, made by the change of o in progress (o.mu held), once by its key.
	record(o *order, t txRecord)
	// approvedNotWithdrawn reports whether o has more approvals than withdrawn deposits
	// (o.mu held).
	approvedNotWithdrawn(o *order) bool
	// visible returns copies of the transactions from lo to hi (inclusive) that keep
	// selects, hidden ones left out, in the order Toss lists them: by transactionAt, then
	// as recorded.
	visible(lo, hi time.Time, keep func(*txRecord) bool) []txRecord
	// ofOrder is visible for every transaction of orderID.
	ofOrder(orderID string) []txRecord
	// alter applies a to the transaction key and returns it altered. Errors:
	// ErrNoTransaction.
	alter(key string, a Alteration) (txRecord, error)
}

// memJournal keeps every transaction in memory.
type memJournal struct {
	mu    sync.Mutex
	txs   []*txRecord
	byKey map[string]*txRecord
	seq   int64
}

var _ journal = (*memJournal)(nil)

func (j *memJournal) record(_ *order, t txRecord) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.byKey == nil {
		j.byKey = map[string]*txRecord{}
	}
	if _, ok := j.byKey[t.key]; ok || t.key == "" {
		return
	}
	j.seq++
	t.seq = j.seq
	j.txs = append(j.txs, &t)
	j.byKey[t.key] = &t
}

// journalChange records the transaction a change of o made, if it made one: called from
// notify, with o.mu held, for every change the simulator makes.
func (s *Simulator) journalChange(o *order, now time.Time, c *cancelRecord) {
	base := txRecord{paymentKey: o.paymentKey, orderID: o.id, method: o.method, approvedAt: o.approvedAt}
	switch {
	case c != nil:
		base.key, base.status, base.at, base.amount, base.cancel = c.transactionKey, o.status, c.at, c.amount, true
		if base.approvedAt.IsZero() { // a virtual account closed before its deposit
			return
		}
	case o.status == toss.StatusDone && o.approvedAt.Equal(now):
		base.key, base.status, base.at, base.amount = o.lastTransactionKey, toss.StatusDone, now, o.total
	case o.status == toss.StatusWaitingForDeposit && s.txs.approvedNotWithdrawn(o):
		base.key, base.status, base.at, base.amount = o.lastTransactionKey, toss.StatusWaitingForDeposit, now, o.total
	default:
		return
	}
	s.txs.record(o, base)
}

func (j *memJournal) approvedNotWithdrawn(o *order) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return approvalsStanding(j.txs, o.id) > 0
}

// approvalsStanding is how many approvals of orderID among txs no withdrawn deposit took
// back.
func approvalsStanding(txs []*txRecord, orderID string) int {
	n := 0
	for _, t := range txs {
		switch {
		case t.orderID != orderID || t.cancel:
		case t.status == toss.StatusDone:
			n++
		case t.status == toss.StatusWaitingForDeposit:
			n--
		}
	}
	return n
}

func (j *memJournal) visible(lo, hi time.Time, keep func(*txRecord) bool) []txRecord {
	return j.filtered(func(t *txRecord) bool { return !t.at.Before(lo) && !t.at.After(hi) && keep(t) })
}

func (j *memJournal) ofOrder(orderID string) []txRecord {
	return j.filtered(func(t *txRecord) bool { return t.orderID == orderID })
}

func (j *memJournal) filtered(keep func(*txRecord) bool) []txRecord {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []txRecord
	for _, t := range j.txs {
		if !t.hidden && keep(t) {
			out = append(out, *t)
		}
	}
	slices.SortStableFunc(out, func(a, b txRecord) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	return out
}

func (j *memJournal) alter(key string, a Alteration) (txRecord, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	t, ok := j.byKey[key]
	if !ok {
		return txRecord{}, fmt.Errorf("%w: %s", ErrNoTransaction, key)
	}
	t.apply(a)
	return *t, nil
}

// transactionJSON is Toss's Transaction object.
type transactionJSON struct {
	MID            string      `json:"mId"`
	TransactionKey string      `json:"transactionKey"`
	PaymentKey     string      `json:"paymentKey"`
	OrderID        string      `json:"orderId"`
	Method         string      `json:"method"`
	CustomerKey    *string     `json:"customerKey"`
	UseEscrow      bool        `json:"useEscrow"`
	ReceiptURL     string      `json:"receiptUrl"`
	Status         toss.Status `json:"status"`
	TransactionAt  string      `json:"transactionAt"`
	Currency       string      `json:"currency"`
	Amount         json.Number `json:"amount"`
}

func (t *txRecord) render(english bool) transactionJSON {
	method := t.method.Korean()
	if english {
		method = string(t.method)
	}
	return transactionJSON{MID: "tosssim", TransactionKey: t.key, PaymentKey: t.paymentKey, OrderID: t.orderID,
		Method: method, ReceiptURL: receiptURL(t.paymentKey), Status: t.status, TransactionAt: tossTime(t.at),
		Currency: "KRW", Amount: json.Number(t.amount.String())}
}

// Limits of GET /v1/transactions.
const (
	defaultTransactionsLimit = 100
	maxTransactionsLimit     = 5000
)

func (s *Simulator) handleTransactions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	start, err1 := parseQueryTime(q.Get("startDate"), false)
	end, err2 := parseQueryTime(q.Get("endDate"), true)
	limit := defaultTransactionsLimit
	var bad *answer
	switch {
	case err1 != nil || err2 != nil:
		bad = invalid("startDate and endDate are required, as yyyy-MM-dd or yyyy-MM-ddTHH:mm:ss")
	case end.Before(start):
		bad = invalid("endDate is before startDate")
	case q.Get("limit") != "":
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil || n < 1 || n > maxTransactionsLimit {
			bad = invalid("limit must be 1 to %d", maxTransactionsLimit)
		}
		limit = n
	}
	after := q.Get("startingAfter")
	s.serve(w, r, apiCall{invalid: bad, exec: func(_ time.Time, english bool) answer {
		txs := s.txs.visible(start, end, func(*txRecord) bool { return true })
		if after != "" {
			i := slices.IndexFunc(txs, func(t txRecord) bool { return t.key == after })
			if i < 0 {
				return errorAnswer(http.StatusBadRequest, "INVALID_REQUEST", "startingAfter is not a transaction of this range")
			}
			txs = txs[i+1:]
		}
		out := make([]transactionJSON, 0, min(limit, len(txs)))
		for _, t := range txs[:min(limit, len(txs))] {
			out = append(out, t.render(english))
		}
		return answer{status: http.StatusOK, body: mustJSON(out)}
	}})
}

// parseQueryTime reads a query date-time in KST ("2022-01-01T00:00:00") or date
// ("2022-01-01": its first second, or its last when endOfDay).
func parseQueryTime(s string, endOfDay bool) (time.Time, error) {
	if t, err := time.ParseInLocation("2006-01-02T15:04:05", s, kst); err == nil {
		return t, nil
	}
	t, err := time.ParseInLocation("2006-01-02", s, kst)
	if err != nil {
		return time.Time{}, err
	}
	if endOfDay {
		t = t.AddDate(0, 0, 1).Add(-time.Nanosecond)
	}
	return t, nil
}

// Transactions are the transactions of orderID as GET /v1/transactions lists them (with
// English methods), alterations applied and hidden ones left out; none after Close (with
// a database).
func (s *Simulator) Transactions(orderID string) []toss.Transaction {
	if !s.enter() {
		return nil
	}
	defer s.exit()
	var out []toss.Transaction
	for _, t := range s.txs.ofOrder(orderID) {
		tx := toss.Transaction{MID: "tosssim", TransactionKey: t.key, PaymentKey: t.paymentKey, OrderID: t.orderID,
			ReceiptURL: receiptURL(t.paymentKey), Currency: "KRW", Method: t.method, Status: t.status,
			TransactionAt: t.at, Amount: t.amount}
		out = append(out, tx)
	}
	return out
}

// Alteration makes one transaction of the journal disagree with what happened, as Toss's
// records sometimes do with a merchant's: a changed amount (its settlement follows it), an
// unexpected status, a transaction Toss does not list at all, or a settlement paying out
// another amount than its figures add up to. Zero fields change nothing.
type Alteration struct {
	Amount       *decimal.Decimal `json:"amount,omitempty"`
	Status       toss.Status      `json:"status,omitempty"`
	Hidden       bool             `json:"hidden,omitempty"`
	PayOutAmount *decimal.Decimal `json:"payOutAmount,omitempty"`
}

// ErrNoTransaction: no transaction has the transactionKey.
var ErrNoTransaction = errors.New("tosssim: no such transaction")

// AlterTransaction applies a to the transaction transactionKey. Errors: ErrNoTransaction,
// ErrClosed.
func (s *Simulator) AlterTransaction(transactionKey string, a Alteration) error {
	if !s.enter() {
		return ErrClosed
	}
	defer s.exit()
	_, err := s.txs.alter(transactionKey, a)
	return err
}

// apply makes the changes a asks for.
func (t *txRecord) apply(a Alteration) {
	if a.Amount != nil {
		t.amount = *a.Amount
	}
	if a.Status != "" {
		t.status = a.Status
	}
	if a.Hidden {
		t.hidden = true
	}
	if a.PayOutAmount != nil {
		p := *a.PayOutAmount
		t.payOut = &p
	}
}

// handleAlterTransaction serves PATCH /sim/v1/transactions/{transactionKey}.
func (s *Simulator) handleAlterTransaction(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r)
	if err != nil {
		invalid("cannot read body: %v", err).write(w)
		return
	}
	var a Alteration
	if err := json.Unmarshal(body, &a); err != nil {
		invalid("body is not an alteration: %v", err).write(w)
		return
	}
	if a.Amount != nil && (!a.Amount.IsInteger() || a.Amount.IsNegative()) {
		invalid("amount must be a non-negative integer").write(w)
		return
	}
	t, err := s.txs.alter(r.PathValue("transactionKey"), a)
	if err != nil {
		errorAnswer(http.StatusNotFound, "NOT_FOUND_TRANSACTION", err.Error()).write(w)
		return
	}
	answer{status: http.StatusOK, body: mustJSON(t.render(true))}.write(w)
}
