package commands_test

import (
	"net/http/httptest"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream"
	"github.com/paystream/paystream/catalog"
	"github.com/paystream/paystream/commands"
	"github.com/paystream/paystream/eventstore/embedded"
	"github.com/paystream/paystream/toss"
	"github.com/paystream/paystream/toss/tosssim"
)

// observed records what an Observer is told.
type observed struct {
	mu        sync.Mutex
	confirms  []string
	requests  []string
	durations []time.Duration
}

func (o *observed) Confirmed(outcome string, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.confirms, o.durations = append(o.confirms, outcome), append(o.durations, d)
}

func (o *observed) PSPRequested(operation, outcome string, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.requests, o.durations = append(o.requests, operation+" "+outcome), append(o.durations, d)
}

var _ = Describe("Observer", func() {
	It("is told each confirm's and each PSP request's outcome and duration", func(ctx SpecContext) {
		sim := tosssim.New(tosssim.Options{SecretKeys: []string{simKey}, Seed: 7})
		srv := httptest.NewServer(sim)
		DeferCleanup(srv.Close)
		store := embedded.OpenMemory()
		DeferCleanup(store.Close)
		products, err := catalog.Parse(paystream.SampleCatalog)
		Expect(err).NotTo(HaveOccurred())
		obs := &observed{}
		svc := commands.New(commands.Config{Store: store, PSP: toss.NewPSP(toss.NewClient(srv.URL, simKey)), Catalog: products,
			Observer: obs})
		meta := commands.Meta{Actor: "spec"}

		p, err := svc.Checkout(ctx, commands.CheckoutRequest{BuyerID: "buyer-1", Items: []commands.Item{{ProductID: "book-kia", Quantity: 1}}}, meta)
		Expect(err).NotTo(HaveOccurred())
		key, err := sim.CreateSession(p.OrderID, p.TotalAmount)
		Expect(err).NotTo(HaveOccurred())
		_, err = svc.Confirm(ctx, commands.ConfirmRequest{OrderID: p.OrderID, PaymentKey: key, Amount: p.TotalAmount}, meta)
		Expect(err).NotTo(HaveOccurred())
		_, err = svc.Confirm(ctx, commands.ConfirmRequest{OrderID: p.OrderID, PaymentKey: key, Amount: p.TotalAmount}, meta)
		Expect(err).NotTo(HaveOccurred(), "answered as recorded, without the PSP")
		_, err = svc.Cancel(ctx, commands.CancelRequest{OrderID: p.OrderID, Reason: "changed mind"}, meta)
		Expect(err).NotTo(HaveOccurred())

		obs.mu.Lock()
		defer obs.mu.Unlock()
		Expect(obs.confirms).To(Equal([]string{"SUCCESS"}))
		Expect(obs.requests).To(Equal([]string{"confirm SUCCESS", "cancel SUCCESS"}))
		for _, d := range obs.durations {
			Expect(d).To(BeNumerically(">", 0))
		}
	})
})
