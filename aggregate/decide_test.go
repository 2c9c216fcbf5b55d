package aggregate_test

import (
	"errors"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/shopspring/decimal"

	. "github.com/paystream/paystream/aggregate"
)

var (
	t0    = time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC)
	t1    = t0.Add(time.Minute)
	t2    = t1.Add(time.Second)
	d     = decimal.RequireFromString
	lines = []OrderLine{
		{ProductID: "book", SellerID: "s1", Quantity: 2, UnitPrice: d("18000"), Amount: d("36000")},
		{ProductID: "mug", SellerID: "s2", Quantity: 1, UnitPrice: d("12500"), Amount: d("12500")},
	}
	created = CheckoutCreated{OrderID: "order-0001", OrderName: "book and mug", BuyerID: "b1", Orders: lines,
		TotalAmount: d("48500"), At: t0}
	started  = ExecutionStarted{PaymentKey: "pk_1", Amount: d("48500"), PspIdempotencyKey: "confirm-order-0001", At: t1}
	approved = PspApproved{PaymentKey: "pk_1", TotalAmount: d("48500"), Method: "CARD", ApprovedAt: t2,
		Rule: "toss.v1/done-matching", At: t2}
	failed  = PspFailed{Code: "REJECT_CARD_PAYMENT", Rule: "toss.v1/rejected", At: t2}
	unknown = PspOutcomeUnknown{Message: "timeout", Rule: "toss.v1/transport", At: t2}
	aborted = ExecutionAborted{Code: "UNAUTHORIZED_KEY", Rule: "toss.v1/config-fault", OperatorAlert: true, At: t2}
)

func checkout(mod func(*CreateCheckout)) CreateCheckout {
	// A copy: specs edit lines, and the shared slice must not carry one spec's edit into the next.
	c := CreateCheckout{OrderID: "order-0001", OrderName: "book and mug", BuyerID: "b1", Lines: slices.Clone(lines), At: t0}
	if mod != nil {
		mod(&c)
	}
	return c
}

func start(paymentKey, amount string) StartExecution {
	return StartExecution{PaymentKey: paymentKey, Amount: d(amount), PspIdempotencyKey: "confirm-order-0001", At: t1}
}

func outcome(v Verdict) RecordPspOutcome { return RecordPspOutcome{Verdict: v, At: t2} }

