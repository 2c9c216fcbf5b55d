package toss

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-json-experiment/json/v1"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/commands"
)

var _ = Describe("classifying Toss's confirm answers (toss.v2)", func() {
	approvedAt := time.Date(2026, 11, 25, 10, 0, 0, 0, time.FixedZone("KST", 9*3600))
	executing := commands.Execution{OrderID: "order-0001", PaymentKey: "pk_1", Amount: decimal.NewFromInt(48500)}
	payment := func(status Status, orderID, key string, amount int64) Payment {
		return Payment{Status: status, OrderID: orderID, PaymentKey: key, TotalAmount: decimal.NewFromInt(amount),
			ApprovedAt: &approvedAt, Method: MethodCard,
			Raw: json.RawMessage(`{"status":"DONE","secret":"ps_abc","card":{"number":"43301234****123*"},"totalAmount":48500}`)}
	}
	apiErr := func(status int, code string) error {
		return fmt.Errorf("confirm: %w", &APIError{HTTPStatus: status, Code: code, Message: "m",
			Body: []byte(`{"code":"` + code + `","message":"m"}`)})
	}

	DescribeTable("verdicts",
		func(p Payment, err error, status aggregate.Status, rule string, transient, lookup, alert bool) {
			v, gotTransient, gotLookup := verdictFor(p, err, executing)
			Expect(v.Status).To(Equal(status))
			Expect(v.Rule).To(Equal(rule))
			Expect(gotTransient).To(Equal(transient), "transient")
			Expect(gotLookup).To(Equal(lookup), "lookup")
			Expect(v.OperatorAlert).To(Equal(alert), "alert")
		},
		Entry("DONE with matching order, key and amount", payment(StatusDone, "order-0001", "pk_1", 48500), nil,
			aggregate.StatusSuccess, RuleDoneMatching, false, false, false),
		Entry("DONE for another amount is never a success", payment(StatusDone, "order-0001", "pk_1", 100), nil,
			aggregate.StatusUnknown, RuleDoneMismatch, false, false, true),
		Entry("DONE for another order", payment(StatusDone, "order-0002", "pk_1", 48500), nil,
			aggregate.StatusUnknown, RuleDoneMismatch, false, false, true),
		Entry("DONE for another paymentKey", payment(StatusDone, "order-0001", "pk_2", 48500), nil,
			aggregate.StatusUnknown, RuleDoneMismatch, false, false, true),
		Entry("200 waiting for deposit without the account", payment(StatusWaitingForDeposit, "order-0001", "pk_1", 48500), nil,
			aggregate.StatusUnknown, RuleNotDone, false, false, false),
		Entry("card rejected", Payment{}, apiErr(403, "REJECT_CARD_PAYMENT"), aggregate.StatusFailure, RuleRejected, false, false, false),
		Entry("fraud", Payment{}, apiErr(403, "FDS_ERROR"), aggregate.StatusFailure, RuleRejected, false, false, false),
		Entry("limit", Payment{}, apiErr(400, "EXCEED_MAX_DAILY_PAYMENT_COUNT"), aggregate.StatusFailure, RuleRejected, false, false, false),
		Entry("expired session", Payment{}, apiErr(404, "NOT_FOUND_PAYMENT_SESSION"), aggregate.StatusFailure, RuleRejected, false, false, false),
		Entry("provider error", Payment{}, apiErr(400, "PROVIDER_ERROR"), aggregate.StatusUnknown, RuleTransient, true, false, false),
		Entry("card processing error", Payment{}, apiErr(400, "CARD_PROCESSING_ERROR"), aggregate.StatusUnknown, RuleTransient, true, false, false),
		Entry("idempotent request in flight", Payment{}, apiErr(409, "IDEMPOTENT_REQUEST_PROCESSING"), aggregate.StatusUnknown, RuleTransient, true, false, false),
		Entry("consecutive request", Payment{}, apiErr(403, "FORBIDDEN_CONSECUTIVE_REQUEST"), aggregate.StatusUnknown, RuleTransient, true, false, false),
		Entry("5xx with a code", Payment{}, apiErr(500, "FAILED_INTERNAL_SYSTEM_PROCESSING"), aggregate.StatusUnknown, RuleTransient, true, false, false),
		Entry("502 from a proxy", Payment{}, &APIError{HTTPStatus: 502, Body: []byte("<html>bad gateway</html>")},
			aggregate.StatusUnknown, RuleTransient, true, false, false),
		Entry("already processed: only a lookup decides", Payment{}, apiErr(400, "ALREADY_PROCESSED_PAYMENT"),
			aggregate.StatusUnknown, RuleAlreadyProcessed, false, true, false),
		Entry("bad secret key", Payment{}, apiErr(401, "UNAUTHORIZED_KEY"), aggregate.StatusNotStarted, RuleConfigFault, false, false, true),
		Entry("bad basic auth", Payment{}, apiErr(403, "INCORRECT_BASIC_AUTH_FORMAT"), aggregate.StatusNotStarted, RuleConfigFault, false, false, true),
		Entry("bad idempotency key", Payment{}, apiErr(400, "INVALID_IDEMPOTENCY_KEY"), aggregate.StatusNotStarted, RuleConfigFault, false, false, true),
		Entry("a code we have never seen", Payment{}, apiErr(400, "BRAND_NEW_CODE"), aggregate.StatusUnknown, RuleUnrecognised, false, false, false),
		Entry("timeout", Payment{}, fmt.Errorf("post: %w", context.DeadlineExceeded), aggregate.StatusUnknown, RuleTransport, true, false, false),
		Entry("connection reset", Payment{}, errors.New("read: connection reset by peer"), aggregate.StatusUnknown, RuleTransport, true, false, false),
		Entry("garbled 200", Payment{}, fmt.Errorf("x: %w", ErrMalformedResponse), aggregate.StatusUnknown, RuleMalformed, true, false, false),
	)

	It("keeps secrets and card numbers out of the evidence, and amounts exact", func() {
		v, _, _ := verdictFor(payment(StatusDone, "order-0001", "pk_1", 48500), nil, executing)
		Expect(v.Evidence).To(MatchJSON(`{"status":"DONE","secret":"[REDACTED]","card":{"number":"[REDACTED]"},"totalAmount":48500}`))
	})

	It("keeps a non-JSON error page as a short string", func() {
		Expect(redact([]byte("<html>bad gateway</html>"))).To(MatchJSON(`"<html>bad gateway</html>"`))
	})
})

