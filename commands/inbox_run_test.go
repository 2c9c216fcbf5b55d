package commands_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream"
	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/catalog"
	"github.com/paystream/paystream/commands"
	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/eventstore/embedded"
)

// stallingStore answers reads of payment streams only when the caller gives up (once
// stalling is set), failing with the caller's context error, as a store does when its
// caller goes away.
type stallingStore struct {
	*embedded.Store
	stalling atomic.Bool
	entered  chan struct{}
}

func (s *stallingStore) ReadStream(ctx context.Context, stream string) ([]eventstore.RecordedEvent, error) {
	if _, payment := aggregate.OrderIDOf(stream); !payment || !s.stalling.Load() {
		return s.Store.ReadStream(ctx, stream)
	}
	select {
	case s.entered <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

var _ = Describe("the webhook inbox's worker", func() {
	It("stops when its context ends, even in the middle of working a webhook off", func(ctx SpecContext) {
		store := &stallingStore{Store: embedded.OpenMemory(), entered: make(chan struct{}, 1)}
		DeferCleanup(store.Close)
		products, err := catalog.Parse(paystream.SampleCatalog)
		Expect(err).NotTo(HaveOccurred())
		psp := &virtualAccountPSP{due: time.Now().Add(time.Hour), status: map[string]string{}}
		svc := commands.New(commands.Config{Store: store, PSP: psp, Catalog: products,
			DepositSecretKey: []byte("0123456789abcdef0123456789abcdef"),
			Logger:           slog.New(slog.DiscardHandler), Retry: commands.Retry{AttemptTimeout: time.Minute}})
		meta := commands.Meta{Actor: "spec"}
		p, err := svc.Checkout(ctx, commands.CheckoutRequest{BuyerID: "b", Items: []commands.Item{{ProductID: "book-kia", Quantity: 1}}}, meta)
		Expect(err).NotTo(HaveOccurred())
		p, err = svc.Confirm(ctx, commands.ConfirmRequest{OrderID: p.OrderID, PaymentKey: "pk_" + p.OrderID, Amount: p.TotalAmount}, meta)
		Expect(err).NotTo(HaveOccurred())
		Expect(p.Status).To(Equal(aggregate.StatusWaitingForDeposit))

		in := commands.NewWebhookInbox(svc, 0, 0)
		Expect(in.Accept(ctx, commands.Webhook{TransmissionID: "tx-1", EventType: "PAYMENT_STATUS_CHANGED", OrderID: p.OrderID})).To(Succeed())
		store.stalling.Store(true)
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- in.Run(runCtx) }()
		Eventually(store.entered).Should(Receive(), "working the webhook off")
		stop()
		Eventually(done).WithTimeout(2 * time.Second).Should(Receive(MatchError(context.Canceled)))
		Expect(in.Backlog()).To(Equal(1), "not worked off: a restart works it off")
	})
})
