package tosssim_test

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/go-json-experiment/json/v1"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/toss"
	"github.com/paystream/paystream/toss/tosssim"
)

// The fields of Toss's Payment object, version 2022-11-16, as Toss's reference
// (docs.tosspayments.com/reference, "Payment 객체") lists them. Toss sends every one of
// them, null where it has nothing; additive fields Toss ships later without a new version
// are not listed.
var (
	paymentFields = []string{"version", "paymentKey", "type", "orderId", "orderName", "mId", "currency", "method",
		"totalAmount", "balanceAmount", "status", "requestedAt", "approvedAt", "useEscrow", "lastTransactionKey",
		"suppliedAmount", "vat", "cultureExpense", "taxFreeAmount", "taxExemptionAmount", "cancels",
		"isPartialCancelable", "card", "virtualAccount", "mobilePhone", "giftCertificate", "transfer", "metadata",
		"receipt", "checkout", "easyPay", "country", "failure", "cashReceipt", "cashReceipts", "discount", "secret"}
	cardFields = []string{"amount", "issuerCode", "acquirerCode", "number", "installmentPlanMonths", "approveNo",
		"useCardPoint", "cardType", "ownerType", "acquireStatus", "isInterestFree", "interestPayer"}
	accountFields = []string{"accountType", "accountNumber", "bankCode", "customerName", "dueDate", "refundStatus",
		"expired", "settlementStatus", "refundReceiveAccount"}
	refundAccountFields = []string{"bankCode", "accountNumber", "holderName"}
	easyPayFields       = []string{"provider", "amount", "discountAmount"}
	transferFields      = []string{"bankCode", "settlementStatus"}
	mobilePhoneFields   = []string{"customerMobilePhone", "settlementStatus", "receiptUrl"}
	giftFields          = []string{"approveNo", "settlementStatus"}
	cancelFields        = []string{"cancelAmount", "cancelReason", "taxFreeAmount", "taxExemptionAmount",
		"refundableAmount", "easyPayDiscountAmount", "canceledAt", "transactionKey", "receiptKey", "cancelStatus",
		"cancelRequestId"}

	// methodObjects names the member that describes each method; the others are null.
	methodObjects = map[toss.Method]string{
		toss.MethodCard:                   "card",
		toss.MethodVirtualAccount:         "virtualAccount",
		toss.MethodEasyPay:                "easyPay",
		toss.MethodTransfer:               "transfer",
		toss.MethodMobilePhone:            "mobilePhone",
		toss.MethodCultureGiftCertificate: "giftCertificate",
		toss.MethodBookGiftCertificate:    "giftCertificate",
		toss.MethodGameGiftCertificate:    "giftCertificate",
	}
)

// rendered is one Payment object as the simulator answered it.
type rendered struct {
	name    string
	method  toss.Method
	english bool
	raw     []byte
	json    map[string]any
}