// tossConfirmCodes is every error code Toss documents for POST /v1/payments/confirm
// (docs.tosspayments.com/reference/error-codes, "결제 승인"), with its HTTP status and the
// verdict a buyer's merchant would expect.
var tossConfirmCodes = []struct {
	status int
	code   string
	want   aggregate.Status // FAILURE: a decline; UNKNOWN: ask again or look up; NOT_STARTED: our fault
}{
	{400, "ALREADY_PROCESSED_PAYMENT", aggregate.StatusUnknown},
	{400, "PROVIDER_ERROR", aggregate.StatusUnknown},
	{400, "EXCEED_MAX_CARD_INSTALLMENT_PLAN", aggregate.StatusFailure},
	{400, "INVALID_REQUEST", aggregate.StatusFailure},
	{400, "NOT_ALLOWED_POINT_USE", aggregate.StatusFailure},
	{400, "INVALID_API_KEY", aggregate.StatusNotStarted},
	{400, "INVALID_REJECT_CARD", aggregate.StatusFailure},
	{400, "BELOW_MINIMUM_AMOUNT", aggregate.StatusFailure},
	{400, "INVALID_CARD_EXPIRATION", aggregate.StatusFailure},
	{400, "INVALID_STOPPED_CARD", aggregate.StatusFailure},
	{400, "EXCEED_MAX_DAILY_PAYMENT_COUNT", aggregate.StatusFailure},
	{400, "NOT_SUPPORTED_INSTALLMENT_PLAN_CARD_OR_MERCHANT", aggregate.StatusFailure},
	{400, "INVALID_CARD_INSTALLMENT_PLAN", aggregate.StatusFailure},
	{400, "NOT_SUPPORTED_MONTHLY_INSTALLMENT_PLAN", aggregate.StatusFailure},
	{400, "EXCEED_MAX_PAYMENT_AMOUNT", aggregate.StatusFailure},
	{400, "NOT_FOUND_TERMINAL_ID", aggregate.StatusNotStarted},
	{400, "INVALID_AUTHORIZE_AUTH", aggregate.StatusFailure},
	{400, "INVALID_CARD_LOST_OR_STOLEN", aggregate.StatusFailure},
	{400, "RESTRICTED_TRANSFER_ACCOUNT", aggregate.StatusFailure},
	{400, "INVALID_CARD_NUMBER", aggregate.StatusFailure},
	{400, "INVALID_UNREGISTERED_SUBMALL", aggregate.StatusNotStarted},
	{400, "NOT_REGISTERED_BUSINESS", aggregate.StatusNotStarted},
	{400, "EXCEED_MAX_ONE_DAY_WITHDRAW_AMOUNT", aggregate.StatusFailure},
	{400, "EXCEED_MAX_ONE_TIME_WITHDRAW_AMOUNT", aggregate.StatusFailure},
	{400, "CARD_PROCESSING_ERROR", aggregate.StatusUnknown},
	{400, "EXCEED_MAX_AMOUNT", aggregate.StatusFailure},
	{400, "INVALID_ACCOUNT_INFO_RE_REGISTER", aggregate.StatusFailure},
	{400, "NOT_AVAILABLE_PAYMENT", aggregate.StatusFailure},
	{400, "UNAPPROVED_ORDER_ID", aggregate.StatusFailure},
	{400, "EXCEED_MAX_MONTHLY_PAYMENT_AMOUNT", aggregate.StatusFailure},
	{400, "INVALID_IDEMPOTENCY_KEY", aggregate.StatusNotStarted},
	{401, "UNAUTHORIZED_KEY", aggregate.StatusNotStarted},
	{403, "REJECT_ACCOUNT_PAYMENT", aggregate.StatusFailure},
	{403, "REJECT_CARD_PAYMENT", aggregate.StatusFailure},
	{403, "REJECT_CARD_COMPANY", aggregate.StatusFailure},
	{403, "FORBIDDEN_REQUEST", aggregate.StatusFailure},
	{403, "REJECT_TOSSPAY_INVALID_ACCOUNT", aggregate.StatusFailure},
	{403, "EXCEED_MAX_AUTH_COUNT", aggregate.StatusFailure},
	{403, "EXCEED_MAX_ONE_DAY_AMOUNT", aggregate.StatusFailure},
	{403, "NOT_AVAILABLE_BANK", aggregate.StatusFailure},
	{403, "INVALID_PASSWORD", aggregate.StatusFailure},
	{403, "INCORRECT_BASIC_AUTH_FORMAT", aggregate.StatusNotStarted},
	{403, "FDS_ERROR", aggregate.StatusFailure},
	{403, "FORBIDDEN_CONSECUTIVE_REQUEST", aggregate.StatusUnknown},
	{404, "NOT_FOUND_PAYMENT", aggregate.StatusFailure},
	{404, "NOT_FOUND_PAYMENT_SESSION", aggregate.StatusFailure},
	{409, "IDEMPOTENT_REQUEST_PROCESSING", aggregate.StatusUnknown},
	{500, "FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING", aggregate.StatusUnknown},
	{500, "FAILED_INTERNAL_SYSTEM_PROCESSING", aggregate.StatusUnknown},
	{500, "UNKNOWN_PAYMENT_ERROR", aggregate.StatusUnknown},
}

