package commands_test

import (
	"context"
	"log/slog"
	"net/http/httptest"

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

var _ = Describe("Deposit errors against the Toss simulator", func() {
	var (
		sim      *tosssim.Simulator
		svc      *commands.Service
		store    *embedded.Store
		products *catalog.Catalog
		meta     = commands.Meta{CorrelationID: "req-deposit-error", Actor: "spec"}
	)
	BeforeEach(func() {
		sim = tosssim.New(tosssim.Options{SecretKeys: []string{simKey}, Seed: 13})
		srv := httptest.NewServer(sim)
		DeferCleanup(srv.Close)
		DeferCleanup(sim.Close)
		store = embedded.OpenMemory()
		DeferCleanup(store.Close)
		var err error
		products, err = catalog.Parse(paystream.SampleCatalog)
		Expect(err).NotTo(HaveOccurred())
		svc = commands.New(commands.Config{Store: store, PSP: toss.NewPSP(toss.NewClient(srv.URL, simKey)), Catalog: products,
			Logger: slog.New(slog.NewTextHandler(GinkgoWriter, nil))})
	})

	// deposited is a virtual-account payment of two orders whose deposit is recorded.
	deposited := func(ctx SpecContext) (commands.Payment, string) {
		p, err := svc.Checkout(ctx, commands.CheckoutRequest{BuyerID: "buyer-1", Items: []commands.Item{{ProductID: "book-kia", Quantity: 1},
			{ProductID: "mug-gopher", Quantity: 2}}}, meta)
		Expect(err).NotTo(HaveOccurred())
		key, err := sim.CreateSessionFor(tosssim.SessionRequest{OrderID: p.OrderID, Amount: p.TotalAmount, Method: toss.MethodVirtualAccount})
		Expect(err).NotTo(HaveOccurred())
		_, err = svc.Confirm(ctx, commands.ConfirmRequest{OrderID: p.OrderID, PaymentKey: key, Amount: p.TotalAmount}, meta)
		Expect(err).NotTo(HaveOccurred())
		_, err = sim.Deposit(key, p.TotalAmount)
		Expect(err).NotTo(HaveOccurred())
		Expect(svc.Reconcile(ctx, p.OrderID, meta)).To(Equal("recorded deposit"))
		p, err = svc.Load(ctx, p.OrderID)
		Expect(err).NotTo(HaveOccurred())
		Expect(p.Status).To(Equal(aggregate.StatusSuccess))
		return p, key
	}

	It("records the withdrawal Toss's webhook announces, alerts, and takes the next deposit as a fresh approval", func(ctx SpecContext) {
		p, key := deposited(ctx)
		_, err := sim.FailDeposit(key)
		Expect(err).NotTo(HaveOccurred())

		Expect(svc.Reconcile(ctx, p.OrderID, meta)).To(Equal("recorded deposit withdrawn"))
		Expect(svc.Reconcile(ctx, p.OrderID, meta)).To(Equal("still waiting"), "a repeated webhook: the payment waits again")
		got, err := svc.Load(ctx, p.OrderID)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.Status).To(Equal(aggregate.StatusWaitingForDeposit))
		Expect(got.Outcome.Code).To(Equal(aggregate.CodeDepositWithdrawn))
		Expect(got.Withdrawals).To(HaveLen(1))
		Expect(got.Withdrawals[0].Amount.Equal(p.TotalAmount)).To(BeTrue())
		Expect(got.VirtualAccount.SecretHash).To(Equal(p.VirtualAccount.SecretHash), "the account's secret still holds")
		sig := svc.Signals()
		Expect(sig.DepositsWithdrawn).To(Equal(int64(1)))
		Expect(sig.LastAlert).To(ContainSubstring("withdrew the deposit of " + p.OrderID))

		for _, by := range []string{"ledger", "wallet"} {
			_, err := svc.RecordWithdrawalBooked(ctx, commands.WithdrawalBooking{OrderID: p.OrderID, WithdrawalID: got.Withdrawals[0].ID,
				By: by, MessageID: by + "-w1"}, meta)
			Expect(err).NotTo(HaveOccurred())
		}
		got, err = svc.Load(ctx, p.OrderID)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.Withdrawals[0].Booked()).To(BeTrue())

		_, err = sim.Deposit(key, p.TotalAmount)
		Expect(err).NotTo(HaveOccurred())
		Expect(svc.Reconcile(ctx, p.OrderID, meta)).To(Equal("recorded deposit"))
		got, err = svc.Load(ctx, p.OrderID)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.Status).To(Equal(aggregate.StatusSuccess))
		Expect(got.ApprovedAt).NotTo(BeNil())
		Expect(sim.Approvals(p.OrderID)).To(Equal(1), "one approval stands at Toss")
	})

	It("records nothing for a payment refunded in part, and alerts an operator", func(ctx SpecContext) {
		p, _ := deposited(ctx)
		_, err := svc.Cancel(ctx, commands.CancelRequest{OrderID: p.OrderID, Amount: decimal.NewFromInt(12500),
			Orders: []aggregate.RefundSplit{{Seq: 2, Amount: decimal.NewFromInt(12500)}}, Reason: "one mug broke",
			Account: &aggregate.RefundAccount{Bank: "20", AccountNumber: "1002123", HolderName: "김토스"}}, meta)
		Expect(err).NotTo(HaveOccurred())
		refunded, err := svc.Load(ctx, p.OrderID)
		Expect(err).NotTo(HaveOccurred())
		Expect(refunded.Status).To(Equal(aggregate.StatusPartialCanceled))

		// The simulator fails only a DONE deposit; Toss's record of this one is played at the port.
		svc = commands.New(commands.Config{Store: store, PSP: waitingAgain{}, Catalog: products,
			Logger: slog.New(slog.NewTextHandler(GinkgoWriter, nil))})
		Expect(svc.Reconcile(ctx, p.OrderID, meta)).To(Equal("withdrawal after refund alerted"))
		got, err := svc.Load(ctx, p.OrderID)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.Revision).To(Equal(refunded.Revision), "nothing recorded")
		Expect(got.Status).To(Equal(aggregate.StatusPartialCanceled))
		Expect(svc.Signals().LastAlert).To(ContainSubstring("refunded " + p.OrderID))
		Expect(svc.Signals().DepositsWithdrawn).To(Equal(int64(1)))
	})
})

// waitingAgain is a PSP whose record of every payment waits for its deposit (Toss's record
// after a deposit error).
type waitingAgain struct{ commands.PSP }

func (waitingAgain) Lookup(_ context.Context, e commands.Execution) commands.PSPRecord {
	return commands.PSPRecord{Decided: true, Status: "WAITING_FOR_DEPOSIT", Verdict: aggregate.Verdict{
		Status: aggregate.StatusWaitingForDeposit, Rule: "fake/lookup-waiting", PaymentKey: e.PaymentKey, TotalAmount: e.Amount}}
}
