package toss_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/commands"
	"github.com/paystream/paystream/toss"
)

// fakeToss answers every request with one status and body, and keeps the last request.
type fakeToss struct {
	status int
	body   string
	server *httptest.Server
}

func newFakeToss() *fakeToss {
	f := &fakeToss{status: http.StatusOK}
	f.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.status)
		w.Write([]byte(f.body))
	}))
	DeferCleanup(f.server.Close)
	return f
}

func (f *fakeToss) answer(status int, body string) { f.status, f.body = status, body }

func tossError(code string) string { return `{"code":"` + code + `","message":"m"}` }

// canceledPayment is Toss's answer to a cancel of 4000 of a 15000 payment, with a card
// number and a virtual-account number that must not reach the evidence.
const canceledPayment = `{"paymentKey":"pk_1","orderId":"order-1","status":"PARTIAL_CANCELED","method":"카드",
"totalAmount":15000,"balanceAmount":11000,"requestedAt":"2026-01-02T12:04:05+09:00","approvedAt":"2026-01-02T12:04:06+09:00",
"card":{"number":"43301234****123*"},"virtualAccount":{"accountNumber":"X1234567890"},"secret":"ps_abc",
"cancels":[{"cancelAmount":4000,"cancelReason":"one item","canceledAt":"2026-01-02T12:10:00+09:00","transactionKey":"tx_new","cancelStatus":"DONE"}]}`

