package toss

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/go-json-experiment/json/v1"

	"github.com/shopspring/decimal"
)

// Toss's reconciliation APIs (거래대사, 정산대사): what Toss recorded, a period at a time.
//
//	GET /v1/transactions?startDate=…&endDate=…&startingAfter=…&limit=…
//	GET /v1/settlements?startDate=…&endDate=…&dateType=soldDate|paidOutDate&page=…&size=…
//
// Both answer a JSON array. Transactions take date-times in KST without an offset
// ("2022-01-01T00:00:00"), both ends inclusive, and page by cursor: the next page starts
// after the last transactionKey of the previous one. Settlements take dates ("2022-01-01"),
// both ends inclusive, and page by number from 1.

// KST is Korea Standard Time, the zone of Toss's dates.
var KST = time.FixedZone("KST", 9*60*60)

const (
	// maxListBody bounds one page of transactions or settlements (10 000 rows of ~0.6 KiB).
	maxListBody = 16 << 20
	// MaxTransactionsLimit is the largest page of transactions Toss serves.
	MaxTransactionsLimit = 5000
	// MaxSettlementsSize is the largest page of settlements Toss serves.
	MaxSettlementsSize = 10000

	queryDateTime = "2006-01-02T15:04:05"
	queryDate     = "2006-01-02"
)

// Transaction is one approval or cancel in Toss's transaction list. Amount is what moved,
// positive for approvals and cancels alike; Status says which it was (DONE for an
// approval, CANCELED or PARTIAL_CANCELED for a cancel, WAITING_FOR_DEPOSIT for a deposit
// withdrawn). Raw holds the exact JSON of the row.
type Transaction struct {
	MID, TransactionKey, PaymentKey, OrderID, CustomerKey, ReceiptURL, Currency string

	Method        Method
	UseEscrow     bool
	Status        Status
	TransactionAt time.Time
	Amount        decimal.Decimal

	Raw json.RawMessage
}

// TransactionQuery selects a page of transactions: those at Start … End (inclusive, to the
// second), after the transaction StartingAfter ("" from the first), at most Limit (1 to
// MaxTransactionsLimit; 0 lets Toss choose, 100).
type TransactionQuery struct {
	Start, End    time.Time
	StartingAfter string
	Limit         int
}