// renderPayments drives payments of every method the simulator plays through the states
// that change the object's shape and returns each answer, Korean and English.
func renderPayments(ctx context.Context) []rendered {
	GinkgoHelper()
	h := newHarness(tosssim.Options{})
	var out []rendered
	n := 0
	keep := func(name string, m toss.Method, r reply, english bool) {
		GinkgoHelper()
		Expect(r.status).To(Equal(http.StatusOK), "%s: %s", name, r.raw)
		out = append(out, rendered{name: name, method: m, english: english, raw: r.raw, json: r.json})
	}
	// both looks key up in Korean and in English.
	both := func(name string, m toss.Method, key string) {
		GinkgoHelper()
		keep(name, m, h.send(ctx, "GET", "/v1/payments/"+key, ""), false)
		keep(name+" (en)", m, h.send(ctx, "GET", "/v1/payments/"+key, "", "Accept-Language", "en-US"), true)
	}
	session := func(m toss.Method, amount int) (key, orderID string) {
		GinkgoHelper()
		n++
		orderID = "order-shape-" + strconv.Itoa(n)
		r := h.send(ctx, "POST", "/sim/v1/sessions", `{"orderId":"`+orderID+`","amount":`+strconv.Itoa(amount)+`,"method":"`+m.Korean()+`"}`)
		Expect(r.status).To(Equal(http.StatusCreated), "%s", r.raw)
		return r.json["paymentKey"].(string), orderID
	}
	confirmed := func(m toss.Method, amount int) string {
		GinkgoHelper()
		key, orderID := session(m, amount)
		r := h.send(ctx, "POST", "/v1/payments/confirm", `{"paymentKey":"`+key+`","orderId":"`+orderID+`","amount":`+strconv.Itoa(amount)+`}`)
		keep("confirmed "+string(m), m, r, false)
		return key
	}
	cancel := func(key, body string) reply {
		GinkgoHelper()
		h.now.Advance(2 * time.Second) // past Toss's consecutive-cancel window
		return h.send(ctx, "POST", "/v1/payments/"+key+"/cancel", body)
	}

	for _, m := range []toss.Method{toss.MethodCard, toss.MethodEasyPay, toss.MethodTransfer,
		toss.MethodMobilePhone, toss.MethodCultureGiftCertificate} {
		key := confirmed(m, 15000)
		both("done "+string(m), m, key)
		keep("partially canceled "+string(m), m, cancel(key, `{"cancelReason":"one returned","cancelAmount":5000}`), false)
		keep("canceled "+string(m), m, cancel(key, `{"cancelReason":"all returned"}`), false)
		both("canceled "+string(m), m, key)
	}

	va := confirmed(toss.MethodVirtualAccount, 30000)
	both("waiting "+string(toss.MethodVirtualAccount), toss.MethodVirtualAccount, va)
	p, err := h.sim.Deposit(va, decimal.NewFromInt(30000))
	Expect(err).NotTo(HaveOccurred())
	Expect(p.Status).To(Equal(toss.StatusDone))
	both("deposited "+string(toss.MethodVirtualAccount), toss.MethodVirtualAccount, va)
	keep("refunded "+string(toss.MethodVirtualAccount), toss.MethodVirtualAccount, cancel(va,
		`{"cancelReason":"returned","refundReceiveAccount":{"bank":"88","accountNumber":"11012345678","holderName":"김토스"}}`), false)
	both("refunded "+string(toss.MethodVirtualAccount), toss.MethodVirtualAccount, va)

	expired, _ := session(toss.MethodCard, 15000)
	h.now.Advance(11 * time.Minute)
	both("expired "+string(toss.MethodCard), toss.MethodCard, expired)
	return out
}

func keysOf(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }

func sortedCopy(s []string) []string { return slices.Sorted(slices.Values(s)) }

// object is member name of m as an object, failing when it is anything else.
func object(m map[string]any, name string) map[string]any {
	GinkgoHelper()
	o, ok := m[name].(map[string]any)
	Expect(ok).To(BeTrue(), "%s is %#v, want an object", name, m[name])
	return o
}

