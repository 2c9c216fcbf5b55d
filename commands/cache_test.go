package commands_test

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream"
	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/catalog"
	"github.com/paystream/paystream/commands"
	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/eventstore/embedded"
	"github.com/paystream/paystream/eventstore/storetest"
)

var _ = Describe("the payments a service keeps folded", func() {
	var (
		store  *storetest.ReadCounter
		config commands.Config
		meta   = commands.Meta{CorrelationID: "req-1", Actor: "spec"}
	)
	BeforeEach(func() {
		es := embedded.OpenMemory()
		DeferCleanup(es.Close)
		store = storetest.CountReads(es)
		products, err := catalog.Parse(paystream.SampleCatalog)
		Expect(err).NotTo(HaveOccurred())
		config = commands.Config{Store: store, PSP: approvingPSP{}, Catalog: products}
	})
	checkout := func(ctx context.Context, svc *commands.Service) commands.Payment {
		p, err := svc.Checkout(ctx, commands.CheckoutRequest{BuyerID: "buyer-1",
			Items: []commands.Item{{ProductID: "book-kia", Quantity: 1}, {ProductID: "mug-gopher", Quantity: 2}}}, meta)
		Expect(err).NotTo(HaveOccurred())
		return p
	}
	approve := func(ctx context.Context, svc *commands.Service, p commands.Payment) {
		got, err := svc.Confirm(ctx, commands.ConfirmRequest{OrderID: p.OrderID, PaymentKey: "tgen_" + p.OrderID, Amount: p.TotalAmount}, meta)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.Status).To(Equal(aggregate.StatusSuccess))
	}
	every := func(p commands.Payment) commands.Completion {
		return commands.Completion{OrderID: p.OrderID, Orders: []int{1, 2}, MessageID: "msg-" + p.OrderID}
	}

	Context("when another instance appends behind the cache's back", func() {
		var here, there *commands.Service
		BeforeEach(func() {
			here, there = commands.New(config), commands.New(config)
		})

		It("decides the next command on what the other appended (the append fails, the payment is read again)", func(ctx SpecContext) {
			p := checkout(ctx, here)
			approve(ctx, here, p)
			_, err := there.RecordLedgerUpdated(ctx, every(p), meta)
			Expect(err).NotTo(HaveOccurred())

			done, err := here.RecordWalletUpdated(ctx, every(p), meta)
			Expect(err).NotTo(HaveOccurred())
			Expect(done.IsPaymentDone).To(BeTrue(), "the ledger's booking, appended by the other instance, completes it")
			history, err := here.Events(ctx, p.OrderID)
			Expect(err).NotTo(HaveOccurred())
			Expect(names(history)[len(history)-3:]).To(Equal([]string{aggregate.NameLedgerUpdated,
				aggregate.NameWalletUpdated, aggregate.NamePaymentCompleted}))
		})

		It("refuses nothing on a cached payment that is behind: a refusal is decided on the stream as read", func(ctx SpecContext) {
			p := checkout(ctx, here) // cached here as NOT_STARTED
			approve(ctx, there, p)
			u, err := here.RecordLedgerUpdated(ctx, every(p), meta)
			Expect(err).NotTo(HaveOccurred(), "not ErrNotApproved")
			Expect(u.Orders[0].LedgerUpdated).To(BeTrue())
		})

		It("loads what the other appended", func(ctx SpecContext) {
			p := checkout(ctx, here)
			approve(ctx, here, p)
			_, err := there.RecordLedgerUpdated(ctx, every(p), meta)
			Expect(err).NotTo(HaveOccurred())
			loaded, err := here.Load(ctx, p.OrderID)
			Expect(err).NotTo(HaveOccurred())
			Expect(loaded.Orders[0].LedgerUpdated).To(BeTrue())
		})
	})

	It("is not changed through the payments it hands out", func(ctx SpecContext) {
		svc := commands.New(config)
		p := checkout(ctx, svc)
		approve(ctx, svc, p)
		u, err := svc.RecordLedgerUpdated(ctx, every(p), meta)
		Expect(err).NotTo(HaveOccurred())
		u.Orders[0].LedgerUpdated, u.Orders[1].LedgerUpdated = false, false
		loaded, err := svc.Load(ctx, p.OrderID)
		Expect(err).NotTo(HaveOccurred())
		loaded.Orders[0].LedgerUpdated = false

		done, err := svc.RecordWalletUpdated(ctx, every(p), meta)
		Expect(err).NotTo(HaveOccurred())
		Expect(done.IsPaymentDone).To(BeTrue())
	})

	It("keeps at most CachedPayments payments, the ones used last", func(ctx SpecContext) {
		config.CachedPayments = 2
		svc := commands.New(config)
		var ps []commands.Payment
		for range 3 {
			p := checkout(ctx, svc)
			approve(ctx, svc, p)
			ps = append(ps, p)
		}
		// Cached: the second and third. Recording the first reads it, and evicts the second.
		before := []int{store.Reads(aggregate.StreamName(ps[0].OrderID)), store.Reads(aggregate.StreamName(ps[1].OrderID)), store.Reads(aggregate.StreamName(ps[2].OrderID))}
		for _, i := range []int{0, 2, 1} {
			_, err := svc.RecordLedgerUpdated(ctx, every(ps[i]), meta)
			Expect(err).NotTo(HaveOccurred())
		}
		Expect(store.Reads(aggregate.StreamName(ps[0].OrderID)) - before[0]).To(Equal(1))
		Expect(store.Reads(aggregate.StreamName(ps[2].OrderID))-before[2]).To(Equal(0), "cached: not read")
		Expect(store.Reads(aggregate.StreamName(ps[1].OrderID))-before[1]).To(Equal(1), "evicted by the first")
	})
})

func names(recorded []eventstore.RecordedEvent) []string {
	out := make([]string, len(recorded))
	for i, r := range recorded {
		out[i] = r.Type
	}
	return out
}
