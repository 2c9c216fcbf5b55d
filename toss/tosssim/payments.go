package tosssim

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/go-json-experiment/json/v1"

	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/toss"
)

const tossVersion = "2022-11-16"

// Toss writes timestamps in Korea Standard Time with the offset and no fraction.
var kst = time.FixedZone("KST", 9*60*60)

const tossTimeLayout = "2006-01-02T15:04:05-07:00"

func tossTime(t time.Time) string { return t.In(kst).Format(tossTimeLayout) }

// order is everything the simulator knows about one orderId: the buyer's latest session
// and, once confirmed, the payment.
type order struct {
	id string

	// Guarded by the orderTable's shard lock (with a database): how many callers hold the
	// order, and its place among the unpinned ones.
	pins       int
	prev, next *order

	mu sync.Mutex
	// Guarded by mu. status "" means there is no session (yet): not found.
	paymentKey         string
	orderName          string
	method             toss.Method
	status             toss.Status
	total, balance     decimal.Decimal
	requestedAt        time.Time
	expiresAt          time.Time
	approvedAt         time.Time // zero until approved
	lastTransactionKey string
	partialCancelable  bool // isPartialCancelable
	cancels            []cancelRecord
	lastCancel         time.Time // when the last cancel request through the API was processed
	approvals          int
	overseas           bool           // an overseas easy-pay payment: cancels send CANCEL_STATUS_CHANGED
	account            accountTerms   // what the buyer chose for a virtual account
	va                 *issuedAccount // the virtual account, once the confirm issued it
	secret             string         // virtual accounts: repeated in DEPOSIT_CALLBACK
	approveNo          string         // cards and gift certificates: the issuer's approval number
	confirmRequests    int64          // confirm requests naming the orderId, whatever their outcome
	cancelRequests     int64          // cancel requests naming one of its paymentKeys

	// Bookkeeping of the orderTable, guarded by mu: the paymentKey its index holds, and
	// (with a database) the order as last written and the transactions not written yet.
	indexedKey string
	encoded    []byte
	pending    []txRecord
}

// expireIfDue turns an unconfirmed session past its deadline into EXPIRED, and marks a
// virtual account still waiting past its due date expired (its status stays
// WAITING_FOR_DEPOSIT, as at Toss). Call with mu held.
func (o *order) expireIfDue(now time.Time) {
	if o.status == toss.StatusInProgress && !now.Before(o.expiresAt) {
		o.status = toss.StatusExpired
	}
	if o.status == toss.StatusWaitingForDeposit && o.va != nil && !now.Before(o.va.dueDate) {
		o.va.expired = true
	}
}

// paymentJSON is Toss's Payment object, version 2022-11-16: every member, null where Toss
// sends null.
type paymentJSON struct {
	MID                 string               `json:"mId"`
	Version             string               `json:"version"`
	PaymentKey          string               `json:"paymentKey"`
	Type                string               `json:"type"`
	OrderID             string               `json:"orderId"`
	OrderName           string               `json:"orderName"`
	Currency            string               `json:"currency"`
	Method              string               `json:"method"`
	Status              toss.Status          `json:"status"`
	TotalAmount         json.Number          `json:"totalAmount"`
	BalanceAmount       json.Number          `json:"balanceAmount"`
	SuppliedAmount      json.Number          `json:"suppliedAmount"`
	VAT                 json.Number          `json:"vat"`
	TaxFreeAmount       json.Number          `json:"taxFreeAmount"`
	TaxExemptionAmount  json.Number          `json:"taxExemptionAmount"`
	IsPartialCancelable bool                 `json:"isPartialCancelable"`
	UseEscrow           bool                 `json:"useEscrow"`
	CultureExpense      bool                 `json:"cultureExpense"`
	RequestedAt         string               `json:"requestedAt"`
	ApprovedAt          *string              `json:"approvedAt"`
	LastTransactionKey  *string              `json:"lastTransactionKey"`
	Cancels             []cancelJSON         `json:"cancels"`
	Card                *cardJSON            `json:"card"`
	VirtualAccount      *accountJSON         `json:"virtualAccount"`
	MobilePhone         *mobilePhoneJSON     `json:"mobilePhone"`
	GiftCertificate     *giftCertificateJSON `json:"giftCertificate"`
	Transfer            *transferJSON        `json:"transfer"`
	EasyPay             *easyPayJSON         `json:"easyPay"`
	Metadata            map[string]string    `json:"metadata"`
	Receipt             *urlJSON             `json:"receipt"`
	Checkout            urlJSON              `json:"checkout"`
	Country             string               `json:"country"`
	Failure             *failureJSON         `json:"failure"`
	CashReceipt         *struct{}            `json:"cashReceipt"`  // the buyer asked for none
	CashReceipts        []struct{}           `json:"cashReceipts"` // nor were any issued later
	Discount            *struct{}            `json:"discount"`     // no card company promotion
	Secret              *string              `json:"secret"`
}