var _ = forEachStorage("the Payment object (Toss's version 2022-11-16)", func(_ storage) {
	var payments []rendered

	BeforeEach(func(ctx SpecContext) { payments = renderPayments(ctx) })

	It("has every field of the version, and only those, whatever the method and state", func() {
		for _, p := range payments {
			Expect(keysOf(p.json)).To(Equal(sortedCopy(paymentFields)), "%s: %s", p.name, p.raw)
			Expect(p.json).To(HaveKeyWithValue("version", "2022-11-16"), p.name)
			for _, null := range []string{"metadata", "cashReceipt", "cashReceipts", "discount"} {
				Expect(p.json).To(HaveKeyWithValue(null, BeNil()), "%s: %s", p.name, null)
			}
			Expect(p.json).To(HaveKeyWithValue("useEscrow", false), p.name)
			Expect(p.json).To(HaveKeyWithValue("cultureExpense", false), p.name)
			Expect(p.json).To(HaveKeyWithValue("taxExemptionAmount", json.Number("0")), p.name)
			Expect(p.json).To(HaveKeyWithValue("country", "KR"), p.name)
		}
	})

	It("describes the method in its own member and leaves the other methods' null", func() {
		for _, p := range payments {
			own := methodObjects[p.method]
			if p.json["status"] == string(toss.StatusExpired) {
				own = "" // never confirmed: nothing was paid by any method
			}
			for _, member := range []string{"card", "virtualAccount", "easyPay", "transfer", "mobilePhone", "giftCertificate"} {
				if member == own {
					Expect(p.json[member]).To(BeAssignableToTypeOf(map[string]any{}), "%s: %s in %s", p.name, member, p.raw)
				} else {
					Expect(p.json).To(HaveKeyWithValue(member, BeNil()), "%s: %s", p.name, member)
				}
			}
		}
	})

	It("gives each method's member every field Toss lists for it", func() {
		fields := map[string][]string{"card": cardFields, "virtualAccount": accountFields, "easyPay": easyPayFields,
			"transfer": transferFields, "mobilePhone": mobilePhoneFields, "giftCertificate": giftFields}
		seen := map[string]bool{}
		for _, p := range payments {
			for member, want := range fields {
				if o, ok := p.json[member].(map[string]any); ok {
					seen[member] = true
					Expect(keysOf(o)).To(Equal(sortedCopy(want)), "%s: %s in %s", p.name, member, p.raw)
				}
			}
			for i, c := range asSlice(p.json["cancels"]) {
				Expect(keysOf(c.(map[string]any))).To(Equal(sortedCopy(cancelFields)), "%s: cancels[%d] in %s", p.name, i, p.raw)
			}
		}
		Expect(seen).To(HaveLen(len(fields)), "every method's member was seen")
	})

	It("fills the card as Toss does for a one-off personal credit card payment, in either language", func() {
		for _, p := range payments {
			if p.method != toss.MethodCard || p.json["status"] == string(toss.StatusExpired) {
				continue
			}
			card := object(p.json, "card")
			Expect(card).To(HaveKeyWithValue("amount", p.json["totalAmount"]), p.name)
			Expect(card).To(HaveKeyWithValue("issuerCode", MatchRegexp(`^[0-9A-Z]{2}$`)), p.name)
			Expect(card).To(HaveKeyWithValue("number", MatchRegexp(`^[0-9]{8}\*{4}[0-9]{3}\*$`)), p.name)
			Expect(card).To(HaveKeyWithValue("installmentPlanMonths", json.Number("0")), p.name)
			Expect(card).To(HaveKeyWithValue("approveNo", MatchRegexp(`^[0-9]{8}$`)), p.name)
			Expect(card).To(HaveKeyWithValue("useCardPoint", false), p.name)
			Expect(card).To(HaveKeyWithValue("isInterestFree", false), p.name)
			Expect(card).To(HaveKeyWithValue("interestPayer", BeNil()), p.name)
			if p.english {
				Expect(card).To(HaveKeyWithValue("cardType", "CREDIT"), p.name)
				Expect(card).To(HaveKeyWithValue("ownerType", "PERSONAL"), p.name)
			} else {
				Expect(card).To(HaveKeyWithValue("cardType", "신용"), p.name)
				Expect(card).To(HaveKeyWithValue("ownerType", "개인"), p.name)
			}
			acquire := "READY"
			if p.json["status"] == string(toss.StatusCanceled) {
				acquire = "CANCELED"
			}
			Expect(card).To(HaveKeyWithValue("acquireStatus", acquire), p.name)
		}
	})

	It("fills the other methods' members, the receipt, the checkout, the secret and the failure", func() {
		for _, p := range payments {
			confirmed := p.json["status"] != string(toss.StatusExpired)
			if confirmed {
				Expect(object(p.json, "receipt")).To(HaveKeyWithValue("url", HavePrefix("https://")), p.name)
				Expect(p.json).To(HaveKeyWithValue("failure", BeNil()), p.name)
			} else {
				Expect(p.json).To(HaveKeyWithValue("receipt", BeNil()), p.name)
				Expect(object(p.json, "failure")).To(HaveKeyWithValue("code", "EXPIRED_PAYMENT"), p.name)
			}
			Expect(object(p.json, "checkout")).To(HaveKeyWithValue("url", HaveSuffix("/checkout")), p.name)
			if p.method == toss.MethodVirtualAccount {
				Expect(p.json).To(HaveKeyWithValue("secret", HavePrefix("ps_")), p.name)
			} else {
				Expect(p.json).To(HaveKeyWithValue("secret", BeNil()), p.name)
			}
			switch p.method {
			case toss.MethodEasyPay:
				ep := object(p.json, "easyPay")
				provider := "토스페이"
				if p.english {
					provider = "TOSSPAY"
				}
				Expect(ep).To(HaveKeyWithValue("provider", provider), p.name)
				Expect(ep).To(HaveKeyWithValue("amount", p.json["totalAmount"]), p.name)
				Expect(ep).To(HaveKeyWithValue("discountAmount", json.Number("0")), p.name)
			case toss.MethodTransfer:
				Expect(object(p.json, "transfer")).To(HaveKeyWithValue("bankCode", "20"), p.name)
				Expect(object(p.json, "transfer")).To(HaveKeyWithValue("settlementStatus", "INCOMPLETED"), p.name)
			case toss.MethodMobilePhone:
				Expect(object(p.json, "mobilePhone")).To(HaveKeyWithValue("customerMobilePhone", MatchRegexp(`^01[0-9]{8,9}$`)), p.name)
				Expect(object(p.json, "mobilePhone")).To(HaveKeyWithValue("receiptUrl", HavePrefix("https://")), p.name)
			case toss.MethodCultureGiftCertificate:
				Expect(object(p.json, "giftCertificate")).To(HaveKeyWithValue("approveNo", MatchRegexp(`^[0-9]{8}$`)), p.name)
			case toss.MethodVirtualAccount:
				refund := object(p.json, "virtualAccount")["refundReceiveAccount"]
				if p.json["status"] == string(toss.StatusCanceled) {
					Expect(keysOf(refund.(map[string]any))).To(Equal(sortedCopy(refundAccountFields)), p.name)
					Expect(refund).To(HaveKeyWithValue("bankCode", "88"), p.name)
					Expect(refund).To(HaveKeyWithValue("accountNumber", "110*****678"), p.name) // masked, as Toss does
					Expect(refund).To(HaveKeyWithValue("holderName", "김토스"), p.name)
				} else {
					Expect(refund).To(BeNil(), p.name)
				}
			}
		}
	})

	It("fills each cancel as Toss does", func() {
		for _, p := range payments {
			for i, c := range asSlice(p.json["cancels"]) {
				cancel := c.(map[string]any)
				Expect(cancel).To(HaveKeyWithValue("taxExemptionAmount", json.Number("0")), "%s cancels[%d]", p.name, i)
				Expect(cancel).To(HaveKeyWithValue("easyPayDiscountAmount", json.Number("0")), "%s cancels[%d]", p.name, i)
				Expect(cancel).To(HaveKeyWithValue("receiptKey", BeNil()), "%s cancels[%d]", p.name, i)
				Expect(cancel).To(HaveKeyWithValue("cancelRequestId", BeNil()), "%s cancels[%d]", p.name, i)
			}
		}
	})

	It("decodes with toss.Payment, which keeps the whole object in Raw", func() {
		for _, p := range payments {
			var decoded toss.Payment
			Expect(json.Unmarshal(p.raw, &decoded)).To(Succeed(), "%s: %s", p.name, p.raw)
			Expect(decoded.Method).To(Equal(p.method), p.name)
			Expect(decoded.Raw).To(MatchJSON(p.raw), p.name)
		}
	})
})

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}