var _ = Describe("PSP.Cancel classifying Toss's answers (toss.v2 cancel table)", func() {
	var (
		fake *fakeToss
		psp  *toss.PSP
		r    commands.RefundExecution
	)
	BeforeEach(func() {
		fake = newFakeToss()
		psp = toss.NewPSP(toss.NewClient(fake.server.URL, testKey))
		r = commands.RefundExecution{OrderID: "order-1", PaymentKey: "pk_1", Amount: krw(4000), Reason: "one item",
			IdempotencyKey: "cancel-order-1-r1"}
	})

	DescribeTable("error answers",
		func(ctx SpecContext, status int, code string, want aggregate.Status, rule string, retry, lookUp, alert bool) {
			fake.answer(status, tossError(code))
			a := psp.Cancel(ctx, r)
			Expect(a.Verdict.Status).To(Equal(want))
			Expect(a.Verdict.Rule).To(Equal(rule))
			Expect(a.Retry).To(Equal(retry), "retry")
			Expect(a.LookUp).To(Equal(lookUp), "look up")
			Expect(a.Verdict.OperatorAlert).To(Equal(alert), "alert")
			Expect(a.Verdict.Code).To(Equal(code))
			Expect(a.Verdict.HTTPStatus).To(Equal(status))
			Expect(a.Verdict.Evidence).To(MatchJSON(tossError(code)))
		},
		Entry("more than the balance", 403, "NOT_CANCELABLE_AMOUNT", aggregate.StatusFailure, toss.RuleCancelRejected, false, false, false),
		Entry("not cancelable", 403, "NOT_CANCELABLE_PAYMENT", aggregate.StatusFailure, toss.RuleCancelRejected, false, false, false),
		Entry("below the instant discount", 400, "EXCEED_CANCEL_AMOUNT_DISCOUNT_AMOUNT", aggregate.StatusFailure, toss.RuleCancelRejected, false, false, false),
		Entry("no partial refunds for this payment", 403, "NOT_ALLOWED_PARTIAL_REFUND", aggregate.StatusFailure, toss.RuleCancelRejected, false, false, false),
		Entry("refund period over", 403, "EXCEED_MAX_REFUND_DUE", aggregate.StatusFailure, toss.RuleCancelRejected, false, false, false),
		Entry("bank closed: nothing refunded, and the same key would get the same answer", 403, "NOT_AVAILABLE_BANK", aggregate.StatusFailure, toss.RuleCancelRejected, false, false, false),
		Entry("bad refund account", 400, "INVALID_REFUND_ACCOUNT_NUMBER", aggregate.StatusFailure, toss.RuleCancelRejected, false, false, false),
		Entry("two cancels within a second", 403, "FORBIDDEN_CONSECUTIVE_REQUEST", aggregate.StatusUnknown, toss.RuleCancelTransient, true, false, false),
		Entry("provider error", 400, "PROVIDER_ERROR", aggregate.StatusUnknown, toss.RuleCancelTransient, true, false, false),
		Entry("the bank was slow", 500, "FAILED_REFUND_PROCESS", aggregate.StatusUnknown, toss.RuleCancelTransient, true, false, false),
		Entry("the same key in flight", 409, "IDEMPOTENT_REQUEST_PROCESSING", aggregate.StatusUnknown, toss.RuleCancelTransient, true, false, false),
		Entry("a 502 from a proxy", 502, "", aggregate.StatusUnknown, toss.RuleCancelTransient, true, false, false),
		Entry("already cancelled: by this refund or another? the record says", 400, "ALREADY_CANCELED_PAYMENT", aggregate.StatusUnknown, toss.RuleCancelLookup, false, true, false),
		Entry("already refunded: the record says", 400, "ALREADY_REFUND_PAYMENT", aggregate.StatusUnknown, toss.RuleCancelLookup, false, true, false),
		Entry("bad secret key", 401, "UNAUTHORIZED_KEY", aggregate.StatusNotStarted, toss.RuleCancelConfig, false, false, true),
		Entry("bad idempotency key", 400, "INVALID_IDEMPOTENCY_KEY", aggregate.StatusNotStarted, toss.RuleCancelConfig, false, false, true),
		Entry("a code never seen", 400, "BRAND_NEW_CODE", aggregate.StatusUnknown, toss.RuleCancelUnrecorded, false, false, false),
	)

	It("reads a non-JSON error page as unknown and keeps it as a short string", func(ctx SpecContext) {
		fake.answer(http.StatusBadGateway, "<html>bad gateway</html>")
		a := psp.Cancel(ctx, r)
		Expect(a.Verdict.Status).To(Equal(aggregate.StatusUnknown))
		Expect(a.Retry).To(BeTrue())
		Expect(a.Verdict.Message).To(Equal("HTTP 502"))
		Expect(a.Verdict.Evidence).To(MatchJSON(`"<html>bad gateway</html>"`))
	})

	Describe("a 200", func() {
		It("is a SUCCESS with the new cancel's transactionKey and canceledAt, and redacted evidence", func(ctx SpecContext) {
			fake.answer(http.StatusOK, canceledPayment)
			a := psp.Cancel(ctx, r)
			Expect(a.Verdict.Status).To(Equal(aggregate.StatusSuccess))
			Expect(a.Verdict.Rule).To(Equal(toss.RuleCancelRecorded))
			Expect(a.Verdict.TransactionKey).To(Equal("tx_new"))
			Expect(a.Verdict.CanceledAt.Equal(time.Date(2026, 1, 2, 3, 10, 0, 0, time.UTC))).To(BeTrue())
			Expect(a.Retry || a.LookUp).To(BeFalse())
			evidence := string(a.Verdict.Evidence)
			Expect(evidence).To(ContainSubstring(`"secret":"[REDACTED]"`))
			Expect(evidence).To(ContainSubstring(`"number":"[REDACTED]"`))
			Expect(evidence).To(ContainSubstring(`"accountNumber":"[REDACTED]"`))
			Expect(evidence).NotTo(ContainSubstring("43301234"))
			Expect(evidence).To(ContainSubstring(`"balanceAmount":11000`))
		})

		DescribeTable("without the new cancel in cancels[] is UNKNOWN: never assumed",
			func(ctx SpecContext, change func(*commands.RefundExecution), body string) {
				change(&r)
				fake.answer(http.StatusOK, body)
				a := psp.Cancel(ctx, r)
				Expect(a.Verdict.Status).To(Equal(aggregate.StatusUnknown))
				Expect(a.Verdict.Rule).To(Equal(toss.RuleCancelNotFound))
				Expect(a.Verdict.TransactionKey).To(BeEmpty())
				Expect(a.Verdict.Message).To(ContainSubstring("no new cancel of"))
				Expect(string(a.Verdict.Evidence)).To(ContainSubstring(`"secret":"[REDACTED]"`))
			},
			Entry("the only cancel of that amount is one already recorded",
				func(r *commands.RefundExecution) { r.KnownCancels = []string{"tx_new"} }, canceledPayment),
			Entry("a cancel of another amount", func(r *commands.RefundExecution) { r.Amount = krw(5000) }, canceledPayment),
			Entry("the cancel is not DONE", func(*commands.RefundExecution) {},
				strings.Replace(canceledPayment, `"cancelStatus":"DONE"`, `"cancelStatus":"IN_PROGRESS"`, 1)),
			Entry("no cancels at all", func(*commands.RefundExecution) {},
				strings.Replace(canceledPayment, `"cancels":[{`, `"cancelz":[{`, 1)),
			Entry("another order's payment", func(r *commands.RefundExecution) { r.OrderID = "order-2" }, canceledPayment),
		)

		It("that does not decode is UNKNOWN and may be retried", func(ctx SpecContext) {
			fake.answer(http.StatusOK, `{"status":"CANCELED","totalAmount":"15000"}`)
			a := psp.Cancel(ctx, r)
			Expect(a.Verdict.Status).To(Equal(aggregate.StatusUnknown))
			Expect(a.Verdict.Rule).To(Equal(toss.RuleCancelMalformed))
			Expect(a.Retry).To(BeTrue())
		})
	})

	It("is UNKNOWN and may be retried when Toss does not answer", func(ctx SpecContext) {
		fake.server.Close()
		a := psp.Cancel(ctx, r)
		Expect(a.Verdict.Status).To(Equal(aggregate.StatusUnknown))
		Expect(a.Verdict.Rule).To(Equal(toss.RuleCancelTransport))
		Expect(a.Retry).To(BeTrue())
	})
})