// render is the Payment object Toss would answer. Call with mu held.
func (o *order) render(english bool) []byte {
	method := o.method.Korean()
	if english {
		method = string(o.method)
	}
	vat := o.balance.Div(decimal.NewFromInt(11)).Round(0)
	p := paymentJSON{
		MID:                 "tosssim",
		Version:             tossVersion,
		PaymentKey:          o.paymentKey,
		Type:                "NORMAL",
		OrderID:             o.id,
		OrderName:           o.orderName,
		Currency:            "KRW",
		Method:              method,
		Status:              o.status,
		TotalAmount:         json.Number(o.total.String()),
		BalanceAmount:       json.Number(o.balance.String()),
		SuppliedAmount:      json.Number(o.balance.Sub(vat).String()),
		VAT:                 json.Number(vat.String()),
		TaxFreeAmount:       "0",
		TaxExemptionAmount:  "0",
		IsPartialCancelable: o.partialCancelable,
		RequestedAt:         tossTime(o.requestedAt),
		Checkout:            urlJSON{checkoutURL(o.paymentKey)},
		Country:             "KR",
		Failure:             o.renderFailure(),
	}
	if !o.approvedAt.IsZero() {
		at := tossTime(o.approvedAt)
		p.ApprovedAt = &at
	}
	if o.lastTransactionKey != "" {
		tx := o.lastTransactionKey
		p.LastTransactionKey = &tx
		// Confirmed: what the buyer paid with is known and there is a sales slip.
		p.Receipt = &urlJSON{receiptURL(o.paymentKey)}
		switch o.method {
		case toss.MethodCard:
			p.Card = o.renderCard(english)
		case toss.MethodEasyPay:
			p.EasyPay = o.renderEasyPay(english)
		case toss.MethodTransfer:
			p.Transfer = &transferJSON{BankCode: o.account.bankCode, SettlementStatus: settlementIncomplete}
		case toss.MethodMobilePhone:
			p.MobilePhone = &mobilePhoneJSON{CustomerMobilePhone: simulatedMobilePhone,
				SettlementStatus: settlementIncomplete, ReceiptURL: receiptURL(o.paymentKey)}
		case toss.MethodCultureGiftCertificate, toss.MethodBookGiftCertificate, toss.MethodGameGiftCertificate:
			p.GiftCertificate = &giftCertificateJSON{ApproveNo: o.approveNo, SettlementStatus: settlementIncomplete}
		}
	}
	for _, c := range o.cancels {
		p.Cancels = append(p.Cancels, c.render())
	}
	if o.va != nil {
		p.VirtualAccount = o.va.render(english)
		secret := o.secret
		p.Secret = &secret
	}
	return mustJSON(p)
}

// requestError is a refused simulator-only request (session creation).
type requestError struct {
	status        int
	code, message string
}

func (e *requestError) Error() string { return "tosssim: " + e.code + ": " + e.message }

func (e *requestError) answer() answer { return errorAnswer(e.status, e.code, e.message) }

func invalid(format string, args ...any) *answer {
	a := errorAnswer(http.StatusBadRequest, "INVALID_REQUEST", fmt.Sprintf(format, args...))
	return &a
}

type session struct {
	PaymentKey string      `json:"paymentKey"`
	OrderID    string      `json:"orderId"`
	Amount     json.Number `json:"amount"`
	Status     toss.Status `json:"status"`
	ExpiresAt  string      `json:"expiresAt"`
}