// Transactions calls GET /v1/transactions for one page. Errors: *APIError for a non-2xx
// answer, ErrMalformedResponse for an undecodable 2xx one, anything else a transport failure.
func (c *Client) Transactions(ctx context.Context, q TransactionQuery) ([]Transaction, error) {
	v := url.Values{}
	v.Set("startDate", q.Start.In(KST).Format(queryDateTime))
	v.Set("endDate", q.End.In(KST).Format(queryDateTime))
	if q.StartingAfter != "" {
		v.Set("startingAfter", q.StartingAfter)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	raw, err := c.send(ctx, http.MethodGet, "/v1/transactions?"+v.Encode(), nil, "", maxListBody)
	if err != nil {
		return nil, fmt.Errorf("toss transactions: %w", err)
	}
	var rows []json.RawMessage
	if err := json.Unmarshal(raw, &rows); err != nil {
		return nil, fmt.Errorf("toss transactions: %w: %w", ErrMalformedResponse, err)
	}
	out := make([]Transaction, 0, len(rows))
	for i, row := range rows {
		t, err := decodeTransaction(row)
		if err != nil {
			return nil, fmt.Errorf("toss transactions: %w: row %d: %w", ErrMalformedResponse, i, err)
		}
		out = append(out, t)
	}
	return out, nil
}

type wireTransaction struct {
	MID            string          `json:"mId"`
	TransactionKey string          `json:"transactionKey"`
	PaymentKey     string          `json:"paymentKey"`
	OrderID        string          `json:"orderId"`
	Method         string          `json:"method"`
	CustomerKey    *string         `json:"customerKey"`
	UseEscrow      bool            `json:"useEscrow"`
	ReceiptURL     string          `json:"receiptUrl"`
	Status         string          `json:"status"`
	TransactionAt  string          `json:"transactionAt"`
	Currency       string          `json:"currency"`
	Amount         json.RawMessage `json:"amount"`
}

func decodeTransaction(row []byte) (Transaction, error) {
	var w wireTransaction
	if err := json.Unmarshal(row, &w); err != nil {
		return Transaction{}, err
	}
	if w.TransactionKey == "" || w.OrderID == "" {
		return Transaction{}, fmt.Errorf("transaction without transactionKey or orderId")
	}
	t := Transaction{MID: w.MID, TransactionKey: w.TransactionKey, PaymentKey: w.PaymentKey, OrderID: w.OrderID,
		ReceiptURL: w.ReceiptURL, Currency: w.Currency, Method: ParseMethod(w.Method), UseEscrow: w.UseEscrow,
		Status: Status(w.Status), Raw: bytes.Clone(row)}
	if w.CustomerKey != nil {
		t.CustomerKey = *w.CustomerKey
	}
	var err error
	if t.Amount, err = parseKRW("amount", w.Amount, true); err != nil {
		return Transaction{}, err
	}
	if t.TransactionAt, err = parseTime("transactionAt", w.TransactionAt); err != nil {
		return Transaction{}, err
	}
	return t, nil
}

// AllTransactions reads every transaction at start … end, a page of limit at a time (0:
// MaxTransactionsLimit), following the cursor; page, when set, is told how many it has
// read so far after each page. Errors as for Transactions.
func (c *Client) AllTransactions(ctx context.Context, start, end time.Time, limit int, page func(read int)) ([]Transaction, error) {
	if limit <= 0 || limit > MaxTransactionsLimit {
		limit = MaxTransactionsLimit
	}
	var all []Transaction
	after := ""
	for {
		got, err := c.Transactions(ctx, TransactionQuery{Start: start, End: end, StartingAfter: after, Limit: limit})
		if err != nil {
			return nil, err
		}
		all = append(all, got...)
		if page != nil {
			page(len(all))
		}
		if len(got) < limit {
			return all, nil
		}
		after = got[len(got)-1].TransactionKey
	}
}

// DateType says which date of a settlement a settlements query filters on.
type DateType string

const (
	SoldDate    DateType = "soldDate"    // the day the approval or cancel happened
	PaidOutDate DateType = "paidOutDate" // the day Toss pays the merchant
)

// Settlement is Toss's settlement of one transaction: what it keeps (Fees, whose supply
// amount and VAT are SupplyAmount and VAT) and what it pays out (PayOutAmount, on
// PaidOutDate). Amounts are signed KRW: a cancel's row is negative (Amount is minus the
// cancel, and the fees it gives back are negative too) and carries Cancel. For every row
// Amount = PayOutAmount + SupplyAmount + VAT + InterestFee. SoldDate and PaidOutDate are
// dates in KST (midnight KST). Raw holds the exact JSON of the row.
type Settlement struct {
	MID, PaymentKey, TransactionKey, OrderID, Currency string

	Method                                               Method
	Amount, InterestFee, SupplyAmount, VAT, PayOutAmount decimal.Decimal
	Fees                                                 []SettlementFee
	ApprovedAt                                           time.Time
	SoldDate, PaidOutDate                                time.Time
	Cancel                                               *SettlementCancel

	Raw json.RawMessage
}

// SettlementFee is one fee Toss charged, by type (e.g. BASE).
type SettlementFee struct {
	Type string
	Fee  decimal.Decimal
}

// SettlementCancel is the cancel a negative settlement row settles.
type SettlementCancel struct {
	CancelAmount   decimal.Decimal
	TransactionKey string
	CanceledAt     time.Time
}

// SettlementQuery selects a page of settlements whose DateType date (default SoldDate) is
// Start … End, dates in KST, both inclusive; Page counts from 1 (0: 1), Size is 1 to
// MaxSettlementsSize (0 lets Toss choose, 100).
type SettlementQuery struct {
	Start, End time.Time
	DateType   DateType
	Page, Size int
}

// Settlements calls GET /v1/settlements for one page. Errors as for Transactions.
func (c *Client) Settlements(ctx context.Context, q SettlementQuery) ([]Settlement, error) {
	v := url.Values{}
	v.Set("startDate", q.Start.In(KST).Format(queryDate))
	v.Set("endDate", q.End.In(KST).Format(queryDate))
	if q.DateType != "" {
		v.Set("dateType", string(q.DateType))
	}
	if q.Page > 0 {
		v.Set("page", strconv.Itoa(q.Page))
	}
	if q.Size > 0 {
		v.Set("size", strconv.Itoa(q.Size))
	}
	raw, err := c.send(ctx, http.MethodGet, "/v1/settlements?"+v.Encode(), nil, "", maxListBody)
	if err != nil {
		return nil, fmt.Errorf("toss settlements: %w", err)
	}
	var rows []json.RawMessage
	if err := json.Unmarshal(raw, &rows); err != nil {
		return nil, fmt.Errorf("toss settlements: %w: %w", ErrMalformedResponse, err)
	}
	out := make([]Settlement, 0, len(rows))
	for i, row := range rows {
		s, err := decodeSettlement(row)
		if err != nil {
			return nil, fmt.Errorf("toss settlements: %w: row %d: %w", ErrMalformedResponse, i, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// AllSettlements reads every settlement of the query's dates, a page of size at a time (0:
// MaxSettlementsSize); page, when set, is told how many it has read after each page.
// Errors as for Transactions.
func (c *Client) AllSettlements(ctx context.Context, start, end time.Time, dateType DateType, size int, page func(read int)) ([]Settlement, error) {
	if size <= 0 || size > MaxSettlementsSize {
		size = MaxSettlementsSize
	}
	var all []Settlement
	for n := 1; ; n++ {
		got, err := c.Settlements(ctx, SettlementQuery{Start: start, End: end, DateType: dateType, Page: n, Size: size})
		if err != nil {
			return nil, err
		}
		all = append(all, got...)
		if page != nil {
			page(len(all))
		}
		if len(got) < size {
			return all, nil
		}
	}
}

type wireSettlement struct {
	MID            string          `json:"mId"`
	PaymentKey     string          `json:"paymentKey"`
	TransactionKey string          `json:"transactionKey"`
	OrderID        string          `json:"orderId"`
	Currency       string          `json:"currency"`
	Method         string          `json:"method"`
	Amount         json.RawMessage `json:"amount"`
	InterestFee    json.RawMessage `json:"interestFee"`
	Fees           []struct {
		Type string          `json:"type"`
		Fee  json.RawMessage `json:"fee"`
	} `json:"fees"`
	SupplyAmount json.RawMessage `json:"supplyAmount"`
	VAT          json.RawMessage `json:"vat"`
	PayOutAmount json.RawMessage `json:"payOutAmount"`
	ApprovedAt   string          `json:"approvedAt"`
	SoldDate     string          `json:"soldDate"`
	PaidOutDate  string          `json:"paidOutDate"`
	Cancel       *struct {
		CancelAmount   json.RawMessage `json:"cancelAmount"`
		TransactionKey string          `json:"transactionKey"`
		CanceledAt     string          `json:"canceledAt"`
	} `json:"cancel"`
}

func decodeSettlement(row []byte) (Settlement, error) {
	var w wireSettlement
	if err := json.Unmarshal(row, &w); err != nil {
		return Settlement{}, err
	}
	if w.TransactionKey == "" || w.OrderID == "" {
		return Settlement{}, fmt.Errorf("settlement without transactionKey or orderId")
	}
	s := Settlement{MID: w.MID, PaymentKey: w.PaymentKey, TransactionKey: w.TransactionKey, OrderID: w.OrderID,
		Currency: w.Currency, Method: ParseMethod(w.Method), Raw: bytes.Clone(row)}
	var err error
	for _, f := range []struct {
		name     string
		raw      json.RawMessage
		into     *decimal.Decimal
		required bool
	}{{"amount", w.Amount, &s.Amount, true}, {"interestFee", w.InterestFee, &s.InterestFee, false},
		{"supplyAmount", w.SupplyAmount, &s.SupplyAmount, false}, {"vat", w.VAT, &s.VAT, false},
		{"payOutAmount", w.PayOutAmount, &s.PayOutAmount, true}} {
		if *f.into, err = parseSignedKRW(f.name, f.raw, f.required); err != nil {
			return Settlement{}, err
		}
	}
	for i, f := range w.Fees {
		fee, err := parseSignedKRW(fmt.Sprintf("fees[%d].fee", i), f.Fee, true)
		if err != nil {
			return Settlement{}, err
		}
		s.Fees = append(s.Fees, SettlementFee{Type: f.Type, Fee: fee})
	}
	if s.ApprovedAt, err = parseTime("approvedAt", w.ApprovedAt); err != nil {
		return Settlement{}, err
	}
	if s.SoldDate, err = parseDate("soldDate", w.SoldDate); err != nil {
		return Settlement{}, err
	}
	if s.PaidOutDate, err = parseDate("paidOutDate", w.PaidOutDate); err != nil {
		return Settlement{}, err
	}
	if c := w.Cancel; c != nil {
		s.Cancel = &SettlementCancel{TransactionKey: c.TransactionKey}
		if s.Cancel.CancelAmount, err = parseKRW("cancel.cancelAmount", c.CancelAmount, true); err != nil {
			return Settlement{}, err
		}
		if s.Cancel.CanceledAt, err = parseTime("cancel.canceledAt", c.CanceledAt); err != nil {
			return Settlement{}, err
		}
	}
	return s, nil
}

// parseSignedKRW reads a KRW amount that may be negative (settlements of cancels).
func parseSignedKRW(field string, raw json.RawMessage, required bool) (decimal.Decimal, error) {
	if len(raw) > 0 && raw[0] == '-' {
		d, err := parseKRW(field, raw[1:], required)
		return d.Neg(), err
	}
	return parseKRW(field, raw, required)
}

// parseDate reads a KST date ("2022-01-01"); empty means "not given".
func parseDate(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.ParseInLocation(queryDate, s, KST)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", field, err)
	}
	return t, nil
}
