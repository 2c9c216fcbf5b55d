package aggregate_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	. "github.com/paystream/paystream/aggregate"
)

var _ = Describe("the rules of a payment", func() {
	policy := RecoveryPolicy{ExecutingTimeout: time.Minute, Threshold: 3, BackoffBase: 10 * time.Second, BackoffMax: 40 * time.Second}
	attempt := func(n int) RecoveryAttempted {
		return RecoveryAttempted{Attempt: n, Threshold: 3, Reason: "unknown", At: t2}
	}
	escalated := EscalatedToManual{Attempts: 3, At: t2}

	DescribeTable("open for recovery and due",
		func(given []Event, now time.Time, open, due bool) {
			s := Fold(given)
			Expect(s.Open(now.Add(-policy.ExecutingTimeout))).To(Equal(open), "open")
			Expect(s.DueForRecovery(now, policy)).To(Equal(due), "due")
		},
		Entry("a checkout is not", []Event{created}, t2, false, false),
		Entry("EXECUTING within the timeout is not", []Event{created, started}, t1.Add(59*time.Second), false, false),
		Entry("EXECUTING past the timeout is", []Event{created, started}, t1.Add(61*time.Second), true, true),
		Entry("UNKNOWN with no attempt yet is, at once", []Event{created, started, unknown}, t2, true, true),
		Entry("UNKNOWN within its backoff is open, not due", []Event{created, started, unknown, attempt(1), unknown}, t2.Add(9*time.Second), true, false),
		Entry("UNKNOWN past its backoff is due", []Event{created, started, unknown, attempt(1), unknown}, t2.Add(10*time.Second), true, true),
		Entry("the backoff doubles", []Event{created, started, unknown, attempt(1), unknown, attempt(2), unknown}, t2.Add(19*time.Second), true, false),
		Entry("escalated waits for a person", []Event{created, started, unknown, escalated}, t2.Add(time.Hour), false, false),
		Entry("SUCCESS is settled", []Event{created, started, approved}, t2.Add(time.Hour), false, false),
		Entry("FAILURE is settled", []Event{created, started, failed}, t2.Add(time.Hour), false, false),
	)

	It("caps the backoff", func() {
		Expect(policy.Backoff(0)).To(BeZero())
		Expect(policy.Backoff(1)).To(Equal(10 * time.Second))
		Expect(policy.Backoff(3)).To(Equal(40 * time.Second))
		Expect(policy.Backoff(30)).To(Equal(40 * time.Second))
	})

	DescribeTable("expired by a cutoff",
		func(given []Event, createdBefore time.Time, expired bool) {
			Expect(Fold(given).ExpiredBy(createdBefore)).To(Equal(expired))
		},
		Entry("a checkout created before the cutoff", []Event{created}, t1, true),
		Entry("a checkout created at the cutoff", []Event{created}, t0, false),
		Entry("a checkout sent to the PSP", []Event{created, started, aborted}, t2, false),
		Entry("an expired checkout, again", []Event{created, CheckoutExpired{At: t1}}, t2, false),
	)

	It("records a confirm past the checkout window as the expiry it is", func() {
		late := start("pk_1", "48500")
		late.ExpiredBefore = t1
		Expect(Decide(Fold([]Event{created}), late)).To(Equal([]Event{CheckoutExpired{Reason: "not confirmed within the PSP session window", At: late.At}}))
		late.ExpiredBefore = t0
		Expect(Decide(Fold([]Event{created}), late)).To(HaveExactElements(BeAssignableToTypeOf(ExecutionStarted{})), "in time")
	})

	It("names payment streams one way", func() {
		Expect(StreamName("order-0001")).To(Equal("payment-order-0001"))
		id, ok := OrderIDOf("payment-order-0001")
		Expect(ok).To(BeTrue())
		Expect(id).To(Equal("order-0001"))
		_, ok = OrderIDOf("idempotency-abc")
		Expect(ok).To(BeFalse())
	})
})