// createSession records that the buyer authorised amount for orderID, replacing an
// unconfirmed earlier session of that order.
func (s *Simulator) createSession(r SessionRequest) (session, *requestError) {
	orderID, amount, method := r.OrderID, r.Amount, r.Method
	if method == "" {
		method = toss.MethodCard
	}
	if r.OrderName == "" {
		r.OrderName = "paystream order " + orderID
	}
	if !validOrderID(orderID) {
		return session{}, &requestError{http.StatusBadRequest, "INVALID_REQUEST", "orderId must be 6 to 64 of A-Z a-z 0-9 _ -"}
	}
	if !amount.IsInteger() || amount.LessThan(decimal.NewFromInt(1)) {
		return session{}, &requestError{http.StatusBadRequest, "INVALID_REQUEST", "amount must be an integer of at least 1"}
	}
	if err := s.checkAmount(amount, method); err != nil {
		return session{}, err
	}
	if r.DueIn < 0 || r.DueIn > maxDepositWindow {
		return session{}, &requestError{http.StatusBadRequest, "INVALID_REQUEST", "validHours must be 1 to 720 (30 days)"}
	}
	now := s.now()
	o := s.orders.lock(orderID, true)
	defer s.orders.unlock(o) // the new paymentKey replaces the old one in the index
	switch o.status {
	case toss.StatusDone, toss.StatusCanceled, toss.StatusPartialCanceled, toss.StatusWaitingForDeposit:
		return session{}, &requestError{http.StatusConflict, "ALREADY_PROCESSED_PAYMENT", "order " + orderID + " is already paid"}
	}
	o.paymentKey = "tgen_" + rand.Text()
	o.orderName, o.method, o.status = r.OrderName, method, toss.StatusInProgress
	o.partialCancelable = !r.NotPartialCancelable
	o.overseas = r.Overseas
	o.account = s.accountTerms(r)
	o.total, o.balance = amount, amount
	o.requestedAt, o.expiresAt = now, now.Add(s.sessionTTL)
	s.stats.sessions.Add(1)
	return session{o.paymentKey, orderID, json.Number(amount.String()), o.status, tossTime(o.expiresAt)}, nil
}

// Toss's minimum amounts (BELOW_MINIMUM_AMOUNT): 100 KRW by card and most methods, 200 KRW
// from a bank account.
const (
	minAmount        = 100
	minAccountAmount = 200
)

// checkAmount refuses an amount outside Toss's limits for method with Toss's code and 400.
func (s *Simulator) checkAmount(amount decimal.Decimal, method toss.Method) *requestError {
	least := int64(minAmount)
	if method == toss.MethodTransfer || method == toss.MethodVirtualAccount {
		least = minAccountAmount
	}
	switch {
	case amount.LessThan(decimal.NewFromInt(least)):
		return &requestError{http.StatusBadRequest, "BELOW_MINIMUM_AMOUNT",
			fmt.Sprintf("amount %s is below the minimum of %d KRW for %s", amount, least, method)}
	case amount.GreaterThan(s.maxAmount):
		return &requestError{http.StatusBadRequest, "EXCEED_MAX_AMOUNT",
			fmt.Sprintf("amount %s exceeds the maximum of %s KRW per payment", amount, s.maxAmount)}
	}
	return nil
}