var _ = Describe("the toss.v2 confirm code table", func() {
	executing := commands.Execution{OrderID: "order-0001", PaymentKey: "pk_1", Amount: decimal.NewFromInt(48500)}

	It("knows every confirm code Toss documents, and decides each as a merchant expects", func() {
		for _, c := range tossConfirmCodes {
			v, _, _ := verdictFor(Payment{}, &APIError{HTTPStatus: c.status, Code: c.code, Message: "m"}, executing)
			Expect(v.Rule).NotTo(Equal(RuleUnrecognised), c.code)
			Expect(v.Status).To(Equal(c.want), c.code)
			Expect(v.Code).To(Equal(c.code))
		}
		Expect(confirmCodes).To(HaveLen(len(tossConfirmCodes)), "a code in the table that Toss does not document for confirm")
	})

	It("declines an instalment or point refusal instead of leaving it UNKNOWN", func() {
		for _, code := range []string{"EXCEED_MAX_CARD_INSTALLMENT_PLAN", "NOT_ALLOWED_POINT_USE"} {
			v, transient, lookup := verdictFor(Payment{}, &APIError{HTTPStatus: 400, Code: code}, executing)
			Expect(v.Status).To(Equal(aggregate.StatusFailure), code)
			Expect(v.Rule).To(Equal(RuleRejected))
			Expect(transient || lookup).To(BeFalse())
		}
	})

	It("only adds to the released toss.v1 table, never changes a code's class in place", func() {
		Expect(confirmCodesV1).To(HaveLen(39))
		for code := range confirmCodesAddedInV2 {
			Expect(confirmCodesV1).NotTo(HaveKey(code))
		}
		for code, c := range confirmCodesV1 {
			Expect(confirmCodes).To(HaveKeyWithValue(code, c))
		}
	})

	It("names the table version in every rule", func() {
		for _, r := range []string{RuleDoneMatching, RuleDoneMismatch, RuleWaitingForDeposit, RuleNotDone, RuleRejected, RuleTransient,
			RuleTransport, RuleMalformed, RuleConfigFault, RuleAlreadyProcessed, RuleUnrecognised} {
			Expect(r).To(HavePrefix("toss.v3/"))
		}
	})
})
