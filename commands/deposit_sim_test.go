package commands_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"time"

	"github.com/go-json-experiment/json/v1"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream"
	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/catalog"
	"github.com/paystream/paystream/commands"
	"github.com/paystream/paystream/eventstore/embedded"
	"github.com/paystream/paystream/toss"
	"github.com/paystream/paystream/toss/tosssim"
)

var _ = Describe("Virtual accounts against the Toss simulator", func() {
	It("confirms to WAITING_FOR_DEPOSIT, refuses a forged callback, and records the deposit Toss's callback announces", func(ctx SpecContext) {
		sim := tosssim.New(tosssim.Options{SecretKeys: []string{simKey}, Seed: 12})
		srv := httptest.NewServer(sim)
		DeferCleanup(srv.Close)
		DeferCleanup(sim.Close)
		store := embedded.OpenMemory()
		DeferCleanup(store.Close)
		products, err := catalog.Parse(paystream.SampleCatalog)
		Expect(err).NotTo(HaveOccurred())
		svc := commands.New(commands.Config{Store: store, PSP: toss.NewPSP(toss.NewClient(srv.URL, simKey)), Catalog: products,
			Logger: slog.New(slog.NewTextHandler(GinkgoWriter, nil))})
		meta := commands.Meta{CorrelationID: "req-va-sim", Actor: "spec"}

		p, err := svc.Checkout(ctx, commands.CheckoutRequest{BuyerID: "buyer-1", Items: []commands.Item{{ProductID: "book-kia", Quantity: 1}}}, meta)
		Expect(err).NotTo(HaveOccurred())
		key, err := sim.CreateSessionFor(tosssim.SessionRequest{OrderID: p.OrderID, Amount: p.TotalAmount, Method: toss.MethodVirtualAccount})
		Expect(err).NotTo(HaveOccurred())
		p, err = svc.Confirm(ctx, commands.ConfirmRequest{OrderID: p.OrderID, PaymentKey: key, Amount: p.TotalAmount}, meta)
		Expect(err).NotTo(HaveOccurred())
		Expect(p.Status).To(Equal(aggregate.StatusWaitingForDeposit))
		Expect(p.VirtualAccount).NotTo(BeNil())
		Expect(p.VirtualAccount.DueDate).To(BeTemporally(">", time.Now()))

		paid, err := sim.Deposit(key, p.TotalAmount)
		Expect(err).NotTo(HaveOccurred())
		var body struct{ Secret string }
		Expect(json.Unmarshal(paid.Raw, &body)).To(Succeed())
		Expect(body.Secret).NotTo(BeEmpty())

		in := commands.NewWebhookInbox(svc, 0, 0)
		Expect(in.Accept(ctx, commands.Webhook{TransmissionID: "forged", EventType: "DEPOSIT_CALLBACK", OrderID: p.OrderID,
			Secret: "not-the-secret", Status: "DONE"})).To(Succeed())
		Expect(in.Accept(ctx, commands.Webhook{TransmissionID: "genuine", EventType: "DEPOSIT_CALLBACK", OrderID: p.OrderID,
			Secret: aggregate.Secret(body.Secret), Status: "DONE"})).To(Succeed())
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = in.Run(runCtx) }()
		Eventually(in.Backlog).WithTimeout(5 * time.Second).Should(BeZero())
		stop()
		<-done

		got, err := svc.Load(ctx, p.OrderID)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.Status).To(Equal(aggregate.StatusSuccess))
		Expect(svc.Signals().ForgedDepositCallbacks).To(Equal(int64(1)))
		Expect(sim.Approvals(p.OrderID)).To(Equal(1))
	})
})