func validOrderID(id string) bool {
	if len(id) < 6 || len(id) > 64 {
		return false
	}
	for _, c := range []byte(id) {
		ok := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

type confirmRequest struct {
	paymentKey, orderID string
	amount              decimal.Decimal
}

// parseConfirm decodes a confirm body. The orderId is returned whenever it could be read,
// even from an invalid request, so that the request is counted against its order.
func parseConfirm(body []byte, readErr error) (confirmRequest, *answer) {
	if readErr != nil {
		return confirmRequest{}, invalid("cannot read body: %v", readErr)
	}
	var w struct {
		PaymentKey string          `json:"paymentKey"`
		OrderID    string          `json:"orderId"`
		Amount     json.RawMessage `json:"amount"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return confirmRequest{}, invalid("body is not a confirm request: %v", err)
	}
	req := confirmRequest{paymentKey: w.PaymentKey, orderID: w.OrderID}
	switch amount, err := parseAmount(w.Amount); {
	case w.PaymentKey == "" || len(w.PaymentKey) > 200:
		return req, invalid("paymentKey must be 1 to 200 characters")
	case !validOrderID(w.OrderID):
		return req, invalid("orderId must be 6 to 64 of A-Z a-z 0-9 _ -")
	case err != nil:
		return req, invalid("amount: %v", err)
	default:
		req.amount = amount
		return req, nil
	}
}

// parseAmount reads a KRW amount sent as a JSON number: an integer of at least 1.
func parseAmount(raw json.RawMessage) (decimal.Decimal, error) {
	if len(raw) == 0 || raw[0] == '"' || string(raw) == "null" {
		return decimal.Decimal{}, errors.New("must be a JSON number")
	}
	d, err := decimal.NewFromString(string(raw))
	if err != nil {
		return decimal.Decimal{}, err
	}
	if !d.IsInteger() || d.LessThan(decimal.NewFromInt(1)) {
		return decimal.Decimal{}, fmt.Errorf("%s is not an integer of at least 1", raw)
	}
	return d, nil
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	return io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
}

func (s *Simulator) handleConfirm(w http.ResponseWriter, r *http.Request) {
	s.stats.confirmRequests.Add(1)
	req, bad := parseConfirm(readBody(w, r))
	if req.orderID != "" {
		// Counted now, written with what the confirm changes or once it is answered.
		defer s.orders.release(s.orders.hold(req.orderID, func(o *order) { o.confirmRequests++ }))
	}
	s.serve(w, r, apiCall{movesMoney: true, invalid: bad, exec: func(now time.Time, english bool) answer {
		return s.confirm(req, now, english)
	}})
}

var errSessionNotFound = errorAnswer(http.StatusNotFound, "NOT_FOUND_PAYMENT_SESSION", "no payment session for this paymentKey, or it expired")

// confirm captures the money of an authorised session. It is the only place an approval
// happens, under the order's lock and only from IN_PROGRESS, so an order is approved once.
func (s *Simulator) confirm(req confirmRequest, now time.Time, english bool) answer {
	// The amount is checked before the session is looked up, against the lowest minimum: a
	// session is only ever issued within its method's limits.
	if err := s.checkAmount(req.amount, toss.MethodCard); err != nil {
		return err.answer()
	}
	o := s.orders.lockByKey(req.paymentKey)
	if o == nil {
		return errSessionNotFound
	}
	defer s.orders.unlock(o)
	if o.paymentKey != req.paymentKey {
		return errSessionNotFound
	}
	if o.id != req.orderID {
		return errorAnswer(http.StatusBadRequest, "UNAPPROVED_ORDER_ID", "orderId does not match the paymentKey")
	}
	o.expireIfDue(now)
	switch o.status {
	case toss.StatusDone, toss.StatusCanceled, toss.StatusPartialCanceled, toss.StatusWaitingForDeposit:
		return errorAnswer(http.StatusBadRequest, "ALREADY_PROCESSED_PAYMENT", "the payment is already processed")
	case toss.StatusExpired:
		return errSessionNotFound
	}
	if !req.amount.Equal(o.total) {
		return errorAnswer(http.StatusBadRequest, "INVALID_REQUEST", "amount does not match the amount the buyer authorised")
	}
	o.lastTransactionKey = rand.Text()
	if o.method == toss.MethodVirtualAccount {
		// No money moves yet: the account is issued and the buyer decides when to pay.
		s.issueAccount(o, now)
		s.stats.accountsIssued.Add(1)
	} else {
		o.status = toss.StatusDone
		o.approvedAt = now
		o.approveNo = approvalNumber()
		o.approvals++
		s.stats.approvals.Add(1)
	}
	s.notify(o, now, nil)
	return s.paymentAnswer(o, english)
}

var errPaymentNotFound = errorAnswer(http.StatusNotFound, "NOT_FOUND_PAYMENT", "no such payment")

func (s *Simulator) handleByKey(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("paymentKey")
	s.serve(w, r, apiCall{exec: func(now time.Time, english bool) answer {
		return s.lookup(s.orders.lockByKey(key), key, now, english)
	}})
}

func (s *Simulator) handleByOrderID(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("orderId")
	s.serve(w, r, apiCall{exec: func(now time.Time, english bool) answer {
		return s.lookup(s.orders.lock(id, false), "", now, english)
	}})
}

// lookup answers the payment of o, locked by the orderTable; a non-empty paymentKey must
// still be o's current one.
func (s *Simulator) lookup(o *order, paymentKey string, now time.Time, english bool) answer {
	if o == nil {
		return errPaymentNotFound
	}
	defer s.orders.unlock(o)
	if o.status == "" || paymentKey != "" && o.paymentKey != paymentKey {
		return errPaymentNotFound
	}
	o.expireIfDue(now)
	return answer{status: http.StatusOK, body: o.render(english)}
}
