package toss_test

import (
	"context"
	"net/http/httptest"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/commands"
	"github.com/paystream/paystream/toss"
	"github.com/paystream/paystream/toss/tosssim"
)

var _ = Describe("PSP refunds against the simulator", func() {
	var (
		now     *clock
		sim     *tosssim.Simulator
		client  *toss.Client
		psp     *toss.PSP
		payment commands.Execution
	)

	// approve authorises and confirms amount for orderID as r describes it.
	approve := func(ctx context.Context, r tosssim.SessionRequest) commands.Execution {
		GinkgoHelper()
		key, err := sim.CreateSessionFor(r)
		Expect(err).NotTo(HaveOccurred())
		e := commands.Execution{OrderID: r.OrderID, PaymentKey: key, Amount: r.Amount, IdempotencyKey: "confirm-" + r.OrderID}
		v := psp.Confirm(ctx, e).Verdict
		if r.Method == toss.MethodVirtualAccount { // captured once the buyer deposits
			Expect(v.Status).To(Equal(aggregate.StatusWaitingForDeposit))
			_, err = sim.Deposit(key, r.Amount)
			Expect(err).NotTo(HaveOccurred())
			return e
		}
		Expect(v.Status).To(Equal(aggregate.StatusSuccess))
		return e
	}
	refund := func(n string, amount int64, known ...string) commands.RefundExecution {
		return commands.RefundExecution{OrderID: payment.OrderID, PaymentKey: payment.PaymentKey, Amount: krw(amount),
			Reason: "refund " + n, IdempotencyKey: "cancel-" + payment.OrderID + "-" + n, KnownCancels: known}
	}

	BeforeEach(func(ctx SpecContext) {
		now = newClock()
		sim = tosssim.New(tosssim.Options{SecretKeys: []string{string(testKey)}, Now: now.Now, Seed: 5})
		server := httptest.NewServer(sim)
		DeferCleanup(server.Close)
		client = toss.NewClient(server.URL, testKey)
		psp = toss.NewPSP(client)
		payment = approve(ctx, tosssim.SessionRequest{OrderID: "order-8008", Amount: krw(15000)})
	})

	It("refunds in part, then the rest, each SUCCESS with its own cancel; the lookup shows both and the balance", func(ctx SpecContext) {
		now.Advance(time.Minute)
		first := psp.Cancel(ctx, refund("r1", 4000))
		Expect(first.Verdict.Status).To(Equal(aggregate.StatusSuccess), "%+v", first.Verdict)
		Expect(first.Verdict.Rule).To(Equal(toss.RuleCancelRecorded))
		Expect(first.Verdict.TransactionKey).NotTo(BeEmpty())
		Expect(first.Verdict.CanceledAt.Equal(now.Now())).To(BeTrue())

		rec := psp.Lookup(ctx, payment)
		Expect(rec.Err).NotTo(HaveOccurred())
		Expect(rec.Status).To(Equal("PARTIAL_CANCELED"))
		Expect(rec.Balance.Equal(krw(11000))).To(BeTrue(), "balance %s", rec.Balance)
		Expect(rec.Cancels).To(HaveLen(1))
		Expect(rec.Cancels[0].TransactionKey).To(Equal(first.Verdict.TransactionKey))

		now.Advance(time.Minute)
		second := psp.Cancel(ctx, refund("r2", 11000, first.Verdict.TransactionKey))
		Expect(second.Verdict.Status).To(Equal(aggregate.StatusSuccess), "%+v", second.Verdict)
		Expect(second.Verdict.TransactionKey).NotTo(Equal(first.Verdict.TransactionKey))

		rec = psp.Lookup(ctx, payment)
		Expect(rec.Status).To(Equal("CANCELED"))
		Expect(rec.Balance.IsZero()).To(BeTrue())
		Expect(rec.Cancels).To(HaveLen(2))
		c := rec.Cancels[1]
		Expect(c.TransactionKey).To(Equal(second.Verdict.TransactionKey))
		Expect(c.Amount.Equal(krw(11000))).To(BeTrue())
		Expect(c.Reason).To(Equal("refund r2"))
		Expect(c.Status).To(Equal("DONE"))
		Expect(c.CanceledAt.Equal(now.Now())).To(BeTrue())
		Expect(string(rec.Evidence)).To(ContainSubstring(`"status":"CANCELED"`))
		Expect(sim.Stats().Cancels).To(BeEquivalentTo(2))
	})

	It("answers a repeat of a refund with its key from the stored answer, without cancelling twice", func(ctx SpecContext) {
		first := psp.Cancel(ctx, refund("r1", 4000))
		Expect(first.Verdict.Status).To(Equal(aggregate.StatusSuccess))

		By("repeating it before its outcome was recorded: the same cancel, SUCCESS again")
		now.Advance(time.Minute)
		again := psp.Cancel(ctx, refund("r1", 4000))
		Expect(again.Verdict.Status).To(Equal(aggregate.StatusSuccess))
		Expect(again.Verdict.TransactionKey).To(Equal(first.Verdict.TransactionKey))

		By("repeating it after its cancel was recorded: not a new cancel, so never a second SUCCESS")
		known := psp.Cancel(ctx, refund("r1", 4000, first.Verdict.TransactionKey))
		Expect(known.Verdict.Status).To(Equal(aggregate.StatusUnknown))
		Expect(known.Verdict.Rule).To(Equal(toss.RuleCancelNotFound))

		Expect(sim.Stats().Cancels).To(BeEquivalentTo(1))
		Expect(sim.CancelRequests("order-8008")).To(Equal(3))
		Expect(psp.Lookup(ctx, payment).Balance.Equal(krw(11000))).To(BeTrue())
	})

	It("refuses a second refund within a second as transient, and takes it when retried with its key after the window", func(ctx SpecContext) {
		Expect(psp.Cancel(ctx, refund("r1", 1000)).Verdict.Status).To(Equal(aggregate.StatusSuccess))
		a := psp.Cancel(ctx, refund("r2", 2000))
		Expect(a.Verdict.Code).To(Equal("FORBIDDEN_CONSECUTIVE_REQUEST"))
		Expect(a.Verdict.Status).To(Equal(aggregate.StatusUnknown))
		Expect(a.Retry).To(BeTrue())

		now.Advance(time.Second)
		Expect(psp.Cancel(ctx, refund("r2", 2000)).Verdict.Status).To(Equal(aggregate.StatusSuccess))
		Expect(psp.Lookup(ctx, payment).Balance.Equal(krw(12000))).To(BeTrue())
	})

	DescribeTable("refusals are FAILURE and refund nothing",
		func(ctx SpecContext, session tosssim.SessionRequest, r func() commands.RefundExecution, code string) {
			if session.OrderID != "" {
				payment = approve(ctx, session)
			}
			a := psp.Cancel(ctx, r())
			Expect(a.Verdict.Status).To(Equal(aggregate.StatusFailure), "%+v", a.Verdict)
			Expect(a.Verdict.Rule).To(Equal(toss.RuleCancelRejected))
			Expect(a.Verdict.Code).To(Equal(code))
			Expect(psp.Lookup(ctx, payment).Cancels).To(BeEmpty())
		},
		Entry("more than the balance", tosssim.SessionRequest{},
			func() commands.RefundExecution { return refund("r1", 15001) }, "NOT_CANCELABLE_AMOUNT"),
		Entry("part of a payment cancelable in full only",
			tosssim.SessionRequest{OrderID: "order-8009", Amount: krw(15000), NotPartialCancelable: true},
			func() commands.RefundExecution { return refund("r1", 5000) }, "NOT_ALLOWED_PARTIAL_REFUND"),
		Entry("a virtual-account payment without a refund account",
			tosssim.SessionRequest{OrderID: "order-8010", Amount: krw(15000), Method: toss.MethodVirtualAccount},
			func() commands.RefundExecution { return refund("r1", 5000) }, "INVALID_REQUEST"),
		Entry("a tax-free part above the refund",
			tosssim.SessionRequest{},
			func() commands.RefundExecution { r := refund("r1", 5000); r.TaxFreeAmount = krw(5001); return r }, "INVALID_REQUEST"),
	)

	It("refunds a virtual-account payment to the account given", func(ctx SpecContext) {
		payment = approve(ctx, tosssim.SessionRequest{OrderID: "order-8011", Amount: krw(15000), Method: toss.MethodVirtualAccount})
		r := refund("r1", 5000)
		r.Account = &aggregate.RefundAccount{Bank: "88", AccountNumber: "11012345678", HolderName: "홍길동"}
		a := psp.Cancel(ctx, r)
		Expect(a.Verdict.Status).To(Equal(aggregate.StatusSuccess), "%+v", a.Verdict)
		Expect(string(a.Verdict.Evidence)).NotTo(ContainSubstring("11012345678"))
	})

	It("finds a cancel made in Toss's console by lookup, and refuses a refund of more than it left", func(ctx SpecContext) {
		part := krw(10000)
		p, err := sim.ConsoleCancel(payment.PaymentKey, &part, "card company dispute")
		Expect(err).NotTo(HaveOccurred())
		Expect(p.Status).To(Equal(toss.StatusPartialCanceled))

		rec := psp.Lookup(ctx, payment)
		Expect(rec.Cancels).To(HaveLen(1))
		Expect(rec.Cancels[0].TransactionKey).To(Equal(p.Cancels[0].TransactionKey))
		Expect(rec.Cancels[0].Reason).To(Equal("card company dispute"))
		Expect(rec.Balance.Equal(krw(5000))).To(BeTrue())

		Expect(psp.Cancel(ctx, refund("r1", 6000)).Verdict.Code).To(Equal("NOT_CANCELABLE_AMOUNT"))
		_, err = sim.ConsoleCancel(payment.PaymentKey, &part, "again")
		Expect(err).To(MatchError(ContainSubstring("NOT_CANCELABLE_AMOUNT")))
		Expect(sim.Stats().ConsoleCancels).To(BeEquivalentTo(1))
	})

	Describe("under faults", func() {
		It("a 5xx is UNKNOWN and retried; nothing was refunded until the retry", func(ctx SpecContext) {
			sim.SetFaults(tosssim.Faults{Rate5xx: 1})
			a := psp.Cancel(ctx, refund("r1", 4000))
			Expect(a.Verdict.Status).To(Equal(aggregate.StatusUnknown))
			Expect(a.Verdict.Rule).To(Equal(toss.RuleCancelTransient))
			Expect(a.Retry).To(BeTrue())
			Expect(sim.Stats().Cancels).To(BeZero())

			sim.SetFaults(tosssim.Faults{})
			Expect(psp.Lookup(ctx, payment).Cancels).To(BeEmpty())
			Expect(psp.Cancel(ctx, refund("r1", 4000)).Verdict.Status).To(Equal(aggregate.StatusSuccess))
		})

		It("a timeout is UNKNOWN at the caller's deadline and refunds nothing", func(ctx SpecContext) {
			sim.SetFaults(tosssim.Faults{RateTimeout: 1})
			callCtx, stop := context.WithTimeout(ctx, 200*time.Millisecond)
			defer stop()
			a := psp.Cancel(callCtx, refund("r1", 4000))
			Expect(a.Verdict.Status).To(Equal(aggregate.StatusUnknown))
			Expect(a.Verdict.Rule).To(Equal(toss.RuleCancelTransport))
			Expect(a.Retry).To(BeTrue())
			sim.SetFaults(tosssim.Faults{})
			Expect(psp.Lookup(ctx, payment).Cancels).To(BeEmpty())
			Expect(sim.Stats().Cancels).To(BeZero())
		})

		It("a dropped answer is UNKNOWN although the money was refunded; the lookup finds it and the retry with the key answers it", func(ctx SpecContext) {
			By("warming up a keep-alive connection, on which net/http alone would resend the keyed POST")
			Expect(psp.Lookup(ctx, payment).Err).NotTo(HaveOccurred())

			sim.SetFaults(tosssim.Faults{RateDropAfterApprove: 1})
			a := psp.Cancel(ctx, refund("r1", 4000))
			Expect(a.Verdict.Status).To(Equal(aggregate.StatusUnknown))
			Expect(a.Verdict.Rule).To(Equal(toss.RuleCancelTransport))
			Expect(sim.Stats().InjectedDrops).To(BeEquivalentTo(1))

			sim.SetFaults(tosssim.Faults{})
			rec := psp.Lookup(ctx, payment)
			Expect(rec.Cancels).To(HaveLen(1))
			Expect(rec.Balance.Equal(krw(11000))).To(BeTrue())

			retried := psp.Cancel(ctx, refund("r1", 4000))
			Expect(retried.Verdict.Status).To(Equal(aggregate.StatusSuccess))
			Expect(retried.Verdict.TransactionKey).To(Equal(rec.Cancels[0].TransactionKey))
			Expect(sim.Stats().Cancels).To(BeEquivalentTo(1))
		})

		It("latency beyond the caller's deadline is UNKNOWN, yet Toss goes on and refunds", func(ctx SpecContext) {
			sim.SetFaults(tosssim.Faults{LatencyMin: 300 * time.Millisecond, LatencyMax: 300 * time.Millisecond})
			callCtx, stop := context.WithTimeout(ctx, 50*time.Millisecond)
			defer stop()
			Expect(psp.Cancel(callCtx, refund("r1", 4000)).Verdict.Status).To(Equal(aggregate.StatusUnknown))
			Eventually(func() int64 { return sim.Stats().Cancels }).WithContext(ctx).Should(BeEquivalentTo(1))
		})
	})
})
