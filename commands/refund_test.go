package commands_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream"
	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/catalog"
	"github.com/paystream/paystream/commands"
	"github.com/paystream/paystream/eventstore/embedded"
	"github.com/paystream/paystream/toss"
	"github.com/paystream/paystream/toss/tosssim"
)

var _ = Describe("Refunds against the Toss simulator", func() {
	var (
		sim   *tosssim.Simulator
		store *embedded.Store
		svc   *commands.Service
		clk   *clock
		meta  = commands.Meta{CorrelationID: "req-r", Actor: "spec"}
		paid  func(ctx context.Context) commands.Payment // a two-seller approved payment
	)

	BeforeEach(func() {
		sim = tosssim.New(tosssim.Options{SecretKeys: []string{simKey}, Seed: 13})
		srv := httptest.NewServer(sim)
		DeferCleanup(srv.Close)
		store = embedded.OpenMemory()
		DeferCleanup(store.Close)
		products, err := catalog.Parse(paystream.SampleCatalog)
		Expect(err).NotTo(HaveOccurred())
		clk = &clock{}
		svc = commands.New(commands.Config{Store: store, PSP: toss.NewPSP(toss.NewClient(srv.URL, simKey)), Catalog: products,
			Logger: slog.New(slog.NewTextHandler(GinkgoWriter, nil)), Now: clk.Now, ConfirmTimeout: 4 * time.Second,
			Retry:    commands.Retry{Base: 50 * time.Millisecond, Max: 300 * time.Millisecond, AttemptTimeout: time.Second},
			Recovery: aggregate.RecoveryPolicy{ExecutingTimeout: time.Minute, Threshold: 3, BackoffBase: time.Second, BackoffMax: 4 * time.Second}})
		paid = func(ctx context.Context) commands.Payment {
			p, err := svc.Checkout(ctx, commands.CheckoutRequest{BuyerID: "b", Items: []commands.Item{
				{ProductID: "book-kia", Quantity: 1}, {ProductID: "mug-gopher", Quantity: 2}}}, meta)
			Expect(err).NotTo(HaveOccurred())
			key, err := sim.CreateSession(p.OrderID, p.TotalAmount)
			Expect(err).NotTo(HaveOccurred())
			p, err = svc.Confirm(ctx, commands.ConfirmRequest{OrderID: p.OrderID, PaymentKey: key, Amount: p.TotalAmount}, meta)
			Expect(err).NotTo(HaveOccurred())
			Expect(p.Status).To(Equal(aggregate.StatusSuccess))
			return p
		}
	})

	krw := func(n int64) decimal.Decimal { return decimal.NewFromInt(n) }

	It("refunds part, then the rest, checked against Toss's cancels", func(ctx SpecContext) {
		p := paid(ctx) // 36000 (seller-1) + 25000 (seller-2)
		got, err := svc.Cancel(ctx, commands.CancelRequest{OrderID: p.OrderID, Amount: krw(12500), Reason: "one mug broke",
			Orders: []aggregate.RefundSplit{{Seq: 2, Amount: krw(12500)}}}, meta)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.Status).To(Equal(aggregate.StatusPartialCanceled))
		Expect(got.BalanceAmount()).To(Equal(krw(48500)))
		Expect(got.Orders[1].Refunded).To(Equal(krw(12500)))
		Expect(got.Refunds[0].Status).To(Equal(aggregate.StatusSuccess))
		Expect(got.Refunds[0].TransactionKey).NotTo(BeEmpty())

		got, err = svc.Cancel(ctx, commands.CancelRequest{OrderID: p.OrderID, Reason: "the rest"}, meta)
		Expect(err).NotTo(HaveOccurred(), "a full cancel of the balance needs no split")
		Expect(got.Refunds[1].Outcome).To(Equal(&aggregate.Outcome{Status: aggregate.StatusSuccess, Rule: toss.RuleCancelRecorded}))
		Expect(got.Status).To(Equal(aggregate.StatusCanceled))
		Expect(got.BalanceAmount().IsZero()).To(BeTrue())
		Expect(got.Orders[0].Refunded).To(Equal(krw(36000)))
		Expect(got.Orders[1].Refunded).To(Equal(krw(25000)))
		Expect(sim.Stats().Cancels).To(BeEquivalentTo(2))

		_, err = svc.Cancel(ctx, commands.CancelRequest{OrderID: p.OrderID, Amount: krw(1000), Reason: "again"}, meta)
		Expect(err).To(MatchError(aggregate.ErrCannotRefund))
	})

	It("refuses what cannot be refunded, naming the field, without calling Toss", func(ctx SpecContext) {
		p := paid(ctx)
		for _, c := range []struct {
			req   commands.CancelRequest
			field string
		}{
			{commands.CancelRequest{Amount: krw(61001), Reason: "r"}, "cancelAmount"},
			{commands.CancelRequest{Amount: krw(1000), Reason: "r"}, "orders"},
			{commands.CancelRequest{Amount: krw(26000), Reason: "r", Orders: []aggregate.RefundSplit{{Seq: 2, Amount: krw(26000)}}}, "orders[0].amount"},
		} {
			c.req.OrderID = p.OrderID
			_, err := svc.Cancel(ctx, c.req, meta)
			var re *aggregate.RefundError
			Expect(errors.As(err, &re)).To(BeTrue(), "%v", err)
			Expect(re.Field).To(Equal(c.field))
		}
		Expect(sim.Stats().Cancels).To(BeZero())
	})

	It("sends one cancel to Toss for 20 concurrent requests, and answers a retried key as recorded", func(ctx SpecContext) {
		p := paid(ctx)
		var wg sync.WaitGroup
		errs := make([]error, 20)
		for i := range errs {
			wg.Go(func() {
				_, errs[i] = svc.Cancel(ctx, commands.CancelRequest{OrderID: p.OrderID, Amount: krw(12500), Reason: "race",
					Orders: []aggregate.RefundSplit{{Seq: 2, Amount: krw(12500)}}, IdempotencyKey: "refund-race"}, meta)
			})
		}
		wg.Wait()
		Expect(sim.Stats().Cancels).To(BeEquivalentTo(1))
		got, err := svc.Load(ctx, p.OrderID)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.Refunds).To(HaveLen(1))
		Expect(got.RefundedAmount).To(Equal(krw(12500)))

		again, err := svc.Cancel(ctx, commands.CancelRequest{OrderID: p.OrderID, Amount: krw(12500), Reason: "race",
			Orders: []aggregate.RefundSplit{{Seq: 2, Amount: krw(12500)}}, IdempotencyKey: "refund-race"}, meta)
		Expect(err).NotTo(HaveOccurred())
		Expect(again.Refunds).To(HaveLen(1), "the same key and body: the first answer")
		_, err = svc.Cancel(ctx, commands.CancelRequest{OrderID: p.OrderID, Amount: krw(1000), Reason: "race",
			Orders: []aggregate.RefundSplit{{Seq: 2, Amount: krw(1000)}}, IdempotencyKey: "refund-race"}, meta)
		Expect(err).To(MatchError(commands.ErrIdempotencyKeyReused))
		Expect(sim.Stats().Cancels).To(BeEquivalentTo(1))
	})

	It("records no refund for a cancel whose Idempotency-Key another request used", func(ctx SpecContext) {
		p := paid(ctx)
		_, err := svc.Checkout(ctx, commands.CheckoutRequest{BuyerID: "b", IdempotencyKey: "used-key",
			Items: []commands.Item{{ProductID: "book-kia", Quantity: 1}}}, meta)
		Expect(err).NotTo(HaveOccurred())
		_, err = svc.Cancel(ctx, commands.CancelRequest{OrderID: p.OrderID, Reason: "r", IdempotencyKey: "used-key"}, meta)
		Expect(err).To(MatchError(commands.ErrIdempotencyKeyReused))
		got, err := svc.Load(ctx, p.OrderID)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.Refunds).To(BeEmpty(), "nothing for recovery to send later")
		Expect(sim.Stats().Cancels).To(BeZero())
	})

	It("leaves a refund Toss made but whose answer was lost UNKNOWN, and recovery finds it in the record", func(ctx SpecContext) {
		p := paid(ctx)
		sim.SetFaults(tosssim.Faults{RateTimeout: 1})
		got, err := svc.Cancel(ctx, commands.CancelRequest{OrderID: p.OrderID, Amount: krw(36000), Reason: "book",
			Orders: []aggregate.RefundSplit{{Seq: 1, Amount: krw(36000)}}}, meta)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.Refunds[0].Status).To(Equal(aggregate.StatusUnknown))
		Expect(got.Status).To(Equal(aggregate.StatusSuccess), "nothing refunded is recorded")
		sim.SetFaults(tosssim.Faults{})

		_, err = svc.Cancel(ctx, commands.CancelRequest{OrderID: p.OrderID, Reason: "more"}, meta)
		Expect(err).To(MatchError(aggregate.ErrRefundExecuting), "one refund at a time")

		clk.Advance(2 * time.Second)
		res, recovered, err := svc.Recover(ctx, p.OrderID, meta)
		Expect(err).NotTo(HaveOccurred())
		Expect(res).To(Equal(commands.RecoverySettled))
		Expect(recovered.Refunds[0].Status).To(Equal(aggregate.StatusSuccess))
		Expect(recovered.Status).To(Equal(aggregate.StatusPartialCanceled))
		Expect(sim.Stats().Cancels).To(BeNumerically("<=", 1), "never refunded twice")
		Expect(recovered.BalanceAmount()).To(Equal(krw(25000)))
	})
})