// tossCancelCodes is every error code Toss documents for POST /v1/payments/{paymentKey}/cancel
// (docs.tosspayments.com/reference/error-codes, "결제 취소"), plus the codes every keyed or
// authenticated request can meet (INVALID_API_KEY, INVALID_IDEMPOTENCY_KEY,
// IDEMPOTENT_REQUEST_PROCESSING), with its HTTP status and the verdict a merchant expects.
var tossCancelCodes = []struct {
	status int
	code   string
	want   aggregate.Status // FAILURE: nothing refunded; UNKNOWN: ask again or look up; NOT_STARTED: our fault
}{
	{400, "ALREADY_CANCELED_PAYMENT", aggregate.StatusUnknown},
	{400, "INVALID_REFUND_ACCOUNT_INFO", aggregate.StatusFailure},
	{400, "EXCEED_CANCEL_AMOUNT_DISCOUNT_AMOUNT", aggregate.StatusFailure},
	{400, "INVALID_REQUEST", aggregate.StatusFailure},
	{400, "INVALID_REFUND_ACCOUNT_NUMBER", aggregate.StatusFailure},
	{400, "INVALID_BANK", aggregate.StatusFailure},
	{400, "NOT_MATCHES_REFUNDABLE_AMOUNT", aggregate.StatusFailure},
	{400, "PROVIDER_ERROR", aggregate.StatusUnknown},
	{400, "REFUND_REJECTED", aggregate.StatusFailure},
	{400, "ALREADY_REFUND_PAYMENT", aggregate.StatusUnknown},
	{400, "FORBIDDEN_BANK_REFUND_REQUEST", aggregate.StatusFailure},
	{400, "INVALID_API_KEY", aggregate.StatusNotStarted},
	{400, "INVALID_IDEMPOTENCY_KEY", aggregate.StatusNotStarted},
	{401, "UNAUTHORIZED_KEY", aggregate.StatusNotStarted},
	{403, "NOT_CANCELABLE_AMOUNT", aggregate.StatusFailure},
	{403, "FORBIDDEN_CONSECUTIVE_REQUEST", aggregate.StatusUnknown},
	{403, "FORBIDDEN_REQUEST", aggregate.StatusFailure},
	{403, "NOT_CANCELABLE_PAYMENT", aggregate.StatusFailure},
	{403, "EXCEED_MAX_REFUND_DUE", aggregate.StatusFailure},
	{403, "NOT_ALLOWED_PARTIAL_REFUND_WAITING_DEPOSIT", aggregate.StatusFailure},
	{403, "NOT_ALLOWED_PARTIAL_REFUND", aggregate.StatusFailure},
	{403, "NOT_AVAILABLE_BANK", aggregate.StatusFailure},
	{403, "INCORRECT_BASIC_AUTH_FORMAT", aggregate.StatusNotStarted},
	{403, "NOT_CANCELABLE_PAYMENT_FOR_DORMANT_USER", aggregate.StatusFailure},
	{404, "NOT_FOUND_PAYMENT", aggregate.StatusFailure},
	{409, "IDEMPOTENT_REQUEST_PROCESSING", aggregate.StatusUnknown},
	{500, "FAILED_INTERNAL_SYSTEM_PROCESSING", aggregate.StatusUnknown},
	{500, "FAILED_REFUND_PROCESS", aggregate.StatusUnknown},
	{500, "FAILED_METHOD_HANDLING_CANCEL", aggregate.StatusUnknown},
	{500, "FAILED_PARTIAL_REFUND", aggregate.StatusUnknown},
	{500, "COMMON_ERROR", aggregate.StatusUnknown},
	{500, "FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING", aggregate.StatusUnknown},
	{500, "FAILED_CLOSED_ACCOUNT_REFUND", aggregate.StatusUnknown},
}

var _ = Describe("the cancel code table", func() {
	It("knows every cancel code Toss documents, and decides each as a merchant expects", func(ctx SpecContext) {
		fake := newFakeToss()
		psp := toss.NewPSP(toss.NewClient(fake.server.URL, testKey))
		r := commands.RefundExecution{OrderID: "order-1", PaymentKey: "pk_1", Amount: krw(4000), Reason: "r"}
		for _, c := range tossCancelCodes {
			fake.answer(c.status, tossError(c.code))
			a := psp.Cancel(ctx, r)
			Expect(a.Verdict.Rule).NotTo(Equal(toss.RuleCancelUnrecorded), c.code)
			Expect(a.Verdict.Status).To(Equal(c.want), c.code)
			if c.want == aggregate.StatusUnknown {
				Expect(a.Retry || a.LookUp).To(BeTrue(), "%s: an unknown outcome says how to settle it", c.code)
			}
		}
	})

	It("names its version in every rule: toss.v2, after toss.v1 lacked eight documented codes", func() {
		for _, rule := range []string{toss.RuleCancelRecorded, toss.RuleCancelNotFound, toss.RuleCancelRejected,
			toss.RuleCancelTransient, toss.RuleCancelTransport, toss.RuleCancelMalformed, toss.RuleCancelConfig,
			toss.RuleCancelLookup, toss.RuleCancelUnrecorded} {
			Expect(rule).To(HavePrefix("toss.v2/cancel-"))
		}
	})
})
