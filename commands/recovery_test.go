package commands_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

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

// knownPayments is a hand-written DueFinder: it folds the payments a spec created, as the
// read models would.
type knownPayments struct {
	svc *commands.Service
	mu  sync.Mutex
	ids []string
}

func (k *knownPayments) add(id string) { k.mu.Lock(); k.ids = append(k.ids, id); k.mu.Unlock() }

func (k *knownPayments) OpenForRecovery(ctx context.Context, executingBefore time.Time, limit int) ([]string, error) {
	k.mu.Lock()
	ids := append([]string(nil), k.ids...)
	k.mu.Unlock()
	var due []string
	for _, id := range ids {
		p, err := k.svc.Load(ctx, id)
		if err != nil {
			return nil, err
		}
		if p.Open(executingBefore) && len(due) < limit {
			due = append(due, id)
		}
	}
	return due, nil
}

func (k *knownPayments) StaleCheckouts(ctx context.Context, createdBefore time.Time, cursor string) ([]string, string, error) {
	k.mu.Lock()
	ids := append([]string(nil), k.ids...)
	k.mu.Unlock()
	var stale []string
	for _, id := range ids {
		p, err := k.svc.Load(ctx, id)
		if err != nil {
			return nil, "", err
		}
		if p.Status == aggregate.StatusNotStarted && p.CreatedAt.Before(createdBefore) {
			stale = append(stale, id)
		}
	}
	return stale, "", nil
}

// clock is a settable time for the service, so specs skip backoffs instead of sleeping.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

