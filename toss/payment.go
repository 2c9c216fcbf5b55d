package toss

import (
	"bytes"
	"fmt"
	"time"

	"github.com/go-json-experiment/json/v1"

	"github.com/shopspring/decimal"
)

// Method is how the buyer paid, as an English code. Toss answers Korean names unless asked
// for English; both decode to these codes. Values not listed here are kept verbatim.
type Method string

const (
	MethodCard                   Method = "CARD"
	MethodVirtualAccount         Method = "VIRTUAL_ACCOUNT"
	MethodEasyPay                Method = "EASY_PAY"
	MethodMobilePhone            Method = "MOBILE_PHONE"
	MethodTransfer               Method = "TRANSFER"
	MethodCultureGiftCertificate Method = "CULTURE_GIFT_CERTIFICATE"
	MethodBookGiftCertificate    Method = "BOOK_GIFT_CERTIFICATE"
	MethodGameGiftCertificate    Method = "GAME_GIFT_CERTIFICATE"
)

var koreanMethods = map[string]Method{
	"카드":      MethodCard,
	"가상계좌":    MethodVirtualAccount,
	"간편결제":    MethodEasyPay,
	"휴대폰":     MethodMobilePhone,
	"계좌이체":    MethodTransfer,
	"문화상품권":   MethodCultureGiftCertificate,
	"도서문화상품권": MethodBookGiftCertificate,
	"게임문화상품권": MethodGameGiftCertificate,
}

// ParseMethod normalises a method as Toss sends it, Korean or English, to its English code.
// Unknown values are returned verbatim.
func ParseMethod(s string) Method {
	if m, ok := koreanMethods[s]; ok {
		return m
	}
	return Method(s)
}

// Korean is the name Toss uses for the method when no Accept-Language is sent; unknown
// methods are returned verbatim.
func (m Method) Korean() string {
	for k, v := range koreanMethods {
		if v == m {
			return k
		}
	}
	return string(m)
}

// Status is a payment's state at Toss. Values not listed here are kept verbatim.
type Status string

const (
	StatusReady             Status = "READY"
	StatusInProgress        Status = "IN_PROGRESS"
	StatusWaitingForDeposit Status = "WAITING_FOR_DEPOSIT"
	StatusDone              Status = "DONE"
	StatusCanceled          Status = "CANCELED"
	StatusPartialCanceled   Status = "PARTIAL_CANCELED"
	StatusAborted           Status = "ABORTED"
	StatusExpired           Status = "EXPIRED"
)

// Payment is Toss's Payment object, reduced to the fields paystream decides on. Amounts are
// KRW integers. Raw is the exact JSON received.
type Payment struct {
	Version, PaymentKey, Type, OrderID, OrderName, MID, Currency string

	Method Method
	Status Status

	TotalAmount, BalanceAmount decimal.Decimal

	RequestedAt time.Time
	ApprovedAt  *time.Time // nil until approved

	LastTransactionKey string

	Failure *Failure
	Cancels []Cancel

	// VirtualAccount is the account issued to the buyer of a virtual-account (가상계좌)
	// payment; nil for other methods.
	VirtualAccount *VirtualAccount
	// Secret is the per-payment value Toss repeats in DEPOSIT_CALLBACK webhooks, so that a
	// callback can be told from a forgery; empty when Toss sends none.
	Secret string

	Raw json.RawMessage
}

// VirtualAccount is the account a virtual-account payment waits for the deposit on.
type VirtualAccount struct {
	AccountType, AccountNumber, BankCode, CustomerName string
	// DueDate is the deadline for the deposit; Toss refuses deposits after it.
	DueDate time.Time
	// Expired is true once the due date passed without a deposit.
	Expired                        bool
	RefundStatus, SettlementStatus string
}

// Failure is why Toss failed a payment, as recorded on the Payment.
type Failure struct {
	Code, Message string
}

// Cancel is one (full or partial) cancellation recorded on a Payment.
type Cancel struct {
	CancelAmount   decimal.Decimal
	CancelReason   string
	CanceledAt     time.Time
	TransactionKey string
	CancelStatus   string
}

// UnmarshalJSON decodes a Toss Payment object (for example the data of a webhook) with the
// same rules as the Client; errors wrap ErrMalformedResponse.
func (p *Payment) UnmarshalJSON(b []byte) error {
	parsed, err := parsePayment(b)
	if err != nil {
		return err
	}
	*p = parsed
	return nil
}

