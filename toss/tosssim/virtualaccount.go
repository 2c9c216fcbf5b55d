package tosssim

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"net/http"
	"time"

	"github.com/go-json-experiment/json/v1"

	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/toss"
)

// Toss's deposit deadlines: 7 days after issue unless the payment asks otherwise, at most 30.
const (
	defaultDepositWindow = 7 * 24 * time.Hour
	maxDepositWindow     = 30 * 24 * time.Hour
)

// accountTerms are what the buyer chose for a virtual account in the widget.
type accountTerms struct {
	dueIn                  time.Duration
	customerName, bankCode string
}

func (s *Simulator) accountTerms(r SessionRequest) accountTerms {
	t := accountTerms{dueIn: r.DueIn, customerName: r.CustomerName, bankCode: r.BankCode}
	if t.dueIn == 0 {
		t.dueIn = s.depositWin
	}
	if t.customerName == "" {
		t.customerName = "구매자"
	}
	if t.bankCode == "" {
		t.bankCode = "20" // 우리은행
	}
	return t
}

// issuedAccount is a virtual account the confirm issued. Guarded by its order's mu.
type issuedAccount struct {
	number, bankCode, customerName string
	dueDate                        time.Time
	expired                        bool
	refundStatus                   string         // NONE until a deposited payment is refunded
	refundAccount                  *refundAccount // where the refund went, once there was one
}

type accountJSON struct {
	AccountType          string             `json:"accountType"`
	AccountNumber        string             `json:"accountNumber"`
	BankCode             string             `json:"bankCode"`
	CustomerName         string             `json:"customerName"`
	DueDate              string             `json:"dueDate"`
	RefundStatus         string             `json:"refundStatus"`
	Expired              bool               `json:"expired"`
	SettlementStatus     string             `json:"settlementStatus"`
	RefundReceiveAccount *refundAccountJSON `json:"refundReceiveAccount"`
}

// refundAccountJSON is virtualAccount.refundReceiveAccount: the buyer's account a refund
// was paid into, its number masked.
type refundAccountJSON struct {
	BankCode      string `json:"bankCode"`
	AccountNumber string `json:"accountNumber"`
	HolderName    string `json:"holderName"`
}

func (a *issuedAccount) render(english bool) *accountJSON {
	accountType := "일반" // a one-off account; "고정" (FIXED) accounts are not simulated
	if english {
		accountType = "NORMAL"
	}
	var refund *refundAccountJSON
	if r := a.refundAccount; r != nil {
		refund = &refundAccountJSON{BankCode: r.Bank, AccountNumber: maskAccount(r.AccountNumber), HolderName: r.HolderName}
	}
	return &accountJSON{
		AccountType:   accountType,
		AccountNumber: a.number,
		BankCode:      a.bankCode,
		CustomerName:  a.customerName,
		DueDate:       tossTime(a.dueDate),
		RefundStatus:  a.refundStatus,
		Expired:       a.expired,
		// Settlement happens days after the deposit, outside what the simulator plays.
		SettlementStatus:     settlementIncomplete,
		RefundReceiveAccount: refund,
	}
}

// issueAccount turns a confirmed virtual-account session into an account waiting for the
// deposit, with its due date and secret. Call with o.mu held.
func (s *Simulator) issueAccount(o *order, now time.Time) {
	o.status = toss.StatusWaitingForDeposit
	o.va = &issuedAccount{number: accountNumber(), bankCode: o.account.bankCode, customerName: o.account.customerName,
		dueDate: now.Add(o.account.dueIn), refundStatus: "NONE"}
	o.secret = "ps_" + rand.Text()
}

// accountNumber is 14 random digits, the length Toss's banks issue.
func accountNumber() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1e14))
	if err != nil {
		panic(fmt.Sprintf("tosssim: crypto/rand: %v", err))
	}
	return fmt.Sprintf("%014d", n)
}

// Deposit plays the buyer transferring amount into the virtual account of paymentKey and
// returns the payment afterwards: DONE, with approvedAt, and webhooks sent. As at Toss's
// banks, a deposit that cannot be taken is refused and changes nothing: an amount other
// than the payment's (400 DEPOSIT_AMOUNT_MISMATCH: Toss's accounts take exactly the
// amount, in one transfer), after the due date (403 VIRTUAL_ACCOUNT_EXPIRED), a payment
// not waiting for a deposit (409 NOT_WAITING_FOR_DEPOSIT), not a virtual account (400
// INVALID_REQUEST), or no such payment (404 NOT_FOUND_PAYMENT); or ErrClosed. Safe for
// concurrent use.
func (s *Simulator) Deposit(paymentKey string, amount decimal.Decimal) (toss.Payment, error) {
	if !s.enter() {
		return toss.Payment{}, ErrClosed
	}
	defer s.exit()
	return decodeAnswer(s.deposit(paymentKey, amount, s.now(), true))
}

