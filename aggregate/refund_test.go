package aggregate_test

import (
	"errors"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	. "github.com/paystream/paystream/aggregate"
)

var _ = Describe("Decide refunds", func() {
	// created: book (seq 1, 36000) and mug (seq 2, 12500), approved for 48500.
	var (
		t3      = t2.Add(time.Hour)
		paid    = []Event{created, started, approved}
		split   = func(seq int, amount string) RefundSplit { return RefundSplit{Seq: seq, Amount: d(amount)} }
		request = func(id, amount string, orders ...RefundSplit) RequestRefund {
			return RequestRefund{RefundID: id, Amount: d(amount), Orders: orders, Reason: "returned", PspIdempotencyKey: "cancel-" + id, At: t3}
		}
		requested = func(id, amount string, orders ...RefundSplit) RefundRequested {
			return RefundRequested{RefundID: id, Amount: d(amount), Orders: orders, Reason: "returned", PspIdempotencyKey: "cancel-" + id, At: t3}
		}
		refunded = func(id, tx string) RefundApproved {
			return RefundApproved{RefundID: id, TransactionKey: tx, CanceledAt: t3, Rule: "toss.v2/cancel-recorded", At: t3}
		}
		success = func(id, tx string) RecordRefundOutcome {
			return RecordRefundOutcome{RefundID: id, Verdict: Verdict{Status: StatusSuccess, Rule: "toss.v2/cancel-recorded", TransactionKey: tx, CanceledAt: t3}, At: t3}
		}
		external = func(tx, amount string) RecordExternalRefund {
			return RecordExternalRefund{RefundID: "x-" + tx, TransactionKey: tx, Amount: d(amount), FoundBy: "webhook", CanceledAt: t3, At: t3}
		}
		with = func(events ...Event) []Event { return append(append([]Event{}, paid...), events...) }
	)

	DescribeTable("given history, when command, then events",
		func(given []Event, cmd Command, want []Event) {
			got, err := Decide(Fold(given), cmd)
			Expect(err).NotTo(HaveOccurred())
			Expect(got).To(Equal(want))
		},
		Entry("a partial refund of one order", paid, request("r1", "12500", split(2, "12500")),
			[]Event{requested("r1", "12500", split(2, "12500"))}),
		Entry("the whole balance, split over what each order has left", with(requested("r1", "12500", split(2, "12500")), refunded("r1", "tx1")),
			request("r2", "0"), []Event{requested("r2", "36000", split(1, "36000"))}),
		Entry("Toss's cancel record approves the open refund", with(requested("r1", "12500", split(2, "12500"))), success("r1", "tx1"),
			[]Event{refunded("r1", "tx1")}),
		Entry("a cancel made at Toss of the whole balance splits over the orders", paid, external("tx9", "48500"),
			[]Event{ExternalRefundRecorded{RefundID: "x-tx9", TransactionKey: "tx9", Amount: d("48500"),
				Orders: []RefundSplit{split(1, "36000"), split(2, "12500")}, FoundBy: "webhook", CanceledAt: t3, At: t3}}),
		Entry("a partial cancel made at Toss is recorded unallocated", paid, external("tx9", "1000"),
			[]Event{ExternalRefundRecorded{RefundID: "x-tx9", TransactionKey: "tx9", Amount: d("1000"), FoundBy: "webhook", CanceledAt: t3, At: t3}}),
		Entry("the same Toss cancel again changes nothing", with(requested("r1", "12500", split(2, "12500")), refunded("r1", "tx1")),
			external("tx1", "12500"), nil),
		Entry("a retried request (same key and body) of a settled refund changes nothing",
			with(RefundRequested{RefundID: "r1", Amount: d("1000"), Orders: []RefundSplit{split(2, "1000")}, RequestKey: "k", RequestHash: "h", At: t3},
				refunded("r1", "tx1")),
			RequestRefund{RefundID: "r2", Amount: d("1000"), Reason: "again", RequestKey: "k", RequestHash: "h", At: t3}, nil),
		Entry("the ledger's booking of a refund", with(requested("r1", "12500", split(2, "12500")), refunded("r1", "tx1")),
			RecordRefundBooked{RefundID: "r1", By: "ledger", MessageID: "m1", At: t3},
			[]Event{RefundBooked{RefundID: "r1", By: "ledger", MessageID: "m1", At: t3}}),
	)

	DescribeTable("given history, when command, then error",
		func(given []Event, cmd Command, want error) {
			got, err := Decide(Fold(given), cmd)
			Expect(err).To(MatchError(want))
			Expect(got).To(BeEmpty())
		},
		Entry("a refund of a payment never approved", []Event{created, started, unknown}, request("r1", "1000", split(1, "1000")), ErrCannotRefund),
		Entry("more than the balance", paid, request("r1", "48501"), ErrCannotRefund),
		Entry("more than an order has left", paid, request("r1", "13000", split(2, "13000")), ErrCannotRefund),
		Entry("a partial refund without a split", paid, request("r1", "1000"), ErrCannotRefund),
		Entry("a split that does not add up", paid, request("r1", "2000", split(2, "1000")), ErrInvalid),
		Entry("an order listed twice", paid, request("r1", "2000", split(2, "1000"), split(2, "1000")), ErrInvalid),
		Entry("an order that does not exist", paid, request("r1", "1000", split(3, "1000")), ErrInvalid),
		Entry("a second refund while one is open", with(requested("r1", "1000", split(2, "1000"))), request("r2", "1000", split(1, "1000")),
			ErrRefundExecuting),
		Entry("a refund of a cancelled payment", with(requested("r1", "48500", split(1, "36000"), split(2, "12500")), refunded("r1", "tx1")),
			request("r2", "1"), ErrCannotRefund),
		Entry("an approval without Toss's cancel record", with(requested("r1", "1000", split(2, "1000"))),
			RecordRefundOutcome{RefundID: "r1", Verdict: Verdict{Status: StatusSuccess}, At: t3}, ErrInvalid),
		Entry("an outcome for a settled refund", with(requested("r1", "1000", split(2, "1000")), refunded("r1", "tx1")), success("r1", "tx2"),
			ErrNotExecuting),
		Entry("an external cancel while our refund is open", with(requested("r1", "1000", split(2, "1000"))), external("tx5", "1000"),
			ErrRefundExecuting),
		Entry("a booking of a refund not approved", with(requested("r1", "1000", split(2, "1000"))),
			RecordRefundBooked{RefundID: "r1", By: "ledger", At: t3}, ErrNotApproved),
		Entry("an outcome for a refund that does not exist", paid, success("r9", "tx1"), ErrNoSuchRefund),
		Entry("a retried request while the first is still at the PSP",
			with(RefundRequested{RefundID: "r1", Amount: d("1000"), Orders: []RefundSplit{split(2, "1000")}, RequestKey: "k", RequestHash: "h", At: t3}),
			RequestRefund{RefundID: "r2", Amount: d("1000"), Reason: "again", RequestKey: "k", RequestHash: "h", At: t3}, ErrRefundExecuting),
	)

	It("keeps the balance and each order's refunded amount, and names the statuses as Toss does", func() {
		s := Fold(with(requested("r1", "12500", split(2, "12500")), refunded("r1", "tx1")))
		Expect(s.Status).To(Equal(StatusPartialCanceled))
		Expect(s.BalanceAmount()).To(Equal(d("36000")))
		Expect(s.Orders[1].Refunded).To(Equal(d("12500")))
		Expect(s.Orders[1].Status).To(Equal(StatusCanceled))
		Expect(s.Orders[0].Status).To(Equal(StatusSuccess))
		Expect(s.Status.Terminal()).To(BeTrue(), "a confirm of it is answered as recorded")

		s = Evolve(s, ExternalRefundRecorded{RefundID: "x-tx2", TransactionKey: "tx2", Amount: d("36000"), FoundBy: "lookup", CanceledAt: t3, At: t3})
		Expect(s.Status).To(Equal(StatusCanceled))
		Expect(s.BalanceAmount().IsZero()).To(BeTrue())
		Expect(s.Orders[0].Refunded.IsZero()).To(BeTrue(), "not allocated yet")

		events, err := Decide(s, AllocateRefund{RefundID: "x-tx2", Orders: []RefundSplit{split(1, "36000")}, Actor: "ops", Reason: "the book", At: t3})
		Expect(err).NotTo(HaveOccurred())
		s = Evolve(s, events[0])
		Expect(s.Orders[0].Refunded).To(Equal(d("36000")))
		Expect(s.Orders[0].Status).To(Equal(StatusCanceled))
	})

	It("claims an open refund for recovery, then escalates past the threshold", func() {
		unknownRefund := RefundOutcomeUnknown{RefundID: "r1", Rule: "toss.v2/cancel-transport", At: t3}
		s := Fold(with(requested("r1", "1000", split(2, "1000")), unknownRefund))
		Expect(s.RefundOpen(t3)).To(BeTrue())
		Expect(s.OutcomeOpen(t3)).To(BeFalse(), "the approval itself is settled")
		claim := ClaimRefundRecovery{ExecutingBefore: t3, Threshold: 1, At: t3}
		got, err := Decide(s, claim)
		Expect(err).NotTo(HaveOccurred())
		Expect(got).To(Equal([]Event{RefundRecoveryAttempted{RefundID: "r1", Attempt: 1, Threshold: 1, Reason: "unknown", At: t3}}))
		s = Evolve(Evolve(s, got[0]), unknownRefund)
		got, err = Decide(s, claim)
		Expect(err).NotTo(HaveOccurred())
		Expect(got[0]).To(BeAssignableToTypeOf(RefundEscalated{}))
		s = Evolve(s, got[0])
		Expect(s.RefundOpen(t3.Add(time.Hour))).To(BeFalse(), "escalated: a person settles it")
		_, err = Decide(s, request("r2", "1000", split(1, "1000")))
		Expect(errors.Is(err, ErrRefundExecuting)).To(BeTrue(), "until then no other refund")
	})
})
