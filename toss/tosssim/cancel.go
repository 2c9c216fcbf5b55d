package tosssim

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json/v1"

	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/toss"
)

// consecutiveCancelWindow is how soon after a cancel request Toss refuses the next one of
// the same payment (403 FORBIDDEN_CONSECUTIVE_REQUEST).
const consecutiveCancelWindow = time.Second

// Toss's limits on refundReceiveAccount.
const (
	maxAccountNumber = 20
	maxHolderName    = 60
	maxCancelReason  = 200
)

// cancelRecord is one cancel of a payment, through the API or the console.
type cancelRecord struct {
	amount, taxFree decimal.Decimal
	refundable      decimal.Decimal // the balance left after it
	reason          string
	at              time.Time
	transactionKey  string
}

// cancelJSON is Toss's Cancel object, version 2022-11-16. No cancel has a discount to
// give back, a receipt of its own or a merchant's cancel request id.
type cancelJSON struct {
	CancelAmount          json.Number `json:"cancelAmount"`
	CancelReason          string      `json:"cancelReason"`
	TaxFreeAmount         json.Number `json:"taxFreeAmount"`
	TaxExemptionAmount    json.Number `json:"taxExemptionAmount"`
	RefundableAmount      json.Number `json:"refundableAmount"`
	EasyPayDiscountAmount json.Number `json:"easyPayDiscountAmount"`
	CanceledAt            string      `json:"canceledAt"`
	TransactionKey        string      `json:"transactionKey"`
	ReceiptKey            *string     `json:"receiptKey"`
	CancelStatus          string      `json:"cancelStatus"`
	CancelRequestID       *string     `json:"cancelRequestId"`
}

func (c cancelRecord) render() cancelJSON {
	return cancelJSON{
		CancelAmount:          json.Number(c.amount.String()),
		CancelReason:          c.reason,
		TaxFreeAmount:         json.Number(c.taxFree.String()),
		TaxExemptionAmount:    "0",
		RefundableAmount:      json.Number(c.refundable.String()),
		EasyPayDiscountAmount: "0",
		CanceledAt:            tossTime(c.at),
		TransactionKey:        c.transactionKey,
		CancelStatus:          "DONE",
	}
}

type refundAccount struct {
	Bank          string `json:"bank"`
	AccountNumber string `json:"accountNumber"`
	HolderName    string `json:"holderName"`
}

type cancelRequest struct {
	reason  string
	amount  *decimal.Decimal // nil: the whole balance
	taxFree decimal.Decimal
	account *refundAccount
}

