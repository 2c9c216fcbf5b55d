package tosssim

import (
	"net/http"
	"strconv"
	"time"

	"github.com/go-json-experiment/json/v1"

	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/toss"
)

// Settlements: the simulator settles every transaction of its journal by a fee contract
// like a small merchant's with Toss. Toss publishes its standard rates, not its rounding,
// so these are the simulator's choices:
//
//	CARD, EASY_PAY               3.4 %   paid out 2 business days after the sale
//	MOBILE_PHONE                 3.3 %   paid out on the 15th of the next month
//	TRANSFER                     2.0 %, at least 200 KRW    1 business day
//	VIRTUAL_ACCOUNT              400 KRW a deposit          1 business day
//	gift certificates            5.0 %   2 business days
//
// The fee is truncated to the won and VAT is 10 % of it, truncated; the row's supplyAmount
// is the fee and vat its VAT, and payOutAmount = amount − supplyAmount − vat (no interest
// fee: no installments are interest-free here). A cancel's row is negative: minus the
// cancel, and the percentage fee on the cancelled amount given back (a fixed or minimum
// fee is not); it is deducted from the payout of its own sale day. A withdrawn deposit
// takes back the deposit's row. Business days skip Saturdays and Sundays (no holidays).

type feeRule struct {
	rate      decimal.Decimal // of the amount
	least     decimal.Decimal // the fee is at least this (not given back by cancels)
	fixed     decimal.Decimal // a fixed fee per approval (not given back by cancels)
	payoutDay func(sold time.Time) time.Time
}

var (
	vatRate = decimal.RequireFromString("0.1")

	afterBusinessDays = func(n int) func(time.Time) time.Time {
		return func(d time.Time) time.Time {
			for left := n; left > 0; {
				d = d.AddDate(0, 0, 1)
				if wd := d.Weekday(); wd != time.Saturday && wd != time.Sunday {
					left--
				}
			}
			return d
		}
	}
	nextMonth15th = func(d time.Time) time.Time {
		return time.Date(d.Year(), d.Month()+1, 15, 0, 0, 0, 0, d.Location())
	}

	feeRules = map[toss.Method]feeRule{
		toss.MethodCard:                   {rate: decimal.RequireFromString("0.034"), payoutDay: afterBusinessDays(2)},
		toss.MethodEasyPay:                {rate: decimal.RequireFromString("0.034"), payoutDay: afterBusinessDays(2)},
		toss.MethodMobilePhone:            {rate: decimal.RequireFromString("0.033"), payoutDay: nextMonth15th},
		toss.MethodTransfer:               {rate: decimal.RequireFromString("0.02"), least: decimal.NewFromInt(200), payoutDay: afterBusinessDays(1)},
		toss.MethodVirtualAccount:         {fixed: decimal.NewFromInt(400), payoutDay: afterBusinessDays(1)},
		toss.MethodCultureGiftCertificate: {rate: decimal.RequireFromString("0.05"), payoutDay: afterBusinessDays(2)},
		toss.MethodBookGiftCertificate:    {rate: decimal.RequireFromString("0.05"), payoutDay: afterBusinessDays(2)},
		toss.MethodGameGiftCertificate:    {rate: decimal.RequireFromString("0.05"), payoutDay: afterBusinessDays(2)},
	}
)

// fee is what Toss keeps of a transaction, signed as its row: positive for an approval,
// negative (given back) for a cancel or a withdrawn deposit.
func (r feeRule) fee(t txRecord) decimal.Decimal {
	pct := t.amount.Mul(r.rate).Truncate(0)
	switch {
	case t.cancel:
		return pct.Neg()
	case t.status == toss.StatusWaitingForDeposit: // the deposit's own row, taken back
		return decimal.Max(pct, r.least).Add(r.fixed).Neg()
	}
	return decimal.Max(pct, r.least).Add(r.fixed)
}

func ruleFor(m toss.Method) feeRule {
	if r, ok := feeRules[m]; ok {
		return r
	}
	return feeRules[toss.MethodCard]
}

// soldDate is the KST day a transaction happened.
func soldDate(t time.Time) time.Time {
	k := t.In(kst)
	return time.Date(k.Year(), k.Month(), k.Day(), 0, 0, 0, 0, kst)
}