var _ = Describe("Decide", func() {
	DescribeTable("given history, when command, then events",
		func(given []Event, cmd Command, want []Event) {
			got, err := Decide(Fold(given), cmd)
			Expect(err).NotTo(HaveOccurred())
			Expect(got).To(Equal(want))
		},
		Entry("checkout sums the orders", nil, checkout(nil), []Event{created}),
		Entry("confirm with the checkout total starts execution",
			[]Event{created}, start("pk_1", "48500"), []Event{started}),
		Entry("a tampered amount is rejected without execution",
			[]Event{created}, start("pk_1", "100"), []Event{ConfirmRejected{PaymentKey: "pk_1", Amount: d("100"),
				Rule: RuleAmountMismatch, Code: CodeAmountMismatch,
				Message: "amount 100 does not match the checkout total 48500", At: t1}}),
		Entry("an UNKNOWN payment re-executes with what was already sent",
			[]Event{created, started, unknown}, start("pk_1", "48500"), []Event{started}),
		Entry("an aborted execution can run again",
			[]Event{created, started, aborted}, start("pk_1", "48500"), []Event{started}),
		Entry("a matching approval is recorded",
			[]Event{created, started}, outcome(Verdict{Status: StatusSuccess, PaymentKey: "pk_1", TotalAmount: d("48500"),
				Method: "CARD", ApprovedAt: t2, Rule: "toss.v1/done-matching"}), []Event{approved}),
		Entry("a rejection is recorded",
			[]Event{created, started}, outcome(Verdict{Status: StatusFailure, Code: "REJECT_CARD_PAYMENT", Rule: "toss.v1/rejected"}),
			[]Event{failed}),
		Entry("an ambiguous answer is recorded as unknown",
			[]Event{created, started}, outcome(Verdict{Status: StatusUnknown, Message: "timeout", Rule: "toss.v1/transport"}),
			[]Event{unknown}),
		Entry("a configuration fault aborts with an operator alert",
			[]Event{created, started}, outcome(Verdict{Status: StatusNotStarted, Code: "UNAUTHORIZED_KEY",
				Rule: "toss.v1/config-fault", OperatorAlert: true}), []Event{aborted}),
	)

	DescribeTable("given history, when command, then error",
		func(given []Event, cmd Command, want error) {
			got, err := Decide(Fold(given), cmd)
			Expect(err).To(MatchError(want))
			Expect(got).To(BeEmpty())
		},
		Entry("checkout twice", []Event{created}, checkout(nil), ErrAlreadyExists),
		Entry("orderId too short", nil, checkout(func(c *CreateCheckout) { c.OrderID = "abc" }), ErrInvalid),
		Entry("orderId with a space", nil, checkout(func(c *CreateCheckout) { c.OrderID = "order 0001" }), ErrInvalid),
		Entry("no items", nil, checkout(func(c *CreateCheckout) { c.Lines = nil }), ErrInvalid),
		Entry("a zero price", nil, checkout(func(c *CreateCheckout) {
			c.Lines = []OrderLine{{ProductID: "p", SellerID: "s", Quantity: 1, UnitPrice: d("0"), Amount: d("0")}}
		}), ErrInvalid),
		Entry("a fractional KRW price", nil, checkout(func(c *CreateCheckout) {
			c.Lines = []OrderLine{{ProductID: "p", SellerID: "s", Quantity: 1, UnitPrice: d("10.5"), Amount: d("10.5")}}
		}), ErrInvalid),
		Entry("a line amount that is not price × quantity", nil, checkout(func(c *CreateCheckout) {
			c.Lines = []OrderLine{{ProductID: "p", SellerID: "s", Quantity: 2, UnitPrice: d("10"), Amount: d("10")}}
		}), ErrInvalid),
		Entry("a negative quantity", nil, checkout(func(c *CreateCheckout) {
			c.Lines = []OrderLine{{ProductID: "p", SellerID: "s", Quantity: -1, UnitPrice: d("10"), Amount: d("-10")}}
		}), ErrInvalid),
		Entry("confirm an unknown payment", nil, start("pk_1", "48500"), ErrNotFound),
		Entry("confirm while executing", []Event{created, started}, start("pk_1", "48500"), ErrExecuting),
		Entry("confirm after success", []Event{created, started, approved}, start("pk_1", "48500"), ErrAlreadyResolved),
		Entry("confirm after failure", []Event{created, started, failed}, start("pk_1", "48500"), ErrAlreadyResolved),
		Entry("a malformed paymentKey", []Event{created}, start("pk 1", "48500"), ErrInvalid),
		Entry("re-execution with another paymentKey", []Event{created, started, unknown}, start("pk_2", "48500"), ErrExecutionMismatch),
		Entry("re-execution with another amount", []Event{created, started, unknown}, start("pk_1", "100"), ErrExecutionMismatch),
		Entry("an outcome without execution", []Event{created}, outcome(Verdict{Status: StatusFailure}), ErrNotExecuting),
		Entry("a second approval", []Event{created, started, approved}, outcome(Verdict{Status: StatusSuccess,
			PaymentKey: "pk_1", TotalAmount: d("48500")}), ErrNotExecuting),
		Entry("an approval for another amount", []Event{created, started}, outcome(Verdict{Status: StatusSuccess,
			PaymentKey: "pk_1", TotalAmount: d("100")}), ErrInvalid),
		Entry("an approval for another paymentKey", []Event{created, started}, outcome(Verdict{Status: StatusSuccess,
			PaymentKey: "pk_2", TotalAmount: d("48500")}), ErrInvalid),
	)

	DescribeTable("refuses text no read model could store or show faithfully",
		func(edit func(c *CreateCheckout), field string) {
			_, err := Decide(State{}, checkout(edit))
			var ve *ValidationError
			Expect(errors.As(err, &ve)).To(BeTrue())
			Expect(ve.Field).To(Equal(field))
		},
		Entry("a NUL in buyerId", func(c *CreateCheckout) { c.BuyerID = "buyer\x00" }, "buyerId"),
		Entry("invalid UTF-8 in buyerId", func(c *CreateCheckout) { c.BuyerID = "buyer\xff" }, "buyerId"),
		Entry("a blank buyerId", func(c *CreateCheckout) { c.BuyerID = " \t" }, "buyerId"),
		Entry("a buyerId of 101 characters", func(c *CreateCheckout) { c.BuyerID = strings.Repeat("가", 101) }, "buyerId"),
		Entry("an escape in orderName", func(c *CreateCheckout) { c.OrderName = "\x1b[2J" }, "orderName"),
		Entry("a C1 control in a sellerId", func(c *CreateCheckout) { c.Lines[0].SellerID = "s\u0085" }, "items[0].sellerId"),
		Entry("a newline in a productId", func(c *CreateCheckout) { c.Lines[0].ProductID = "p\n" }, "items[0].productId"),
	)

	It("names the field that is wrong", func() {
		_, err := Decide(State{}, checkout(func(c *CreateCheckout) { c.Lines[0].SellerID = "" }))
		var ve *ValidationError
		Expect(err).To(BeAssignableToTypeOf(ve))
		Expect(err.(*ValidationError).Field).To(Equal("items[0].sellerId"))
	})
})

var _ = Describe("Fold", func() {
	It("moves every order with the payment and keeps the first execution's key", func() {
		s := Fold([]Event{created, started, unknown, started, approved})
		Expect(s.Status).To(Equal(StatusSuccess))
		Expect(s.Orders).To(HaveLen(2))
		for _, o := range s.Orders {
			Expect(o.Status).To(Equal(StatusSuccess))
		}
		Expect(s.Executions).To(Equal(2))
		Expect(s.PaymentKey).To(Equal("pk_1"))
		Expect(*s.ApprovedAt).To(Equal(t2))
		Expect(s.Outcome.Rule).To(Equal("toss.v1/done-matching"))
	})

	It("never changes a State handed out earlier", func() {
		before := Fold([]Event{created, started})
		_ = Evolve(before, approved)
		Expect(before.Orders[0].Status).To(Equal(StatusExecuting))
	})

	It("clears the operator alert once the PSP answers", func() {
		s := Fold([]Event{created, started, aborted})
		Expect(s.OperatorAlert).To(BeTrue())
		Expect(s.Status).To(Equal(StatusNotStarted))
		s = Fold([]Event{created, started, aborted, started, approved})
		Expect(s.OperatorAlert).To(BeFalse())
	})
})