type wirePayment struct {
	Version            string          `json:"version"`
	PaymentKey         string          `json:"paymentKey"`
	Type               string          `json:"type"`
	OrderID            string          `json:"orderId"`
	OrderName          string          `json:"orderName"`
	MID                string          `json:"mId"`
	Currency           string          `json:"currency"`
	Method             string          `json:"method"`
	Status             string          `json:"status"`
	TotalAmount        json.RawMessage `json:"totalAmount"`
	BalanceAmount      json.RawMessage `json:"balanceAmount"`
	RequestedAt        string          `json:"requestedAt"`
	ApprovedAt         string          `json:"approvedAt"`
	LastTransactionKey string          `json:"lastTransactionKey"`
	Failure            *Failure        `json:"failure"`
	Cancels            []wireCancel    `json:"cancels"`
	VirtualAccount     *struct {
		AccountType      string `json:"accountType"`
		AccountNumber    string `json:"accountNumber"`
		BankCode         string `json:"bankCode"`
		CustomerName     string `json:"customerName"`
		DueDate          string `json:"dueDate"`
		Expired          bool   `json:"expired"`
		RefundStatus     string `json:"refundStatus"`
		SettlementStatus string `json:"settlementStatus"`
	} `json:"virtualAccount"`
	Secret string `json:"secret"`
}

type wireCancel struct {
	CancelAmount   json.RawMessage `json:"cancelAmount"`
	CancelReason   string          `json:"cancelReason"`
	CanceledAt     string          `json:"canceledAt"`
	TransactionKey string          `json:"transactionKey"`
	CancelStatus   string          `json:"cancelStatus"`
}

func parsePayment(body []byte) (Payment, error) {
	p, err := decodePayment(body)
	if err != nil {
		return Payment{}, fmt.Errorf("%w: %w", ErrMalformedResponse, err)
	}
	return p, nil
}

func decodePayment(body []byte) (Payment, error) {
	var w wirePayment
	if err := json.Unmarshal(body, &w); err != nil {
		return Payment{}, err
	}
	p := Payment{
		Version:            w.Version,
		PaymentKey:         w.PaymentKey,
		Type:               w.Type,
		OrderID:            w.OrderID,
		OrderName:          w.OrderName,
		MID:                w.MID,
		Currency:           w.Currency,
		Method:             ParseMethod(w.Method),
		Status:             Status(w.Status),
		LastTransactionKey: w.LastTransactionKey,
		Failure:            w.Failure,
		Secret:             w.Secret,
		Raw:                bytes.Clone(body),
	}
	if p.Status == StatusDone && (p.PaymentKey == "" || p.OrderID == "") {
		return Payment{}, fmt.Errorf("DONE payment without paymentKey or orderId")
	}
	var err error
	if p.TotalAmount, err = parseKRW("totalAmount", w.TotalAmount, true); err != nil {
		return Payment{}, err
	}
	if p.BalanceAmount, err = parseKRW("balanceAmount", w.BalanceAmount, false); err != nil {
		return Payment{}, err
	}
	if p.RequestedAt, err = parseTime("requestedAt", w.RequestedAt); err != nil {
		return Payment{}, err
	}
	if w.ApprovedAt != "" {
		t, err := parseTime("approvedAt", w.ApprovedAt)
		if err != nil {
			return Payment{}, err
		}
		p.ApprovedAt = &t
	}
	if va := w.VirtualAccount; va != nil {
		p.VirtualAccount = &VirtualAccount{AccountType: va.AccountType, AccountNumber: va.AccountNumber,
			BankCode: va.BankCode, CustomerName: va.CustomerName, Expired: va.Expired,
			RefundStatus: va.RefundStatus, SettlementStatus: va.SettlementStatus}
		if p.VirtualAccount.DueDate, err = parseTime("virtualAccount.dueDate", va.DueDate); err != nil {
			return Payment{}, err
		}
	}
	for i, wc := range w.Cancels {
		c := Cancel{CancelReason: wc.CancelReason, TransactionKey: wc.TransactionKey, CancelStatus: wc.CancelStatus}
		if c.CancelAmount, err = parseKRW(fmt.Sprintf("cancels[%d].cancelAmount", i), wc.CancelAmount, true); err != nil {
			return Payment{}, err
		}
		if c.CanceledAt, err = parseTime(fmt.Sprintf("cancels[%d].canceledAt", i), wc.CanceledAt); err != nil {
			return Payment{}, err
		}
		p.Cancels = append(p.Cancels, c)
	}
	return p, nil
}

// parseKRW reads a KRW amount from its JSON text: a number (not a string), integer-valued
// and not negative. Absent or null is an error when required, else zero.
func parseKRW(field string, raw json.RawMessage, required bool) (decimal.Decimal, error) {
	if len(raw) == 0 || string(raw) == "null" {
		if required {
			return decimal.Decimal{}, fmt.Errorf("%s missing", field)
		}
		return decimal.Zero, nil
	}
	if raw[0] == '"' {
		return decimal.Decimal{}, fmt.Errorf("%s is a string, want a number", field)
	}
	d, err := decimal.NewFromString(string(raw))
	if err != nil {
		return decimal.Decimal{}, fmt.Errorf("%s: %w", field, err)
	}
	if !d.IsInteger() || d.IsNegative() {
		return decimal.Decimal{}, fmt.Errorf("%s %s is not a non-negative integer", field, raw)
	}
	return d, nil
}

// parseTime reads an ISO-8601 timestamp with offset; empty means "not given".
func parseTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", field, err)
	}
	return t, nil
}