var _ = Describe("Recovery", func() {
	var (
		sim      *tosssim.Simulator
		simURL   string
		products *catalog.Catalog
		store    *embedded.Store
		clk      *clock
		newSvc   func() *commands.Service
		svc      *commands.Service
		known    *knownPayments
		meta     = commands.Meta{CorrelationID: "req-r", Actor: "spec"}
		lookups  atomic.Int64 // GET requests to the simulator: lookups of Toss's record
	)

	BeforeEach(func() {
		sim = tosssim.New(tosssim.Options{SecretKeys: []string{simKey}, Seed: 11})
		lookups.Store(0)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet {
				lookups.Add(1)
			}
			sim.ServeHTTP(w, r)
		}))
		DeferCleanup(srv.Close)
		simURL = srv.URL
		store = embedded.OpenMemory()
		DeferCleanup(store.Close)
		var err error
		products, err = catalog.Parse(paystream.SampleCatalog)
		Expect(err).NotTo(HaveOccurred())
		clk = &clock{}
		newSvc = func() *commands.Service {
			return commands.New(commands.Config{Store: store, PSP: toss.NewPSP(toss.NewClient(srv.URL, simKey)), Catalog: products,
				Logger: slog.New(slog.NewTextHandler(GinkgoWriter, nil)), Now: clk.Now, ConfirmTimeout: 400 * time.Millisecond,
				Retry:    commands.Retry{Base: time.Millisecond, Max: 5 * time.Millisecond, AttemptTimeout: 100 * time.Millisecond},
				Recovery: aggregate.RecoveryPolicy{ExecutingTimeout: time.Minute, Threshold: 3, BackoffBase: time.Second, BackoffMax: 4 * time.Second}})
		}
		svc = newSvc()
		known = &knownPayments{svc: svc}
	})

	// openPayments confirms n payments while the simulator misbehaves.
	openPayments := func(ctx context.Context, n int, faults tosssim.Faults) []commands.Payment {
		sim.SetFaults(faults)
		out := make([]commands.Payment, n)
		for i := range out {
			p, err := svc.Checkout(ctx, commands.CheckoutRequest{BuyerID: "b", Items: []commands.Item{{ProductID: "sticker-pack", Quantity: 1}}}, meta)
			Expect(err).NotTo(HaveOccurred())
			key, err := sim.CreateSession(p.OrderID, p.TotalAmount)
			Expect(err).NotTo(HaveOccurred())
			_, err = svc.Confirm(ctx, commands.ConfirmRequest{OrderID: p.OrderID, PaymentKey: key, Amount: p.TotalAmount}, meta)
			Expect(err).NotTo(HaveOccurred())
			known.add(p.OrderID)
			out[i] = p
		}
		sim.SetFaults(tosssim.Faults{})
		return out
	}

	// approvedButUnknown leaves a payment UNKNOWN that Toss approved: the confirm gives up
	// before Toss, working slowly, captures the money.
	approvedButUnknown := func(ctx context.Context) commands.Payment {
		svc = commands.New(commands.Config{Store: store, PSP: toss.NewPSP(toss.NewClient(simURL, simKey)), Catalog: products, Now: clk.Now,
			ConfirmTimeout: 50 * time.Millisecond, Retry: commands.Retry{AttemptTimeout: time.Second}})
		p := openPayments(ctx, 1, tosssim.Faults{LatencyMin: 150 * time.Millisecond, LatencyMax: 150 * time.Millisecond})[0]
		svc = newSvc()
		got, err := svc.Load(ctx, p.OrderID)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.Status).To(Equal(aggregate.StatusUnknown))
		Eventually(func() int { return sim.Approvals(p.OrderID) }).Should(Equal(1))
		return p
	}

	status := func(ctx context.Context, id string) aggregate.State {
		p, err := svc.Load(ctx, id)
		Expect(err).NotTo(HaveOccurred())
		return p.State
	}

	It("settles every payment as the simulator's record says, charging nobody twice", func(ctx SpecContext) {
		payments := openPayments(ctx, 30, tosssim.Faults{RateDropAfterApprove: 0.33, RateTimeout: 0.33})
		// The timeouts consumed retries; keep drops from hiding in retried successes.
		worker := commands.NewRecoveryWorker(svc, known, time.Millisecond, 100, 4)
		for range 4 {
			clk.Advance(5 * time.Second)
			worker.RunOnce(ctx)
		}
		for _, p := range payments {
			st := status(ctx, p.OrderID)
			Expect(sim.Approvals(p.OrderID)).To(BeNumerically("<=", 1))
			if sim.Approvals(p.OrderID) == 1 {
				Expect(st.Status).To(Equal(aggregate.StatusSuccess), p.OrderID)
			} else {
				Expect(st.Status).To(Equal(aggregate.StatusFailure), p.OrderID)
			}
		}
	})

	It("prefers Toss's record to a new confirm", func(ctx SpecContext) {
		p := approvedButUnknown(ctx)
		requests := sim.ConfirmRequests(p.OrderID)
		clk.Advance(5 * time.Second)
		r, got, err := svc.Recover(ctx, p.OrderID, meta)
		Expect(err).NotTo(HaveOccurred())
		Expect(r).To(Equal(commands.RecoverySettled))
		Expect(got.Status).To(Equal(aggregate.StatusSuccess))
		Expect(got.Outcome.Rule).To(Equal(toss.RuleLookupDone))
		Expect(sim.ConfirmRequests(p.OrderID)).To(Equal(requests), "no confirm was sent")
	})

	It("leaves a payment refunded at Toss to a person instead of booking it", func(ctx SpecContext) {
		p := approvedButUnknown(ctx)
		pay, ok := sim.Payment(p.OrderID)
		Expect(ok).To(BeTrue())
		_, err := toss.NewClient(simURL, simKey).Cancel(ctx, pay.PaymentKey, toss.CancelRequest{Reason: "refunded from the console"}, "cancel-1")
		Expect(err).NotTo(HaveOccurred())
		clk.Advance(5 * time.Second)
		_, got, err := svc.Recover(ctx, p.OrderID, meta)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.Status).To(Equal(aggregate.StatusUnknown), "never an approval for money that was returned")
		Expect(got.Outcome.Rule).To(Equal(toss.RuleLookupRefunded))
		Expect(got.OperatorAlert).To(BeTrue())
	})

	It("lets two instances claim each payment once per round", func(ctx SpecContext) {
		payments := openPayments(ctx, 20, tosssim.Faults{Rate5xx: 1})
		sim.SetFaults(tosssim.Faults{Rate5xx: 1}) // stays unknown, so attempts are visible
		other := newSvc()
		clk.Advance(5 * time.Second)
		var wg sync.WaitGroup
		for _, s := range []*commands.Service{svc, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer GinkgoRecover()
				commands.NewRecoveryWorker(s, known, time.Millisecond, 100, 4).RunOnce(ctx)
			}()
		}
		wg.Wait()
		for _, p := range payments {
			history, err := svc.Events(ctx, p.OrderID)
			Expect(err).NotTo(HaveOccurred())
			claims := 0
			for _, e := range history {
				if e.Type == aggregate.NameRecoveryAttempted {
					claims++
				}
			}
			Expect(claims).To(Equal(1), p.OrderID)
		}
	})

	It("escalates a payment Toss never answers for, and an operator resolves it on the record", func(ctx SpecContext) {
		p := openPayments(ctx, 1, tosssim.Faults{RateTimeout: 1})[0]
		sim.SetFaults(tosssim.Faults{RateTimeout: 1})
		var results []commands.RecoveryResult
		for range 6 {
			clk.Advance(10 * time.Second)
			r, _, err := svc.Recover(ctx, p.OrderID, meta)
			Expect(err).NotTo(HaveOccurred())
			results = append(results, r)
		}
		Expect(results).To(Equal([]commands.RecoveryResult{commands.RecoverySettled, commands.RecoverySettled,
			commands.RecoverySettled, commands.RecoveryEscalated, commands.RecoveryNotDue, commands.RecoveryNotDue}))
		st := status(ctx, p.OrderID)
		Expect(st.Escalated).To(BeTrue())
		Expect(st.FailedCount).To(Equal(3))
		Expect(svc.Signals().Escalations).To(BeEquivalentTo(1))
		Expect(svc.Signals().RecoveryAttempts).To(BeEquivalentTo(3))
		Expect(sim.Approvals(p.OrderID)).To(BeZero())

		sim.SetFaults(tosssim.Faults{})
		_, err := svc.Resolve(ctx, commands.Resolution{OrderID: p.OrderID, Resolution: aggregate.StatusSuccess,
			Actor: "ops:kim", Reason: "customer says it was charged"}, meta)
		Expect(err).To(MatchError(aggregate.ErrContradictsPSP), "Toss has no capture for it")

		got, err := svc.Resolve(ctx, commands.Resolution{OrderID: p.OrderID, Resolution: aggregate.StatusFailure,
			Actor: "ops:kim", Reason: "Toss shows the session unconfirmed; buyer will retry"}, meta)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.Status).To(Equal(aggregate.StatusFailure))
		history, err := svc.Events(ctx, p.OrderID)
		Expect(err).NotTo(HaveOccurred())
		last := history[len(history)-1]
		Expect(last.Type).To(Equal(aggregate.NameManuallyResolved))
		Expect(string(last.Data)).To(And(ContainSubstring(`"actor":"ops:kim"`), ContainSubstring("buyer will retry")))
	})

	Describe("Toss webhooks", func() {
		It("records only what the lookup says, never the hint, and never confirms", func(ctx SpecContext) {
			approved := approvedButUnknown(ctx)
			unpaid := openPayments(ctx, 1, tosssim.Faults{Rate5xx: 1})[0]
			requests := sim.ConfirmRequests(unpaid.OrderID)
			before, err := svc.Events(ctx, unpaid.OrderID)
			Expect(err).NotTo(HaveOccurred())

			did, err := svc.Reconcile(ctx, approved.OrderID, meta)
			Expect(err).NotTo(HaveOccurred())
			Expect(did).To(Equal("recorded SUCCESS"))
			Expect(status(ctx, approved.OrderID).Status).To(Equal(aggregate.StatusSuccess))

			did, err = svc.Reconcile(ctx, unpaid.OrderID, meta) // a forged "DONE" for a payment Toss never captured
			Expect(err).NotTo(HaveOccurred())
			Expect(did).To(Equal("lookup undecided"))
			after, err := svc.Events(ctx, unpaid.OrderID)
			Expect(err).NotTo(HaveOccurred())
			Expect(after).To(HaveLen(len(before)), "nothing recorded")
			Expect(sim.ConfirmRequests(unpaid.OrderID)).To(Equal(requests), "no confirm sent")
		})

		It("records a cancel made at Toss on a recorded SUCCESS as an external refund, once", func(ctx SpecContext) {
			p := openPayments(ctx, 1, tosssim.Faults{})[0]
			got, err := svc.Load(ctx, p.OrderID)
			Expect(err).NotTo(HaveOccurred())
			Expect(got.Status).To(Equal(aggregate.StatusSuccess))
			did, err := svc.Reconcile(ctx, p.OrderID, meta)
			Expect(err).NotTo(HaveOccurred())
			Expect(did).To(Equal("recorded 0 external refunds"))

			canceled, err := toss.NewClient(simURL, simKey).Cancel(ctx, got.PaymentKey, toss.CancelRequest{Reason: "buyer changed mind"}, "cancel-1")
			Expect(err).NotTo(HaveOccurred())
			did, err = svc.Reconcile(ctx, p.OrderID, meta)
			Expect(err).NotTo(HaveOccurred())
			Expect(did).To(Equal("recorded 1 external refunds"))
			got.State = status(ctx, p.OrderID)
			Expect(got.Status).To(Equal(aggregate.StatusCanceled), "Toss's record, looked up, not the hint")
			Expect(got.Refunds).To(HaveLen(1))
			Expect(got.Refunds[0].External).To(BeTrue())
			Expect(got.Refunds[0].FoundBy).To(Equal("webhook"))
			Expect(got.Refunds[0].TransactionKey).To(Equal(canceled.Cancels[0].TransactionKey))
			Expect(got.Refunds[0].Orders).NotTo(BeEmpty(), "a full cancel splits over the orders")
			Expect(got.BalanceAmount().IsZero()).To(BeTrue())

			did, err = svc.Reconcile(ctx, p.OrderID, meta)
			Expect(err).NotTo(HaveOccurred())
			Expect(did).To(Equal("recorded 0 external refunds"), "deduplicated by transactionKey")
		})

		It("looks Toss up for a hint of a change, not for one that repeats the recorded approval", func(ctx SpecContext) {
			p := openPayments(ctx, 1, tosssim.Faults{})[0]
			hint := func(status string) commands.WebhookReceived {
				return commands.WebhookReceived{TransmissionID: "wh-" + status, EventType: "PAYMENT_STATUS_CHANGED", OrderID: p.OrderID, Status: status}
			}
			before := lookups.Load()
			did, err := svc.ReconcileWebhook(ctx, hint("DONE"), meta)
			Expect(err).NotTo(HaveOccurred())
			Expect(did).To(Equal("already recorded: the hint repeats it"))
			Expect(lookups.Load()).To(Equal(before), "no lookup")

			got, err := svc.Load(ctx, p.OrderID)
			Expect(err).NotTo(HaveOccurred())
			_, err = toss.NewClient(simURL, simKey).Cancel(ctx, got.PaymentKey, toss.CancelRequest{Reason: "refunded from the console"}, "cancel-1")
			Expect(err).NotTo(HaveOccurred())
			did, err = svc.ReconcileWebhook(ctx, hint("CANCELED"), meta)
			Expect(err).NotTo(HaveOccurred())
			Expect(did).To(Equal("recorded 1 external refunds"))
			Expect(lookups.Load()).To(BeNumerically(">", before))
			Expect(status(ctx, p.OrderID).Status).To(Equal(aggregate.StatusCanceled))

			// A DONE that arrives late, or forged, for a payment no longer SUCCESS is looked up.
			before = lookups.Load()
			did, err = svc.ReconcileWebhook(ctx, hint("DONE"), meta)
			Expect(err).NotTo(HaveOccurred())
			Expect(did).To(Equal("recorded 0 external refunds"))
			Expect(lookups.Load()).To(BeNumerically(">", before))
		})

		It("drops duplicated transmissions", func(ctx SpecContext) {
			p := openPayments(ctx, 1, tosssim.Faults{Rate5xx: 1})[0]
			inbox := commands.NewWebhookInbox(svc, 1, 100)
			hint := func(id string) commands.Webhook {
				return commands.Webhook{TransmissionID: id, EventType: "other", OrderID: p.OrderID}
			}
			Expect(inbox.Accept(ctx, hint("wh-1"))).To(Succeed())
			Expect(inbox.Accept(ctx, hint("wh-1"))).To(Succeed(), "a duplicate is accepted")
			Expect(inbox.Accept(ctx, hint("wh-2"))).To(MatchError(commands.ErrInboxFull), "and dropped: the queue of one holds only wh-1")
		})
	})

	Describe("expiry", func() {
		It("records a checkout never confirmed in Toss's window as expired, and refuses its confirm", func(ctx SpecContext) {
			p, err := svc.Checkout(ctx, commands.CheckoutRequest{BuyerID: "b", Items: []commands.Item{{ProductID: "sticker-pack", Quantity: 1}}}, meta)
			Expect(err).NotTo(HaveOccurred())
			key, err := sim.CreateSession(p.OrderID, p.TotalAmount)
			Expect(err).NotTo(HaveOccurred())
			clk.Advance(41 * time.Minute)
			_, err = svc.Confirm(ctx, commands.ConfirmRequest{OrderID: p.OrderID, PaymentKey: key, Amount: p.TotalAmount}, meta)
			Expect(err).To(MatchError(aggregate.ErrExpired))
			st := status(ctx, p.OrderID)
			Expect(st.Expired).To(BeTrue())
			Expect(st.Status).To(Equal(aggregate.StatusFailure))
			Expect(sim.ConfirmRequests(p.OrderID)).To(BeZero())
			_, err = svc.Confirm(ctx, commands.ConfirmRequest{OrderID: p.OrderID, PaymentKey: key, Amount: p.TotalAmount}, meta)
			Expect(err).To(MatchError(aggregate.ErrExpired), "and again")
		})

		It("is also swept by the recovery worker, sparing checkouts that were sent to Toss", func(ctx SpecContext) {
			var fresh, sent commands.Payment
			for _, p := range []*commands.Payment{&fresh, &sent} {
				var err error
				*p, err = svc.Checkout(ctx, commands.CheckoutRequest{BuyerID: "b", Items: []commands.Item{{ProductID: "sticker-pack", Quantity: 1}}}, meta)
				Expect(err).NotTo(HaveOccurred())
				known.add(p.OrderID)
			}
			key, err := sim.CreateSession(sent.OrderID, sent.TotalAmount)
			Expect(err).NotTo(HaveOccurred())
			// a bad key aborts the execution: NOT_STARTED again, but Toss has seen the confirm
			bad := commands.New(commands.Config{Store: store, PSP: toss.NewPSP(toss.NewClient(simURL, "test_sk_wrong")), Catalog: products, Now: clk.Now})
			_, err = bad.Confirm(ctx, commands.ConfirmRequest{OrderID: sent.OrderID, PaymentKey: key, Amount: sent.TotalAmount}, meta)
			Expect(err).To(MatchError(commands.ErrPSPUnavailable))

			clk.Advance(41 * time.Minute)
			commands.NewRecoveryWorker(svc, known, time.Millisecond, 10, 1).WithExpiry(known).RunOnce(ctx)
			Expect(status(ctx, fresh.OrderID).Expired).To(BeTrue())
			Expect(status(ctx, sent.OrderID).Expired).To(BeFalse())
			Expect(status(ctx, sent.OrderID).Status).To(Equal(aggregate.StatusNotStarted))
		})
	})
})
