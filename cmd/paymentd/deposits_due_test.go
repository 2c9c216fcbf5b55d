package main

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream"
	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/catalog"
	"github.com/paystream/paystream/commands"
	"github.com/paystream/paystream/eventstore/embedded"
	"github.com/paystream/paystream/eventstore/storetest"
	"github.com/paystream/paystream/projections"
	"github.com/paystream/paystream/projections/memory"
	"github.com/paystream/paystream/toss"
	"github.com/paystream/paystream/toss/tosssim"
)

// movableClock is a clock a spec moves forward, shared by paystream and the simulator.
type movableClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *movableClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *movableClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var _ = Describe("paymentd's recovery worker and virtual accounts", func() {
	It("checks the accounts past their due date as the read models list them, and reads no stream of one not due", func(ctx SpecContext) {
		clock := &movableClock{t: time.Now().UTC()}
		sim := tosssim.New(tosssim.Options{SecretKeys: []string{string(simulatorKey)}, Seed: 7, Now: clock.Now})
		srv := httptest.NewServer(sim)
		DeferCleanup(srv.Close)
		DeferCleanup(sim.Close)
		es := embedded.OpenMemory()
		DeferCleanup(es.Close)
		rm := memory.New()
		pctx, stopProjector := context.WithCancel(context.WithoutCancel(ctx))
		DeferCleanup(stopProjector)
		go func() { _ = projections.NewProjector(es, rm, projections.Options{}).Run(pctx) }()
		reads := storetest.CountReads(es)
		products, err := catalog.Parse(paystream.SampleCatalog)
		Expect(err).NotTo(HaveOccurred())
		log := slog.New(slog.NewTextHandler(GinkgoWriter, nil))
		svc := commands.New(commands.Config{Store: reads, PSP: toss.NewPSP(toss.NewClient(srv.URL, simulatorKey)), Catalog: products,
			Logger: log, Now: clock.Now})
		meta := commands.Meta{CorrelationID: "req-due", Actor: "spec"}
		waiting := func(dueIn time.Duration) string {
			GinkgoHelper()
			p, err := svc.Checkout(ctx, commands.CheckoutRequest{BuyerID: "buyer-1", Items: []commands.Item{{ProductID: "book-kia", Quantity: 1}}}, meta)
			Expect(err).NotTo(HaveOccurred())
			key, err := sim.CreateSessionFor(tosssim.SessionRequest{OrderID: p.OrderID, Amount: p.TotalAmount, Method: toss.MethodVirtualAccount, DueIn: dueIn})
			Expect(err).NotTo(HaveOccurred())
			p, err = svc.Confirm(ctx, commands.ConfirmRequest{OrderID: p.OrderID, PaymentKey: key, Amount: p.TotalAmount}, meta)
			Expect(err).NotTo(HaveOccurred())
			Expect(p.Status).To(Equal(aggregate.StatusWaitingForDeposit))
			return p.OrderID
		}
		soon, later, latest := waiting(time.Hour), waiting(24*time.Hour), waiting(72*time.Hour)
		Eventually(func() ([]string, error) {
			ids, _, err := rm.DepositsDue(ctx, clock.Now().Add(100*time.Hour), 0, "")
			return ids, err
		}).WithContext(ctx).Should(Equal([]string{soon, later, latest}), "projected with their due dates")

		clock.Advance(2 * time.Hour) // past soon's due date: Toss marks its account expired
		reads.Reset()
		workers := startWorkers(log, Config{Recovery: RecoveryConfig{Enabled: true, Interval: 20 * time.Millisecond,
			ExecutingTimeout: time.Minute}}, svc, commands.NewWebhookInbox(svc, 0, 0), rm)
		DeferCleanup(workers.stop)
		Eventually(func() (*aggregate.Outcome, error) {
			p, err := svc.Load(ctx, soon)
			return p.Outcome, err
		}).WithContext(ctx).Should(HaveField("Code", aggregate.CodeDepositExpired))
		Eventually(func() ([]string, error) {
			ids, _, err := rm.DepositsDue(ctx, clock.Now(), 0, "")
			return ids, err
		}).WithContext(ctx).Should(BeEmpty(), "the expiry reached the read model")
		Consistently(func() []int {
			return []int{reads.Reads(aggregate.StreamName(later)), reads.Reads(aggregate.StreamName(latest))}
		}).WithContext(ctx).
			WithTimeout(200*time.Millisecond).Should(Equal([]int{0, 0}), "scans read no stream of an account not due")

		clock.Advance(24 * time.Hour) // later's turn; latest waits on
		Eventually(func() (aggregate.Status, error) {
			p, err := svc.Load(ctx, later)
			return p.Status, err
		}).WithContext(ctx).Should(Equal(aggregate.StatusFailure))
		p, err := svc.Load(ctx, latest)
		Expect(err).NotTo(HaveOccurred())
		Expect(p.Status).To(Equal(aggregate.StatusWaitingForDeposit))
	})
})