// parseCancel decodes a cancel body. Malformed members are 400 INVALID_REQUEST, answered
// before anything executes; the rules that need the payment are checked in cancel.
func parseCancel(body []byte, readErr error) (cancelRequest, *answer) {
	if readErr != nil {
		return cancelRequest{}, invalid("cannot read body: %v", readErr)
	}
	var w struct {
		CancelReason  string          `json:"cancelReason"`
		CancelAmount  json.RawMessage `json:"cancelAmount"`
		TaxFreeAmount json.RawMessage `json:"taxFreeAmount"`
		RefundAccount *refundAccount  `json:"refundReceiveAccount"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return cancelRequest{}, invalid("body is not a cancel request: %v", err)
	}
	if w.CancelReason == "" || utf8.RuneCountInString(w.CancelReason) > maxCancelReason {
		return cancelRequest{}, invalid("cancelReason must be 1 to %d characters", maxCancelReason)
	}
	req := cancelRequest{reason: w.CancelReason, taxFree: decimal.Zero, account: w.RefundAccount}
	if present(w.CancelAmount) {
		amount, err := parseAmount(w.CancelAmount)
		if err != nil {
			return cancelRequest{}, invalid("cancelAmount: %v", err)
		}
		req.amount = &amount
	}
	if present(w.TaxFreeAmount) && !bytes.Equal(w.TaxFreeAmount, []byte("0")) {
		taxFree, err := parseAmount(w.TaxFreeAmount)
		if err != nil {
			return cancelRequest{}, invalid("taxFreeAmount: %v", err)
		}
		req.taxFree = taxFree
	}
	return req, nil
}

func present(raw json.RawMessage) bool { return len(raw) > 0 && string(raw) != "null" }

func (s *Simulator) handleCancel(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("paymentKey")
	s.stats.cancelRequests.Add(1)
	// Counted now, written with what the request changes or once it is answered.
	if o := s.orders.holdByKey(key, func(o *order) { o.cancelRequests++ }); o != nil {
		defer s.orders.release(o)
	}
	req, bad := parseCancel(readBody(w, r))
	s.serve(w, r, apiCall{movesMoney: true, invalid: bad, exec: func(now time.Time, english bool) answer {
		a := s.cancel(key, req, now, english, false)
		if a.status == http.StatusOK {
			s.stats.cancels.Add(1)
		}
		return a
	}})
}

// handleConsoleCancel plays an operator cancelling in Toss's console: no authentication,
// no idempotency, no faults, no consecutive-request window.
func (s *Simulator) handleConsoleCancel(w http.ResponseWriter, r *http.Request) {
	req, bad := parseCancel(readBody(w, r))
	if bad != nil {
		bad.write(w)
		return
	}
	a := s.cancel(r.PathValue("paymentKey"), req, s.now(), isEnglish(r.Header.Get("Accept-Language")), true)
	if a.status == http.StatusOK {
		s.stats.consoleCancels.Add(1)
	}
	a.write(w)
}

// ConsoleCancel cancels amount (nil: the whole balance) of the payment paymentKey names, as
// an operator in Toss's console would, and returns the payment afterwards. The API rules
// apply except the consecutive-request window and the refund account. Errors carry Toss's
// code (NOT_FOUND_PAYMENT, ALREADY_CANCELED_PAYMENT, NOT_CANCELABLE_AMOUNT, …), or are
// ErrClosed.
func (s *Simulator) ConsoleCancel(paymentKey string, amount *decimal.Decimal, reason string) (toss.Payment, error) {
	if !s.enter() {
		return toss.Payment{}, ErrClosed
	}
	defer s.exit()
	if reason == "" || utf8.RuneCountInString(reason) > maxCancelReason {
		return toss.Payment{}, &requestError{http.StatusBadRequest, "INVALID_REQUEST", "cancelReason must be 1 to 200 characters"}
	}
	if amount != nil && (!amount.IsInteger() || !amount.IsPositive()) {
		return toss.Payment{}, &requestError{http.StatusBadRequest, "INVALID_REQUEST", "cancelAmount must be an integer of at least 1"}
	}
	a := s.cancel(paymentKey, cancelRequest{reason: reason, amount: amount, taxFree: decimal.Zero}, s.now(), true, true)
	if a.status != http.StatusOK {
		var e struct{ Code, Message string }
		_ = json.Unmarshal(a.body, &e)
		return toss.Payment{}, &requestError{a.status, e.Code, e.Message}
	}
	s.stats.consoleCancels.Add(1)
	var p toss.Payment
	if err := json.Unmarshal(a.body, &p); err != nil {
		panic(fmt.Sprintf("tosssim: rendered payment does not decode: %v", err))
	}
	return p, nil
}

// cancel refunds req from the payment paymentKey names, under its order's lock, with Toss's
// rules in Toss's order: the consecutive-request window (API only), the status, the
// balance, isPartialCancelable, the tax-free part, the refund account of a virtual-account
// payment (API only). Every request that reaches the payment opens the window.
func (s *Simulator) cancel(paymentKey string, req cancelRequest, now time.Time, english, console bool) answer {
	o := s.orders.lockByKey(paymentKey)
	if o == nil {
		return errPaymentNotFound
	}
	defer s.orders.unlock(o)
	if o.paymentKey != paymentKey || o.status == "" {
		return errPaymentNotFound
	}
	if !console {
		if !o.lastCancel.IsZero() && now.Sub(o.lastCancel) < consecutiveCancelWindow {
			// Only the first of the two is processed: the second is turned away before it
			// runs, so its key stays free for the retry Toss asks for.
			a := errorAnswer(http.StatusForbidden, "FORBIDDEN_CONSECUTIVE_REQUEST", "another cancel of this payment was requested less than a second ago; try again later")
			a.unprocessed = true
			return a
		}
		o.lastCancel = now
	}
	o.expireIfDue(now)
	waiting := o.status == toss.StatusWaitingForDeposit // a virtual account not paid into yet
	switch o.status {
	case toss.StatusDone, toss.StatusPartialCanceled, toss.StatusWaitingForDeposit:
	case toss.StatusCanceled:
		return errorAnswer(http.StatusBadRequest, "ALREADY_CANCELED_PAYMENT", "the payment is already canceled")
	default:
		return errorAnswer(http.StatusForbidden, "NOT_CANCELABLE_PAYMENT", "only an approved payment can be canceled")
	}
	amount := o.balance
	if req.amount != nil {
		amount = *req.amount
	}
	switch {
	case amount.GreaterThan(o.balance):
		return errorAnswer(http.StatusForbidden, "NOT_CANCELABLE_AMOUNT",
			fmt.Sprintf("cancelAmount %s exceeds the cancelable balance of %s", amount, o.balance))
	case amount.LessThan(o.balance) && waiting:
		return errorAnswer(http.StatusForbidden, "NOT_ALLOWED_PARTIAL_REFUND_WAITING_DEPOSIT", "a virtual account waiting for its deposit can only be canceled in full")
	case amount.LessThan(o.balance) && !o.partialCancelable:
		return errorAnswer(http.StatusForbidden, "NOT_ALLOWED_PARTIAL_REFUND", "this payment can only be canceled in full")
	case req.taxFree.GreaterThan(amount):
		return errorAnswer(http.StatusBadRequest, "INVALID_REQUEST",
			fmt.Sprintf("taxFreeAmount %s exceeds the cancelAmount of %s", req.taxFree, amount))
	}
	if o.method == toss.MethodVirtualAccount && !console && !waiting {
		if a, bad := checkRefundAccount(req.account); bad {
			return a
		}
	}
	o.balance = o.balance.Sub(amount)
	o.lastTransactionKey = rand.Text()
	o.cancels = append(o.cancels, cancelRecord{amount: amount, taxFree: req.taxFree, refundable: o.balance,
		reason: req.reason, at: now, transactionKey: o.lastTransactionKey})
	o.status = toss.StatusPartialCanceled
	if o.balance.IsZero() {
		o.status = toss.StatusCanceled
	}
	if o.va != nil && !waiting {
		// The simulated bank refunds at once; before the deposit there is nothing to refund
		// and the account is just closed.
		o.va.refundStatus = "COMPLETED"
		if req.account != nil {
			o.va.refundAccount = req.account
		}
	}
	s.notify(o, now, &o.cancels[len(o.cancels)-1])
	return s.paymentAnswer(o, english)
}

// checkRefundAccount refuses a missing or malformed refundReceiveAccount, which Toss
// requires to cancel a virtual-account payment.
func checkRefundAccount(a *refundAccount) (answer, bool) {
	switch {
	case a == nil:
		return errorAnswer(http.StatusBadRequest, "INVALID_REQUEST", "refundReceiveAccount is required to cancel a virtual-account payment"), true
	case strings.TrimSpace(a.Bank) == "":
		return errorAnswer(http.StatusBadRequest, "INVALID_BANK", "refundReceiveAccount.bank is not a bank"), true
	case !digits(a.AccountNumber, maxAccountNumber):
		return errorAnswer(http.StatusBadRequest, "INVALID_REFUND_ACCOUNT_NUMBER",
			fmt.Sprintf("refundReceiveAccount.accountNumber must be 1 to %d digits, without dashes", maxAccountNumber)), true
	case strings.TrimSpace(a.HolderName) == "" || utf8.RuneCountInString(a.HolderName) > maxHolderName:
		return errorAnswer(http.StatusBadRequest, "INVALID_REFUND_ACCOUNT_INFO",
			fmt.Sprintf("refundReceiveAccount.holderName must be 1 to %d characters", maxHolderName)), true
	}
	return answer{}, false
}

func digits(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