// FailDeposit plays a deposit that fails after the payment became DONE (the buyer's
// transfer limit, a bank's network): the payment goes back to WAITING_FOR_DEPOSIT with a
// new transaction key and webhooks are sent, as at Toss; the buyer must deposit again
// before the due date. Errors: 409 NOT_DEPOSITED when the payment is not DONE, 400
// INVALID_REQUEST for another method, 404 NOT_FOUND_PAYMENT, ErrClosed. Safe for
// concurrent use.
func (s *Simulator) FailDeposit(paymentKey string) (toss.Payment, error) {
	if !s.enter() {
		return toss.Payment{}, ErrClosed
	}
	defer s.exit()
	return decodeAnswer(s.failDeposit(paymentKey, s.now(), true))
}

// decodeAnswer turns a simulator answer into the Payment it carries, or a *requestError.
func decodeAnswer(a answer) (toss.Payment, error) {
	if a.status != http.StatusOK {
		var e struct{ Code, Message string }
		_ = json.Unmarshal(a.body, &e)
		return toss.Payment{}, &requestError{a.status, e.Code, e.Message}
	}
	var p toss.Payment
	if err := json.Unmarshal(a.body, &p); err != nil {
		panic(fmt.Sprintf("tosssim: rendered payment does not decode: %v", err))
	}
	return p, nil
}

// accountOrder finds the virtual-account payment of paymentKey and locks it (the caller
// ends with s.orders.unlock); on failure it returns the answer and nothing is locked.
func (s *Simulator) accountOrder(paymentKey string) (*order, *answer) {
	o := s.orders.lockByKey(paymentKey)
	if o == nil {
		return nil, &errPaymentNotFound
	}
	if o.paymentKey != paymentKey || o.status == "" {
		s.orders.unlock(o)
		return nil, &errPaymentNotFound
	}
	if o.method != toss.MethodVirtualAccount {
		s.orders.unlock(o)
		return nil, invalid("payment %s is paid by %s, not by virtual account", paymentKey, o.method)
	}
	return o, nil
}

func (s *Simulator) deposit(paymentKey string, amount decimal.Decimal, now time.Time, english bool) answer {
	o, bad := s.accountOrder(paymentKey)
	if bad != nil {
		s.stats.depositsRefused.Add(1)
		return *bad
	}
	defer s.orders.unlock(o)
	o.expireIfDue(now)
	var refusal *answer
	switch {
	case o.status != toss.StatusWaitingForDeposit || o.va == nil:
		a := errorAnswer(http.StatusConflict, "NOT_WAITING_FOR_DEPOSIT", fmt.Sprintf("the payment is %s, not waiting for a deposit", o.status))
		refusal = &a
	case o.va.expired:
		a := errorAnswer(http.StatusForbidden, "VIRTUAL_ACCOUNT_EXPIRED", "the account's due date "+tossTime(o.va.dueDate)+" has passed")
		refusal = &a
	case !amount.Equal(o.total):
		a := errorAnswer(http.StatusBadRequest, "DEPOSIT_AMOUNT_MISMATCH",
			fmt.Sprintf("the account takes exactly %s KRW in one transfer, not %s", o.total, amount))
		refusal = &a
	}
	if refusal != nil {
		s.stats.depositsRefused.Add(1)
		return *refusal
	}
	o.status = toss.StatusDone
	o.approvedAt = now
	o.lastTransactionKey = rand.Text()
	o.approvals++
	s.stats.approvals.Add(1)
	s.stats.deposits.Add(1)
	s.notify(o, now, nil)
	return answer{status: http.StatusOK, body: o.render(english)}
}

func (s *Simulator) failDeposit(paymentKey string, now time.Time, english bool) answer {
	o, bad := s.accountOrder(paymentKey)
	if bad != nil {
		return *bad
	}
	defer s.orders.unlock(o)
	if o.status != toss.StatusDone {
		return errorAnswer(http.StatusConflict, "NOT_DEPOSITED", fmt.Sprintf("the payment is %s: only a DONE deposit can fail", o.status))
	}
	// The money did not arrive after all: no approval stands, and the account waits again
	// until its (unchanged) due date.
	o.status = toss.StatusWaitingForDeposit
	o.approvedAt = time.Time{}
	o.lastTransactionKey = rand.Text()
	o.approvals--
	o.expireIfDue(now)
	s.stats.depositErrors.Add(1)
	s.notify(o, now, nil)
	return answer{status: http.StatusOK, body: o.render(english)}
}

func (s *Simulator) handleDeposit(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(w, r)
	if err != nil {
		invalid("cannot read body: %v", err).write(w)
		return
	}
	var req struct {
		Amount json.RawMessage `json:"amount"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		invalid("body is not a deposit: %v", err).write(w)
		return
	}
	amount, err := parseAmount(req.Amount)
	if err != nil {
		invalid("amount: %v", err).write(w)
		return
	}
	s.deposit(r.PathValue("paymentKey"), amount, s.now(), isEnglish(r.Header.Get("Accept-Language"))).write(w)
}

func (s *Simulator) handleDepositError(w http.ResponseWriter, r *http.Request) {
	s.failDeposit(r.PathValue("paymentKey"), s.now(), isEnglish(r.Header.Get("Accept-Language"))).write(w)
}