// settlementJSON is Toss's Settlement object.
type settlementJSON struct {
	MID            string      `json:"mId"`
	PaymentKey     string      `json:"paymentKey"`
	TransactionKey string      `json:"transactionKey"`
	OrderID        string      `json:"orderId"`
	Currency       string      `json:"currency"`
	Method         string      `json:"method"`
	Amount         json.Number `json:"amount"`
	InterestFee    json.Number `json:"interestFee"`
	Fees           []struct {
		Type string      `json:"type"`
		Fee  json.Number `json:"fee"`
	} `json:"fees"`
	SupplyAmount json.Number `json:"supplyAmount"`
	VAT          json.Number `json:"vat"`
	PayOutAmount json.Number `json:"payOutAmount"`
	ApprovedAt   *string     `json:"approvedAt"`
	SoldDate     string      `json:"soldDate"`
	PaidOutDate  string      `json:"paidOutDate"`
	Cancel       *struct {
		CancelAmount   json.Number `json:"cancelAmount"`
		TransactionKey string      `json:"transactionKey"`
		CanceledAt     string      `json:"canceledAt"`
	} `json:"cancel"`
}

// settle is t's settlement row.
func (t txRecord) settle(english bool) settlementJSON {
	r := ruleFor(t.method)
	amount := t.amount
	if t.cancel || t.status == toss.StatusWaitingForDeposit {
		amount = amount.Neg()
	}
	fee := r.fee(t)
	vat := fee.Abs().Mul(vatRate).Truncate(0)
	if fee.IsNegative() {
		vat = vat.Neg()
	}
	payOut := amount.Sub(fee).Sub(vat)
	if t.payOut != nil {
		payOut = *t.payOut
	}
	sold := soldDate(t.at)
	method := t.method.Korean()
	if english {
		method = string(t.method)
	}
	s := settlementJSON{MID: "tosssim", PaymentKey: t.paymentKey, TransactionKey: t.key, OrderID: t.orderID,
		Currency: "KRW", Method: method, Amount: json.Number(amount.String()), InterestFee: "0",
		SupplyAmount: json.Number(fee.String()), VAT: json.Number(vat.String()), PayOutAmount: json.Number(payOut.String()),
		SoldDate: sold.Format("2006-01-02"), PaidOutDate: r.payoutDay(sold).Format("2006-01-02")}
	s.Fees = append(s.Fees, struct {
		Type string      `json:"type"`
		Fee  json.Number `json:"fee"`
	}{"BASE", json.Number(fee.String())})
	if !t.approvedAt.IsZero() {
		at := tossTime(t.approvedAt)
		s.ApprovedAt = &at
	}
	if t.cancel {
		s.Cancel = &struct {
			CancelAmount   json.Number `json:"cancelAmount"`
			TransactionKey string      `json:"transactionKey"`
			CanceledAt     string      `json:"canceledAt"`
		}{json.Number(t.amount.String()), t.key, tossTime(t.at)}
	}
	return s
}

// Limits of GET /v1/settlements.
const (
	defaultSettlementsSize = 100
	maxSettlementsSize     = 10000
)

func (s *Simulator) handleSettlements(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	start, err1 := time.ParseInLocation("2006-01-02", q.Get("startDate"), kst)
	end, err2 := time.ParseInLocation("2006-01-02", q.Get("endDate"), kst)
	dateType := q.Get("dateType")
	page, size := 1, defaultSettlementsSize
	var bad *answer
	if v := q.Get("page"); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 1 {
			bad = invalid("page must be a whole number from 1")
		} else {
			page = n
		}
	}
	if v := q.Get("size"); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 1 || n > maxSettlementsSize {
			bad = invalid("size must be 1 to %d", maxSettlementsSize)
		} else {
			size = n
		}
	}
	switch {
	case err1 != nil || err2 != nil:
		bad = invalid("startDate and endDate are required, as yyyy-MM-dd")
	case end.Before(start):
		bad = invalid("endDate is before startDate")
	case dateType != "" && dateType != "soldDate" && dateType != "paidOutDate":
		bad = invalid("dateType must be soldDate or paidOutDate")
	}
	s.serve(w, r, apiCall{invalid: bad, exec: func(_ time.Time, english bool) answer {
		rows := []settlementJSON{}
		// The sales to look at: those of the range, and for payouts in it the sales up to
		// two months before it, as none is paid out later than the 15th of the next month.
		lo, hi := start, end.AddDate(0, 0, 1).Add(-time.Nanosecond)
		if dateType == "paidOutDate" {
			lo = start.AddDate(0, -2, 0)
		}
		for _, t := range s.txs.visible(lo, hi, func(*txRecord) bool { return true }) {
			day := soldDate(t.at)
			if dateType == "paidOutDate" {
				day = ruleFor(t.method).payoutDay(day)
			}
			if day.Before(start) || day.After(end) {
				continue
			}
			rows = append(rows, t.settle(english))
		}
		from := min((page-1)*size, len(rows))
		return answer{status: http.StatusOK, body: mustJSON(rows[from:min(from+size, len(rows))])}
	}})
}
